"""HTTP mode: a tiny WSGI app in front of Bolt's handler, adding `GET /healthz`.

Everything Slack sends arrives at `POST /slack/events`, where Bolt verifies the signature and
its age; `/healthz` answers JSON about the database and the sender, nothing secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

Health = Callable[[], tuple[bool, dict[str, Any]]]


class SlackWsgi:
    """Routes `GET /healthz` to `health()`, everything else to Bolt's WSGI handler."""

    def __init__(self, app: App, health: Health) -> None:
        self._slack = SlackRequestHandler(app, path=EVENTS_PATH)
        self._health = health

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            healthy, report = self._health()
            body = json.dumps(report, default=str).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(
                status,
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [body]
        return self._slack(environ, start_response)
