"""Logs: one line per event, in key=value or JSON, context fields present, secrets scrubbed."""

from __future__ import annotations

import io
import json
import logging

from bot.config import settings_from_env
from bot.logs import configure_logging

ENV = {
    "EAPI_URL": "https://eapi.example.test/eapi",
    "EAPI_USERNAME": "john",
    "EAPI_PASSWORD": "pa55-word-secret",
    "SLACK_BOT_TOKEN": "xoxb-secret_bot_token",
}


def _log_once(fmt: str) -> str:
    stream = io.StringIO()
    settings = settings_from_env({**ENV, "SMSBATCH_LOG_FORMAT": fmt})
    handler = configure_logging(settings, stream)
    try:
        logging.getLogger("smsbatch.test").warning(
            "posted body password=pa55-word-secret token xoxb-secret_bot_token",
            extra={"batch": 12, "chunk": 0, "attempt": 2, "user": "U1"},
        )
    finally:
        logging.getLogger().removeHandler(handler)
    return stream.getvalue()


def test_key_value_lines_carry_context_and_hide_secrets() -> None:
    """A key=value line names batch, chunk, attempt and user, and shows no secret."""
    line = _log_once("kv")
    assert line.count("\n") == 1
    for pair in ("batch=12", "chunk=0", "attempt=2", "user=U1", "level=warning"):
        assert pair in line
    assert "pa55-word-secret" not in line
    assert "xoxb-secret_bot_token" not in line


def test_json_lines_parse_and_hide_secrets() -> None:
    """A JSON line is one object with the context keys, and shows no secret."""
    line = _log_once("json")
    record = json.loads(line)
    assert record["batch"] == 12
    assert record["user"] == "U1"
    assert "pa55-word-secret" not in line
    assert "xoxb-secret_bot_token" not in line
