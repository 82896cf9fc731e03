"""The sender's only way out: a small notifier interface the Slack layer implements."""

from __future__ import annotations

import logging
from typing import Protocol

from bot.model import Progress

logger = logging.getLogger(__name__)


class Notifier(Protocol):
    """Receives the sender's progress reports; must not raise and must return quickly."""

    def notify(self, event: Progress) -> None:
        """Take one progress report."""


class LogNotifier:
    """A notifier that only logs: used by commands that run the sender without Slack."""

    def notify(self, event: Progress) -> None:
        """Log the report as one line."""
        logger.info(
            "progress kind=%s batch=%s chunk=%s status=%s",
            event.kind,
            event.batch_id,
            event.chunk_index,
            event.status_code,
        )
