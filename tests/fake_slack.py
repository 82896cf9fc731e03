"""A threaded fake of the Slack Web API and file server on 127.0.0.1, for scenario tests.

It answers the methods the app calls, records every request (path, parsed body, headers), checks
every message and view against the Block Kit limits, serves uploaded files only to the right
bearer token (anyone else gets Slack's 200 HTML login page), and can answer one call with
429 + Retry-After. Point `WebClient(base_url=fake.api_url)` at it. `apps.connections.open`
(Socket Mode) takes the app-level token, as on Slack, and answers `socket_url`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from handlers.builders.blockcheck import check_message, check_view

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})  # these take the xapp- token
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str  # HTTP method
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes
    answer: dict[str, Any] = field(default_factory=dict)  # what the fake replied (API calls)

    @property
    def api(self) -> str:
        """The Web API method name (`chat.postMessage`), or the path for non-API requests."""
        return self.path.removeprefix("/api/")

    def blocks(self) -> list[dict[str, Any]]:
        """The blocks of a message call, parsed when they came as a JSON string."""
        blocks = self.body.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


@dataclass
class FakeFile:
    """A file the fake serves at `/files-pri/...`."""

    id: str
    name: str
    content: bytes
    filetype: str = "csv"
    content_type: str = "text/csv"
    user: str = "UPREPARER"
    connect_stub: bool = False  # message events carry only a Slack Connect stub for it


@dataclass
class FakeSlack:
    """State and helpers of the fake; `start()` serves it on an ephemeral port."""

    token: str = "xoxb-test_token"
    file_token: str | None = None  # the token downloads need, when not `token`
    app_token: str = "xapp-1-A0APP-1-test_app_token"  # what apps.connections.open needs
    socket_url: str = ""  # the ws:// URL apps.connections.open hands out
    requests: list[Recorded] = field(default_factory=list)
    files: dict[str, FakeFile] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # users.info: user -> profile
    uploads: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # Block Kit limit violations seen
    rate_limit_once: set[str] = field(default_factory=set)
    fail_once: dict[str, str] = field(default_factory=dict)  # api -> Slack error code
    bare_ok: set[str] = field(default_factory=set)  # apis answered a bare {"ok": true}
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location (answered 302)
    url: str = ""
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        """The base URL to give WebClient / SLACK_API_URL."""
        return self.url + "/api/"

    def start(self) -> FakeSlack:
        """Serve in a daemon thread on 127.0.0.1 with an ephemeral port."""
        fake = self

        class Handler(_Handler):
            state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def add_file(self, name: str, content: bytes, **kwargs: Any) -> FakeFile:
        """Register a file the app may download; returns it (its id is F + a number)."""
        with self._lock:
            file = FakeFile(id=f"F{len(self.files) + 1:04d}", name=name, content=content, **kwargs)
            self.files[file.id] = file
        return file

    def file_object(self, file: FakeFile) -> dict[str, Any]:
        """The file object Slack puts in events and files.info answers."""
        if file.connect_stub:
            return {"id": file.id, "mode": "file_access", "file_access": "check_file_info"}
        return self.full_file_object(file)

    def full_file_object(self, file: FakeFile) -> dict[str, Any]:
        """The complete file object (what files.info returns)."""
        return {
            "id": file.id,
            "name": file.name,
            "title": file.name,
            "filetype": file.filetype,
            "mimetype": file.content_type,
            "size": len(file.content),
            "user": file.user,
            "url_private": f"{self.url}/files-pri/{TEAM}-{file.id}/{file.name}",
            "url_private_download": f"{self.url}/files-pri/{TEAM}-{file.id}/download/{file.name}",
        }

    def file_share_event(
        self, file: FakeFile, *, channel: str, ts: str, **extra: Any
    ) -> dict[str, Any]:
        """The `message` event (subtype file_share) Slack sends for an upload of `file`."""
        return {
            "type": "message",
            "subtype": "file_share",
            "channel": channel,
            "channel_type": "channel",
            "user": file.user,
            "ts": ts,
            "text": "",
            "upload": True,
            "files": [self.file_object(file)],
            **extra,
        }

    @staticmethod
    def file_shared_event(file: FakeFile, *, channel: str, ts: str) -> dict[str, Any]:
        """The `file_shared` event Slack also sends for the same upload (ids only)."""
        return {
            "type": "file_shared",
            "channel_id": channel,
            "file_id": file.id,
            "user_id": file.user,
            "file": {"id": file.id},
            "event_ts": ts,
        }

    def token_for(self, api: str) -> str:
        """The bearer token one Web API method accepts (Socket Mode's takes the app token)."""
        return self.app_token if api in APP_TOKEN_METHODS else self.token

    def next_ts(self) -> str:
        """A fresh message timestamp."""
        with self._lock:
            return f"1700000000.{next(self._ts):06d}"

    def record(self, item: Recorded) -> None:
        """Remember one request (and any Block Kit problem it carries)."""
        with self._lock:
            self.requests.append(item)

    def calls(self, api: str) -> list[Recorded]:
        """Every recorded request to one API method or path, in order."""
        with self._lock:
            return [r for r in self.requests if r.api == api]

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Poll until `predicate()` is truthy and return it; fail the test on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_calls(self, api: str, count: int = 1, timeout: float = 5.0) -> list[Recorded]:
        """Wait until `api` was called at least `count` times; return those calls."""
        self.wait_for(lambda: len(self.calls(api)) >= count, timeout, f"{count} × {api}")
        return self.calls(api)


class _Handler(BaseHTTPRequestHandler):
    state: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def _parse(self, raw: bytes) -> dict[str, Any]:
        body: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query))
        kind = self.headers.get("Content-Type", "")
        if raw and kind.startswith("application/json"):
            body.update(json.loads(raw))
        elif raw and kind.startswith("application/x-www-form-urlencoded"):
            body.update(parse_qsl(raw.decode()))
        return body

    def _send(
        self, status: int, payload: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _json(self, payload: dict[str, Any], status: int = 200, **headers: str) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _receive(self) -> Recorded:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        item = Recorded(self.command, path, self._parse(raw), headers, raw)
        self.state.record(item)
        return item

    def do_GET(self) -> None:
        """Downloads and GET-style API calls."""
        item = self._receive()
        if item.path in self.state.redirects:
            self._send(302, b"", "text/plain", {"Location": self.state.redirects[item.path]})
        elif item.path.startswith("/files-pri/"):
            self._download(item)
        else:
            self._api(item)

    def do_POST(self) -> None:
        """API calls, file upload targets and the response_url sink."""
        item = self._receive()
        if item.path.startswith("/upload/"):
            self.state.uploads[item.path.rsplit("/", 1)[1]] = item.raw
            self._send(200, b"OK - " + str(len(item.raw)).encode(), "text/plain")
        elif item.path.startswith("/response/"):
            self._send(200, b"ok", "text/plain")
        else:
            self._api(item)

    def _download(self, item: Recorded) -> None:
        file_id = unquote(item.path).split("/")[2].split("-", 1)[1]
        file = self.state.files.get(file_id)
        token = self.state.file_token or self.state.token
        if item.headers.get("authorization") != f"Bearer {token}" or file is None:
            self._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
        else:
            self._send(200, file.content, file.content_type)

    def _api(self, item: Recorded) -> None:
        state = self.state
        if item.api in state.rate_limit_once:
            state.rate_limit_once.discard(item.api)
            self._json({"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "0"})
            return
        if item.headers.get("authorization") != f"Bearer {state.token_for(item.api)}":
            self._json({"ok": False, "error": "invalid_auth"})
            return
        if item.api in state.fail_once:
            self._json({"ok": False, "error": state.fail_once.pop(item.api)})
            return
        answer = None if item.api in state.bare_ok else _ANSWERS.get(item.api)
        item.answer = answer(state, item) if answer else {"ok": True}
        self._json(item.answer)


def _message(state: FakeSlack, item: Recorded) -> dict[str, Any]:
    text = item.body.get("text")
    for problem in check_message(text, item.blocks()):
        state.problems.append(f"{item.api}: {problem}")
    ts = item.body.get("ts") or state.next_ts()
    return {"ok": True, "channel": item.body.get("channel"), "ts": ts, "message": {"text": text}}


def _view(state: FakeSlack, item: Recorded) -> dict[str, Any]:
    view = item.body.get("view") or {}
    view = json.loads(view) if isinstance(view, str) else view
    for problem in check_view(view):
        state.problems.append(f"{item.api}: {problem}")
    return {"ok": True, "view": {"id": "V0001", **view}}


def _files_info(state: FakeSlack, item: Recorded) -> dict[str, Any]:
    file = state.files.get(item.body.get("file", ""))
    if file is None:
        return {"ok": False, "error": "file_not_found"}
    return {"ok": True, "file": state.full_file_object(file)}


def _upload_url(state: FakeSlack, item: Recorded) -> dict[str, Any]:
    file_id = f"FUP{len(state.uploads) + len(state.calls('files.getUploadURLExternal'))}"
    return {"ok": True, "upload_url": f"{state.url}/upload/{file_id}", "file_id": file_id}


def _complete(state: FakeSlack, item: Recorded) -> dict[str, Any]:
    files = json.loads(item.body.get("files", "[]"))
    return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}


def _group_users(state: FakeSlack, item: Recorded) -> dict[str, Any]:
    group = item.body.get("usergroup", "")
    if group not in state.groups:
        return {"ok": False, "error": "no_such_subteam"}
    return {"ok": True, "users": state.groups[group]}


def _user_info(state: FakeSlack, item: Recorded) -> dict[str, Any]:
    user = item.body.get("user", "")
    profile = {"real_name": user.lower(), "phone": "", **state.profiles.get(user, {})}
    return {"ok": True, "user": {"id": user, "team_id": TEAM, "profile": profile}}


_ANSWERS: dict[str, Callable[[FakeSlack, Recorded], dict[str, Any]]] = {
    "auth.test": lambda s, i: {
        "ok": True,
        "url": "https://example.slack.com/",
        "team": "Example",
        "team_id": TEAM,
        "user": "smsbatch",
        "user_id": BOT_USER,
        "bot_id": BOT_ID,
    },
    "chat.postMessage": _message,
    "chat.update": _message,
    "chat.postEphemeral": lambda s, i: {**_message(s, i), "message_ts": s.next_ts()},
    "views.open": _view,
    "views.update": _view,
    "files.info": _files_info,
    "files.getUploadURLExternal": _upload_url,
    "files.completeUploadExternal": _complete,
    "usergroups.users.list": _group_users,
    "users.info": _user_info,
    "views.publish": _view,
    "conversations.open": lambda s, i: {"ok": True, "channel": {"id": "D" + i.body["users"][1:]}},
    "apps.connections.open": lambda s, i: {"ok": True, "url": s.socket_url},
}


@contextmanager
def running_fake_slack(**kwargs: Any) -> Iterator[FakeSlack]:
    """A started fake for the duration of a `with` block."""
    fake = FakeSlack(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
