"""A local stand-in for the BulkSMS EAPI over real HTTP; it never sends an SMS.

`SimulatorServer` serves under `/eapi` on its own socket (127.0.0.1 by default, port 0 picks a
free one): send_batch, get_credits, quote_sms and get_report (`bot.eapi.simulator.state` holds
what they do) by POST, and by GET as the real EAPI does (eapi-send-batch.txt's own example is a
GET a browser can open; it asks for POST in production, so a GET is logged as a warning and
recorded with its method); any other method gets 405. HTTP/1.1 with Content-Length, so a client's
kept-alive connection is reused, and a thread per connection, so that a client sending two
requests at once is seen: `max_in_flight` counts them and a warning is logged. A request stops
counting as in flight once its client has hung up (e.g. gave up on a held `timeout` answer).

Replies: `add_reply` (or `POST /admin/inbox` with form fields `sender`, `message` and optionally
`referring_batch_id` and `msisdn`, answered with the new msg_id) puts a reply in the simulated
inbox that get_inbox then returns; with `reply_push_url`, the reply is also pushed there by GET,
as BulkSMS's reply push does (`bot.eapi.simulator.inbox.push_params`).

Counters for tests and benchmarks: `requests` (every request, password removed), `processed`
(submissions that took effect), `tested` (test_always_succeed submissions), `connections_opened`,
`max_in_flight`, `credits`. With `push_url`, a `ReportPusher` pushes delivery reports there.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import urlopen

from bot.eapi.simulator.delivery import DeliveryModel
from bot.eapi.simulator.inbox import InboxRow, push_params
from bot.eapi.simulator.pusher import ReportPusher
from bot.eapi.simulator.state import (
    REPORT_HEADER,
    EapiSimulator,
    Reply,
    RequestRecord,
    Submission,
    parse_script,
)

__all__ = ["RequestRecord", "SimulatorServer", "Submission", "parse_script"]

logger = logging.getLogger(__name__)

PREFIX = "/eapi"
ADMIN_INBOX = "/admin/inbox"  # the simulator's own path: inject a reply (not part of the EAPI)
MAX_BODY = 64 * 1024 * 1024  # 30,000 long 16-bit messages stay well below this
IDLE_SECONDS = 120.0  # a kept-alive connection idle this long is closed
_POLL = 0.02


class _Handler(BaseHTTPRequestHandler):
    """One connection: POST and GET go to the simulator, every other method gets 405."""

    protocol_version = "HTTP/1.1"
    server_version = "smsbatch-eapi-simulator"
    timeout = IDLE_SECONDS
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._closed(self.connection)

    def do_POST(self) -> None:
        self.server.owner._serve(self)

    def do_GET(self) -> None:
        logger.warning("GET %s: the EAPI asks clients to use POST", urlsplit(self.path).path)
        self.server.owner._serve(self)

    def _refuse(self) -> None:
        logger.info("%s %s -> HTTP 405 (POST or GET)", self.command, urlsplit(self.path).path)
        self.server.owner._answer(
            self, 405, "only POST (or GET) is served\n", {"Allow": "POST, GET"}
        )

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's own lines may hold a query string; keep only what precedes it.
        logger.debug("http: %s", (format % args).split("?")[0])


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: SimulatorServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


def _client_gone(sock: socket.socket) -> bool:
    """True when the peer has closed the connection (readable, and reading would give EOF)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # closed or reset underneath us: gone
        return True


class SimulatorServer:
    """The EAPI simulator on a real socket; `start()` serves from a daemon thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str | None = None,
        password: str | None = None,
        credits: Decimal | int | str = Decimal(10000),
        script: str | Iterable[str] = (),
        latency: float = 0.0,
        fault_rate: float = 0.0,
        hang_seconds: float = 30.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        dedup_seconds: float = 12 * 3600.0,
        delivery: DeliveryModel | None = None,
        report_script: str | Iterable[str] = (),
        report_header: str = REPORT_HEADER,
        push_url: str | None = None,
        push_interval: float = 0.2,
        push_repeat: bool = False,
        reply_push_url: str | None = None,
    ) -> None:
        self.reply_push_url = reply_push_url
        self.state = EapiSimulator(
            username=username,
            password=password,
            credits=credits,
            script=script,
            fault_rate=fault_rate,
            seed=seed,
            clock=clock,
            dedup_seconds=dedup_seconds,
            delivery=delivery,
            report_script=report_script,
            report_header=report_header,
        )
        self.pusher = (
            None
            if push_url is None
            else ReportPusher(self.state, push_url, interval=push_interval, repeat=push_repeat)
        )
        self.latency = latency
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_opened = 0
        self._in_flight: set[int] = set()
        self._waiting: dict[int, socket.socket] = {}
        self._max_in_flight = 0
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._httpd = _HttpServer((host, port), self)
        address = self._httpd.server_address
        self.host, self.port = str(address[0]), int(address[1])

    @property
    def url(self) -> str:
        """The base to give a client, e.g. `http://127.0.0.1:8025/eapi`."""
        return f"http://{self.host}:{self.port}{PREFIX}"

    def start(self) -> Self:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(_POLL * 5,), name="eapi-simulator", daemon=True
        )
        self._thread.start()
        if self.pusher is not None:
            self.pusher.start()
        return self

    def stop(self) -> None:
        """Stop serving, end held requests and close every connection."""
        self._stopping.set()
        if self.pusher is not None:
            self.pusher.stop()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start() if self._thread is None else self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def set_script(self, script: str | Iterable[str]) -> None:
        """Replace the faults still to come, e.g. `"40,503,timeout,0"`."""
        tokens = list(parse_script(script))
        with self.state.lock:
            self.state.script = tokens

    def set_report_script(self, script: str | Iterable[str]) -> None:
        """Replace the faults still to come for get_report, e.g. `"40,garbage,0"`."""
        tokens = list(parse_script(script))
        with self.state.lock:
            self.state.report_script = tokens

    def report_codes(self, batch_id: int, at: float | None = None) -> list[int | None]:
        """Each message's report code now (or at `at`) in submission order; None: none yet."""
        with self.state.lock:
            return self.state.report_codes(batch_id, at)

    def set_credits(self, credits: Decimal | int | str) -> None:
        """Set the account's balance."""
        with self.state.lock:
            self.state.credits = Decimal(credits)

    def add_reply(
        self, sender: str, text: str, *, referring_batch_id: int = 0, msisdn: str | None = None
    ) -> InboxRow:
        """Receive a reply in the simulated inbox (and push it, with `reply_push_url`)."""
        with self.state.lock:
            extra = {} if msisdn is None else {"msisdn": msisdn}
            row = self.state.inbox.add(
                sender, text, referring_batch_id=referring_batch_id, at=self.state.clock(), **extra
            )
        if self.reply_push_url:
            self._push(row)
        return row

    def _push(self, row: InboxRow) -> None:
        """GET the push URL with the reply's fields; a failure is logged (BulkSMS would retry)."""
        assert self.reply_push_url is not None
        joiner = "&" if "?" in self.reply_push_url else "?"
        url = self.reply_push_url + joiner + urlencode(push_params(row))
        try:
            with urlopen(url, timeout=10) as answer:  # noqa: S310 - an operator-given http URL
                logger.info("reply %s pushed: HTTP %s", row.msg_id, answer.status)
        except OSError as exc:  # HTTPError too
            logger.warning("reply %s push failed: %s", row.msg_id, exc)

    @property
    def inbox(self) -> list[InboxRow]:
        """Every reply in the simulated inbox, in msg_id order."""
        with self.state.lock:
            return list(self.state.inbox.rows)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far (password removed), in arrival order."""
        with self.state.lock:
            return list(self.state.requests)

    @property
    def processed(self) -> list[Submission]:
        """Every submission that took effect, in order."""
        with self.state.lock:
            return list(self.state.processed)

    @property
    def tested(self) -> list[Submission]:
        """Every test_always_succeed submission (validated, nothing sent)."""
        with self.state.lock:
            return list(self.state.tested)

    @property
    def credits(self) -> Decimal:
        """The account's balance now."""
        with self.state.lock:
            return self.state.credits

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections_opened

    @property
    def max_in_flight(self) -> int:
        """The most requests that were in flight at the same moment."""
        with self._lock:
            return self._max_in_flight

    # ---- called from handler threads ---------------------------------------------------------

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            self._connections_opened += 1

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _begin(self) -> int:
        """Count a request in flight (after forgetting held ones whose client left)."""
        with self._lock:
            for token, conn in list(self._waiting.items()):
                if _client_gone(conn):
                    self._in_flight.discard(token)
            token = next(self._tokens)
            self._in_flight.add(token)
            count = len(self._in_flight)
            self._max_in_flight = max(self._max_in_flight, count)
        if count > 1:
            logger.warning(
                "%d requests in flight at once: the EAPI asks clients for one at a time", count
            )
        return token

    def _end(self, token: int) -> None:
        with self._lock:
            self._in_flight.discard(token)
            self._waiting.pop(token, None)

    def _wait(self, token: int, conn: socket.socket, seconds: float) -> None:
        """Hold a request for `seconds`, or until its client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        with self._lock:
            self._waiting[token] = conn
        try:
            while (left := deadline - time.monotonic()) > 0:
                if self._stopping.wait(min(_POLL, left)) or _client_gone(conn):
                    break
        finally:
            with self._lock:
                self._waiting.pop(token, None)
                if _client_gone(conn):
                    self._in_flight.discard(token)

    def _params(self, handler: _Handler, query: str) -> dict[str, str] | None:
        """Query and form fields, both read as ISO-8859-1; None when the body is too large."""
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        body = handler.rfile.read(length) if length > 0 else b""
        fields = parse_qsl(query, keep_blank_values=True, encoding="iso-8859-1")
        kind = handler.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            text = body.decode("ascii", errors="replace")
            fields += parse_qsl(text, keep_blank_values=True, encoding="iso-8859-1")
        return dict(fields)

    def _serve(self, handler: _Handler) -> None:
        """Answer one POST or GET: parse, hold for the latency, let the simulator decide, reply."""
        target = urlsplit(handler.path)
        params = self._params(handler, target.query)
        if params is None:
            handler.close_connection = True
            self._answer(handler, 413, f"a request body is limited to {MAX_BODY} bytes\n")
            return
        if target.path == ADMIN_INBOX and handler.command == "POST":
            self._inject(handler, params)
            return
        if not target.path.startswith(PREFIX + "/"):
            self._answer(handler, 404, f"the EAPI is served under {PREFIX}/\n")
            return
        token = self._begin()
        try:
            if self.latency > 0:
                self._wait(token, handler.connection, self.latency)
            reply = self.state.handle(target.path.removeprefix(PREFIX), params)
            self.state.record(target.path, params, reply, method=handler.command)
            self._log(handler.command, target.path, params, reply)
            if reply.hang:
                self._wait(token, handler.connection, self.hang_seconds)
            if reply.hang or reply.drop:
                handler.close_connection = True
                return
            self._answer(handler, reply.http_status, reply.body)
        finally:
            self._end(token)

    def _inject(self, handler: _Handler, params: dict[str, str]) -> None:
        """`POST /admin/inbox`: a reply into the inbox; 400 naming what is missing or wrong."""
        sender, text = params.get("sender", "").strip(), params.get("message")
        referring = params.get("referring_batch_id", "0").strip() or "0"
        if not sender.isdigit() or text is None or not referring.isdigit():
            problem = "sender (digits), message and an optional numeric referring_batch_id"
            self._answer(handler, 400, f"{ADMIN_INBOX} needs {problem}\n")
            return
        row = self.add_reply(
            sender, text, referring_batch_id=int(referring), msisdn=params.get("msisdn") or None
        )
        self._answer(handler, 200, f"{row.msg_id}\n")

    def _log(self, method: str, path: str, params: dict[str, str], reply: Reply) -> None:
        """One line per request: never the password, never the message texts."""
        answer = "held, no answer" if reply.hang else "dropped" if reply.drop else reply.body
        logger.info(
            "%s %s user=%s stop_dup_id=%s -> HTTP %s %r%s",
            method,
            path,
            params.get("username", ""),
            params.get("stop_dup_id", "-"),
            reply.http_status,
            answer.strip(),
            f" (fault {reply.fault})" if reply.fault else "",
        )

    def _answer(
        self, handler: _Handler, status: int, body: str, headers: dict[str, str] | None = None
    ) -> None:
        data = body.encode("iso-8859-1", errors="replace")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain; charset=ISO-8859-1")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError as exc:  # the client left before its answer: nothing to answer
            handler.close_connection = True
            logger.info("answer not delivered: the client closed the connection (%s)", exc)

    def serve_until(self, stop: threading.Event) -> None:
        """Serve until `stop` is set (the command line's SIGINT/SIGTERM), then stop."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
