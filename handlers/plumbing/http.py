"""HTTP mode: a WSGI app in front of Bolt's handler, adding `/healthz`, `/metrics` and pushes.

Everything Slack sends arrives at `POST /slack/events`, where Bolt verifies the signature and
its age; `/healthz` answers JSON about the database and the sender, nothing secret; `/metrics`
the Prometheus text format (counts and ages only, nothing secret). With a push
secret, `GET /eapi/push/<kind>` takes what BulkSMS pushes (delivery reports, replies): a
missing or wrong `pass` is answered 403 and reaches no handler; an accepted push is answered
200 with a non-empty body (BulkSMS repeats a push whose answer is empty or not 200).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

PUSH_PREFIX = "/eapi/push/"
MAX_PUSH_QUERY = 8192  # characters: a pushed reply is one SMS, a report a few fields

Health = Callable[[], tuple[bool, dict[str, Any]]]
Metrics = Callable[[], tuple[bytes, str]]
"""One Prometheus scrape: the exposition text and its content type (bot.cli.metrics)."""
METRICS_PATH = "/metrics"
PushHandler = Callable[[Mapping[str, str]], None]
"""Applies one push (its query parameters, `pass` removed); raises `ValueError` when malformed."""


@dataclass(frozen=True, slots=True)
class PushRoutes:
    """The push secret and a handler per kind (`report`, `reply`): `GET /eapi/push/<kind>`."""

    secret: str
    handlers: Mapping[str, PushHandler] = field(default_factory=dict)


class SlackWsgi:
    """Routes `/healthz` and pushes to their handlers, everything else to Bolt's WSGI handler."""

    def __init__(
        self,
        app: App,
        health: Health,
        *,
        push: PushRoutes | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._slack = SlackRequestHandler(app, path=EVENTS_PATH)
        self._health = health
        self._push = push
        self._metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        path = environ.get("PATH_INFO", "")
        reading = environ.get("REQUEST_METHOD") in ("GET", "HEAD")
        if path == HEALTH_PATH and reading:
            healthy, report = self._health()
            body = json.dumps(report, default=str).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            return _answer(start_response, status, body, "application/json")
        if path == METRICS_PATH and reading and self._metrics is not None:
            body, kind = self._metrics()
            return _answer(start_response, "200 OK", body, kind)
        if self._push is not None and path.startswith(PUSH_PREFIX) and reading:
            return self._serve_push(path[len(PUSH_PREFIX) :], environ, start_response)
        return self._slack(environ, start_response)

    def _serve_push(
        self, kind: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        assert self._push is not None
        handler = self._push.handlers.get(kind)
        if handler is None:
            return _answer(start_response, "404 Not Found", b"no such push route\n")
        query = environ.get("QUERY_STRING", "")
        params = dict(parse_qsl(query[:MAX_PUSH_QUERY], keep_blank_values=True))
        given = params.pop("pass", "")
        if not hmac.compare_digest(given.encode(), self._push.secret.encode()):
            logger.warning("push to %s refused: missing or wrong pass", kind)
            return _answer(start_response, "403 Forbidden", b"forbidden\n")
        try:
            handler(params)
        except ValueError as exc:
            logger.warning("push to %s refused: %s", kind, exc)
            return _answer(start_response, "400 Bad Request", f"{exc}\n".encode())
        return _answer(start_response, "200 OK", b"OK\n")


def _answer(
    start_response: StartResponse, status: str, body: bytes, kind: str = "text/plain"
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]
