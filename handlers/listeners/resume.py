"""At start-up, answer the uploads the previous process claimed but stopped before answering.

Bolt acknowledges events at once, so Slack never redelivers an upload the process died on
(a crash, a deploy, SIGKILL) between claiming it and posting its card or reply. Each such claim
younger than `MAX_AGE_SECONDS` is worked on again on the job pool, exactly as a fresh upload (same
thread, same person); one whose batch was already prepared only gets that batch's card. A
redelivery of the same event finds the file claimed and does nothing, so there is still one
preview. Older claims are logged and abandoned: the person has long moved on.

A file that stops the process every time it is checked would stop it at every start-up: after
`MAX_ATTEMPTS` starts of work on one upload, its thread is told to upload it again instead.

This assumes one app process per database (as the README asks): a claim is taken to be
unanswered because its process stopped, not because another live process is still on it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.service import UploadRecord
from bot.views import when_text
from handlers.builders import wording
from handlers.listeners import uploads

if TYPE_CHECKING:
    from handlers.services import Services

logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 24 * 3600.0
MAX_ATTEMPTS = 4  # the first, then at most three start-ups


def resume_uploads(
    services: Services,
    *,
    max_age_seconds: float = MAX_AGE_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[str]:
    """Queue every unanswered upload younger than `max_age_seconds`; returns their file ids."""
    recent, old = services.batches.unanswered_uploads(max_age_seconds)
    for record in old:
        _abandon(services, record, max_age_seconds)
    resumed = []
    for record in recent:
        if record.attempts >= max_attempts:
            _give_up(services, record)
        elif services.batches.retry_upload(record.file_id):
            logger.info(
                "resuming upload %s (attempt %d): it was claimed at %s and never answered",
                record.file_id,
                record.attempts + 1,
                when_text(record.claimed_at),
                extra={"user": record.user_id, "channel": record.channel_id},
            )
            uploads.start(services, uploads.Claimed.from_record(record))
            resumed.append(record.file_id)
    return resumed


def _abandon(services: Services, record: UploadRecord, max_age_seconds: float) -> None:
    """Log an unanswered claim too old to resume, once: it is marked abandoned."""
    if services.batches.abandon_upload(record.file_id, "too_old"):
        logger.warning(
            "upload %s (%s) in thread %s was claimed at %s and never answered; it is older "
            "than %.0f h, so it is not resumed: ask user %s to upload it again if still needed",
            record.file_id,
            record.file.get("name", "no name"),
            record.thread_ts,
            when_text(record.claimed_at),
            max_age_seconds / 3600,
            record.user_id,
            extra={"user": record.user_id, "channel": record.channel_id},
        )


def _give_up(services: Services, record: UploadRecord) -> None:
    """Tell the upload's thread that checking this file kept failing (on the job pool)."""
    name = str(record.file.get("name") or record.file_id)
    logger.error(
        "upload %s (%s): work on it began %d times and the app stopped each time; giving up",
        record.file_id,
        name,
        record.attempts,
        extra={"user": record.user_id, "channel": record.channel_id},
    )
    claim = uploads.Claimed.from_record(record)

    def tell() -> None:
        claim.reply(services, given_up(name, record.attempts))
        services.batches.upload_answered(record.file_id, "gave_up")

    services.jobs.submit("give up upload", tell, None)


def given_up(name: str, attempts: int) -> str:
    """The thread reply for an upload the app stopped on every time it checked it."""
    return (
        f"I could not check `{wording.escape(wording.clip(name, 80))}`: the app stopped "
        f"{attempts} times while working on it, so I have given up on this file. Upload it "
        "again (perhaps split into smaller files), or ask whoever runs the app to look at its log."
    )
