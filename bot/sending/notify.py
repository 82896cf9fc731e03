"""The sender's only way out: a small notifier interface the Slack layer implements."""

from __future__ import annotations

import logging
from typing import Protocol

from bot.model import Progress, ProgressKind

logger = logging.getLogger(__name__)

FINAL_REPORTS = frozenset({ProgressKind.CHUNK_DONE, ProgressKind.UNKNOWN, ProgressKind.FINISHED})


def is_final_report(event: Progress) -> bool:
    """True for a result that stays unconfirmed until the notifier marks it as posted."""
    return event.kind in FINAL_REPORTS


class Notifier(Protocol):
    """Receives the sender's progress reports; must not raise and must return quickly.

    A final report (`is_final_report`) is delivered at least once: after posting it, the
    notifier confirms it with `BatchService.mark_reported(event.batch_id, event.chunk_index)`.
    Every unconfirmed one is reported again, with the same fields, when a sender next takes the
    lease, so a notifier that never confirms sees its results again after each restart.
    """

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
