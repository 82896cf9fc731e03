"""Logging: one line per event, key=value or JSON, with secrets scrubbed as a last line of defence.

Code passes context with `extra={"batch": 12, "chunk": 0, "attempt": 2, "user": "U1"}`; those keys
appear in every format. The scrubber replaces every configured secret value wherever it would
appear in a rendered line, so even a library that logs a request body cannot leak one.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from bot.config import Secret, Settings

CONTEXT_KEYS = ("batch", "chunk", "attempt", "user", "channel", "status", "event")
REDACTED = "********"


def _secrets(settings: Settings) -> list[str]:
    values: Iterable[Secret | None] = (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.eapi_password,
    )
    return [s.reveal() for s in values if s is not None and len(s.reveal()) >= 4]


class _Formatter(logging.Formatter):
    """Renders a record as key=value pairs or as one JSON object, then scrubs secrets."""

    def __init__(self, style: str, secrets: list[str]) -> None:
        super().__init__()
        self.style_name = style
        self.secrets = secrets

    def _fields(self, record: logging.LogRecord) -> dict[str, object]:
        fields: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            if hasattr(record, key):
                fields[key] = getattr(record, key)
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return fields

    def format(self, record: logging.LogRecord) -> str:
        """Format one record as a single line with every secret replaced."""
        fields = self._fields(record)
        if self.style_name == "json":
            line = json.dumps(fields, ensure_ascii=False, default=str)
        else:
            line = " ".join(f"{key}={_kv(value)}" for key, value in fields.items())
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line


def _kv(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send all logging to one stream handler in the configured format and level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Formatter(settings.log_format, _secrets(settings)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler
