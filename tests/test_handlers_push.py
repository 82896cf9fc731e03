"""HTTP mode's push routes: the secret is checked before any handler sees a push."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
from slack_bolt import App

from handlers.plumbing.http import PushRoutes, SlackWsgi

SECRET = "push-secret-for-tests"


class Recorder:
    """A push handler that keeps what it was given; refuses a push without `msisdn`."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, str]] = []

    def __call__(self, params: Mapping[str, str]) -> None:
        if "msisdn" not in params:
            raise ValueError("msisdn is missing")
        self.pushes.append(dict(params))


def wsgi(recorder: Recorder, *, push: bool = True) -> SlackWsgi:
    """The real WSGI front around a Bolt app that never calls Slack."""
    app = App(token="xoxb-test", signing_secret="s", token_verification_enabled=False)
    routes = PushRoutes(SECRET, {"report": recorder}) if push else None
    return SlackWsgi(app, lambda: (True, {}), push=routes)


def get(front: SlackWsgi, path: str, query: dict[str, str]) -> tuple[str, bytes]:
    """One GET through the WSGI app: its status line and body."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": urlencode(query),
    }
    setup_testing_defaults(environ)
    seen: list[str] = []
    body = b"".join(front(environ, lambda status, headers: seen.append(status)))  # type: ignore[arg-type,return-value]
    return seen[0], body


PUSH = {"msisdn": "447700900123", "batch_id": "4712345678", "status": "11"}


def test_a_push_with_the_right_pass_reaches_its_handler_without_the_pass() -> None:
    """200 with a non-empty body; the handler gets every field but `pass`."""
    recorder = Recorder()
    status, body = get(wsgi(recorder), "/eapi/push/report", {**PUSH, "pass": SECRET})
    assert status.startswith("200") and body.strip()
    assert recorder.pushes == [PUSH]


@pytest.mark.parametrize("given", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_a_missing_or_wrong_pass_is_403_and_changes_nothing(given: str | None) -> None:
    """Forged pushes never reach a handler."""
    recorder = Recorder()
    query = dict(PUSH) if given is None else {**PUSH, "pass": given}
    status, _ = get(wsgi(recorder), "/eapi/push/report", query)
    assert status.startswith("403")
    assert recorder.pushes == []


def test_a_malformed_push_is_400_and_an_unknown_kind_404() -> None:
    """The handler's ValueError becomes 400 (BulkSMS retries); unknown kinds are 404."""
    recorder = Recorder()
    front = wsgi(recorder)
    assert get(front, "/eapi/push/report", {"pass": SECRET})[0].startswith("400")
    assert get(front, "/eapi/push/nothing", {**PUSH, "pass": SECRET})[0].startswith("404")
    assert recorder.pushes == []


def test_without_a_push_secret_there_are_no_push_routes() -> None:
    """Unset SMSBATCH_PUSH_SECRET: the path goes to Bolt, which does not know it."""
    recorder = Recorder()
    status, _ = get(wsgi(recorder, push=False), "/eapi/push/report", {**PUSH, "pass": SECRET})
    assert status.startswith("404")
    assert recorder.pushes == []
