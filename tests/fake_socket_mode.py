"""A stand-in for Slack's Socket Mode WebSocket endpoint on 127.0.0.1, on the stdlib (RFC 6455).

It accepts WebSocket connections (handshake with Sec-WebSocket-Accept), greets each with Slack's
`hello` envelope, lets a test push envelopes (`slash_commands`, `interactive`, `events_api`) to
the newest connection as unmasked text frames, reads the client's masked frames, answers pings
with pongs and close frames with a close, and records every acknowledgement with the time it
arrived, so tests can hold the app to Slack's 3-second rule. Protocol mistakes the client makes
(an unmasked frame, a bad handshake) are collected in `problems` rather than raised in a thread.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE = 16_384
GOING_AWAY = 1001


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (servers never mask, RFC 6455 section 5.1)."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        return head + bytes([size]) + payload
    if size < 1 << 16:
        return head + bytes([126]) + struct.pack("!H", size) + payload
    return head + bytes([127]) + struct.pack("!Q", size) + payload


class ClosedError(Exception):
    """The peer closed the TCP connection."""


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ClosedError
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[bool, int, bool, bytes]:
    """(fin, opcode, masked, unmasked payload) of the next frame on `sock`."""
    first, second = _exactly(sock, 2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", _exactly(sock, 2))
    elif size == 127:
        (size,) = struct.unpack("!Q", _exactly(sock, 8))
    masked = bool(second & 0x80)
    mask = _exactly(sock, 4) if masked else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_exactly(sock, size)))
    return bool(first & 0x80), first & 0x0F, masked, payload


def hello(app_id: str = "A0APP") -> dict[str, Any]:
    """The envelope Slack sends first on every new Socket Mode connection."""
    return {
        "type": "hello",
        "num_connections": 1,
        "debug_info": {
            "host": "applink-fake",
            "build_number": 1,
            "approximate_connection_time": 3600,
        },
        "connection_info": {"app_id": app_id},
    }


@dataclass(frozen=True)
class Ack:
    """A text frame the app sent: an envelope acknowledgement, with when it arrived."""

    envelope_id: str | None
    payload: dict[str, Any] | None
    at: float  # time.monotonic()


class Link:
    """One accepted WebSocket connection."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path
        self.open = True
        self._send_lock = threading.Lock()

    def send(self, opcode: int, payload: bytes) -> None:
        """Write one frame; frames from different threads never interleave."""
        with self._send_lock:
            self.sock.sendall(encode_frame(opcode, payload))

    def shut(self) -> None:
        """Drop the TCP connection (wakes the reader thread)."""
        self.open = False
        with contextlib.suppress(OSError):  # the peer may already have gone
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@dataclass
class FakeSocketMode:
    """The endpoint: `url` goes into apps.connections.open; `push` sends envelopes."""

    links: list[Link] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    pushed: dict[str, float] = field(default_factory=dict)  # envelope_id -> when it was sent
    pongs: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: socket.socket | None = None

    def start(self) -> FakeSocketMode:
        """Listen on an ephemeral 127.0.0.1 port and accept connections in a daemon thread."""
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._server.getsockname()[1]}/link"
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        """Say "going away" on open connections and stop listening."""
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            if link.open:
                with contextlib.suppress(OSError):  # the app may already have closed it
                    link.send(OP_CLOSE, struct.pack("!H", GOING_AWAY))
                link.shut()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return  # stop() closed the listening socket
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            link = self._handshake(sock)
        except (OSError, ClosedError, ValueError) as exc:
            self._problem(f"handshake failed: {exc!r}")
            sock.close()
            return
        with self._lock:
            self.links.append(link)
        link.send(OP_TEXT, json.dumps(hello()).encode())
        try:
            self._read(link)
        except (OSError, ClosedError):
            pass  # the app disconnected (or stop() shut the socket): the link is over
        finally:
            link.open = False

    def _handshake(self, sock: socket.socket) -> Link:
        sock.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = sock.recv(1024)
            if not chunk or len(request) > MAX_HANDSHAKE:
                raise ValueError("the handshake request did not end")
            request += chunk
        line, *rest = request.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
        method, path, _ = line.split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in rest)}
        key = headers.get("sec-websocket-key", "")
        if (
            method != "GET"
            or headers.get("upgrade", "").lower() != "websocket"
            or "upgrade" not in headers.get("connection", "").lower()
            or headers.get("sec-websocket-version") != "13"
            or len(base64.b64decode(key, validate=True)) != 16
        ):
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            raise ValueError(f"not a WebSocket upgrade: {line!r} {headers!r}")
        reply = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
        )
        sock.sendall(reply.encode())
        sock.settimeout(None)  # from here the reader blocks until data, EOF or shut()
        return Link(sock, path)

    def _read(self, link: Link) -> None:
        message, kind = b"", OP_TEXT
        while link.open:
            fin, opcode, masked, payload = read_frame(link.sock)
            if not masked:
                self._problem(f"the client sent an unmasked frame (opcode {opcode})")
            if opcode == OP_PING:  # the client's keep-alive: Slack answers, or the client drops us
                link.send(OP_PONG, payload)
            elif opcode == OP_PONG:
                with self._lock:
                    self.pongs.append(payload)
            elif opcode == OP_CLOSE:
                link.send(OP_CLOSE, payload[:2])
                link.shut()
            elif opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                kind = opcode if opcode != OP_CONTINUATION else kind
                message += payload
                if fin:
                    self._received(kind, message)
                    message = b""

    def _received(self, kind: int, message: bytes) -> None:
        if kind != OP_TEXT:
            self._problem(f"the client sent a binary message: {message[:80]!r}")
            return
        try:
            body = json.loads(message)
        except ValueError:
            self._problem(f"the client sent text that is not JSON: {message[:80]!r}")
            return
        payload = body.get("payload") if isinstance(body.get("payload"), dict) else None
        with self._lock:
            self.acks.append(Ack(body.get("envelope_id"), payload, time.monotonic()))

    def _problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)

    def connected(self) -> bool:
        """True while at least one connection is open."""
        with self._lock:
            return any(link.open for link in self.links)

    def newest(self) -> Link:
        """The most recently opened connection that is still open."""
        with self._lock:
            return next(link for link in reversed(self.links) if link.open)

    def push(self, envelope: dict[str, Any]) -> None:
        """Send an envelope to the newest open connection and note when it left."""
        link = self.newest()
        if "envelope_id" in envelope:
            with self._lock:
                self.pushed[str(envelope["envelope_id"])] = time.monotonic()
        link.send(OP_TEXT, json.dumps(envelope).encode())

    def ping(self, payload: bytes) -> None:
        """Ping the newest connection (Slack does); its pong lands in `pongs`."""
        self.newest().send(OP_PING, payload)

    def acks_for(self, envelope_id: str) -> list[Ack]:
        """Every acknowledgement the app sent for one envelope."""
        with self._lock:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def ack_delay(self, envelope_id: str, timeout: float = 3.0) -> float:
        """Seconds from pushing an envelope to its first ack; fails past `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.acks_for(envelope_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        acks = self.acks_for(envelope_id)
        assert acks, f"envelope {envelope_id} was not acknowledged within {timeout} s"
        return acks[0].at - self.pushed[envelope_id]

    def unacked(self) -> list[str]:
        """Envelopes pushed that never got an ack."""
        with self._lock:
            done = {a.envelope_id for a in self.acks}
            return [e for e in self.pushed if e not in done]
