"""CSV files and workbooks uploaded where the app is: exactly one answer per file, in the
upload's thread. Workbooks (xlsx, xlsm, xls, ods) are picked up like CSV files; the intake tells
them apart by their content.

Slack sends a `message` (subtype `file_share`) and a `file_shared` event for one upload, retries
deliveries, and may redeliver; the file id is claimed durably in the database by the listener
itself, so only the first of all those deliveries goes on. Every other `message` event and
`file_shared` is acknowledged and ignored (Bolt would answer 404 to an unhandled event, and
Slack retries).

Bolt acknowledges an event before its listener runs, so Slack never redelivers it: a claim is
the only record of the upload. The claim keeps the thread and the file object, and is marked
answered only once Slack took the answer (the card, or a reply saying why there is none).
`handlers.listeners.resume` works again at start-up on claims the process stopped before answering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk.errors import SlackApiError

from bot.model import SendOptions
from bot.service import Origin, UploadRecord
from bot.slackfile import kept_file
from handlers.builders import wording
from handlers.plumbing.download import DownloadError
from handlers.plumbing.preview import post_card, publish_preview

if TYPE_CHECKING:
    from handlers.services import Services

logger = logging.getLogger(__name__)

CSV_TYPES = ("csv", "tsv", "xlsx", "xlsm", "xls", "ods")
CSV_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods")
FILES_INFO_ATTEMPTS = 3
NO_LINK = (
    "Slack gave no download link for it; check that the app is in this conversation and has "
    "the files:read scope, then upload it again"
)


def is_csv(file: Mapping[str, Any]) -> bool:
    """True when the file's type or name says CSV or a workbook (the intake sniffs the content)."""
    name = str(file.get("name") or "").lower()
    return file.get("filetype") in CSV_TYPES or name.endswith(CSV_SUFFIXES)


def is_stub(file: Mapping[str, Any]) -> bool:
    """True for file objects that must be completed with files.info (e.g. Slack Connect)."""
    has_link = file.get("url_private_download") or file.get("url_private")
    return file.get("file_access") == "check_file_info" or not has_link


def is_own(event: Mapping[str, Any], context: BoltContext) -> bool:
    """True for the app's own posts (Bolt filters most; this also covers its file uploads)."""
    bot_id, bot_user = context.bot_id, context.bot_user_id
    return bool(
        (bot_id and event.get("bot_id") == bot_id) or (bot_user and event.get("user") == bot_user)
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """An upload this process claimed (or resumed): where to answer, and how to fetch it."""

    file_id: str
    channel_id: str
    user_id: str
    thread_ts: str | None
    file: Mapping[str, Any]  # Slack's file object as kept (`bot.slackfile.kept_file`)
    batch_id: int | None = None  # prepared before a restart: only its card is missing

    @classmethod
    def from_record(cls, record: UploadRecord) -> Claimed:
        """The claim as stored, to be worked on again."""
        return cls(
            record.file_id,
            record.channel_id,
            record.user_id,
            record.thread_ts,
            record.file,
            record.batch_id,
        )

    def reply(self, services: Services, text: str) -> None:
        """Post `text` in the upload's thread."""
        services.io.say(self.channel_id, text, thread_ts=self.thread_ts)


def register(app: App, services: Services) -> None:
    """Listen for file uploads; acknowledge every other message and file_shared event."""

    def on_file_share(event: dict[str, Any], context: BoltContext) -> None:
        if is_own(event, context):
            return
        for claim in claim_files(services, event):
            start(services, claim)

    def ignore() -> None:
        """Acknowledged (Bolt acks events itself); nothing to do."""

    app.event({"type": "message", "subtype": "file_share"})(on_file_share)
    app.event("message")(ignore)
    app.event("file_shared")(ignore)


def claim_files(services: Services, event: Mapping[str, Any]) -> list[Claimed]:
    """Claim every file of a file_share message that may be a CSV; the ones this delivery won."""
    channel, user = event["channel"], event.get("user") or ""
    thread = event.get("thread_ts") or event["ts"]
    won = []
    for file in event.get("files") or []:
        if not is_stub(file) and not is_csv(file):
            continue  # a stub says nothing yet: it is claimed, completed, then maybe ignored
        if services.batches.claim_upload(file["id"], channel, user, thread, file):
            won.append(Claimed(file["id"], channel, user, thread, kept_file(file)))
        else:
            logger.info("file %s was already claimed; no second preview", file["id"])
    return won


def start(services: Services, claim: Claimed, sleep: Callable[[float], None] = time.sleep) -> None:
    """Answer a claimed upload on the job pool; an unexpected failure is told in its thread."""

    def report(text: str) -> None:
        claim.reply(services, text)
        services.batches.upload_answered(claim.file_id, "error")  # they were told

    services.jobs.submit("upload", partial(answer_upload, services, claim, sleep), report)


def answer_upload(
    services: Services, claim: Claimed, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Preview one claimed upload, or say why not; mark it answered once Slack took that."""
    if claim.batch_id is not None:
        answer = _card_of_prepared(services, claim, claim.batch_id)
    else:
        answer = _answer(services, claim, sleep)
    services.batches.upload_answered(claim.file_id, answer)


def _answer(services: Services, claim: Claimed, sleep: Callable[[float], None]) -> str:
    """Fetch, check and preview the file; returns how it was answered."""
    file = claim.file
    if is_stub(file):
        file = _complete(services, file, sleep) or file
    if not is_csv(file):
        return "not_csv"
    name = str(file.get("name") or claim.file_id)
    url = file.get("url_private_download") or file.get("url_private")
    if not url:
        claim.reply(services, wording.download_refused(name, NO_LINK))
        return "no_link"
    try:
        data = services.downloader.fetch(url, size_hint=file.get("size"))
    except DownloadError as exc:
        claim.reply(services, wording.download_refused(name, str(exc)))
        return "download_error"
    origin = Origin(claim.user_id, claim.channel_id, claim.thread_ts, "upload", claim.file_id, name)
    reply = partial(claim.reply, services)
    view = publish_preview(services.batches, services.cards, data, SendOptions(), origin, reply)
    return "card" if view is not None else "refused"


def _card_of_prepared(services: Services, claim: Claimed, batch_id: int) -> str:
    """The batch was prepared before a restart: post its card (once), prepare nothing again."""
    view = services.batches.get(batch_id)
    if view.card_ts is not None:
        logger.info("batch %s already has its card; recording the answer", view.id)
        return "card"
    reply = partial(claim.reply, services)
    posted = post_card(services.batches, services.cards, view, claim.user_id, reply)
    return "card" if posted else "refused"


def _complete(
    services: Services, stub: Mapping[str, Any], sleep: Callable[[float], None]
) -> dict[str, Any] | None:
    """The full file object via files.info, retried briefly: fresh uploads can lag behind."""
    for attempt in range(FILES_INFO_ATTEMPTS):
        try:
            file = services.io.file_info(stub["id"])
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error != "file_not_found" or attempt == FILES_INFO_ATTEMPTS - 1:
                logger.warning("files.info refused %s: %s", stub.get("id"), error)
                return None
        else:
            if file.get("url_private_download") or file.get("url_private"):
                return file
        sleep(0.5 * (attempt + 1))
    return None
