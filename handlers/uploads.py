"""CSV files uploaded where the app is: exactly one preview per file, in the upload's thread.

Slack sends a `message` (subtype `file_share`) and a `file_shared` event for one upload, retries
deliveries, and may redeliver; the file id is claimed durably in the database, so only the
first of all those deliveries produces a preview. Every other `message` event and `file_shared`
is acknowledged and ignored (Bolt would answer 404 to an unhandled event, and Slack retries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk.errors import SlackApiError

from bot.model import SendOptions
from bot.service import Origin
from handlers import wording
from handlers.download import DownloadError
from handlers.preview import publish_preview

if TYPE_CHECKING:
    from handlers.app import Services

logger = logging.getLogger(__name__)

CSV_TYPES = ("csv", "tsv")
CSV_SUFFIXES = (".csv", ".tsv")
FILES_INFO_ATTEMPTS = 3
NO_LINK = (
    "Slack gave no download link for it; check that the app is in this conversation and has "
    "the files:read scope, then upload it again"
)


def is_csv(file: Mapping[str, Any]) -> bool:
    """True when the file's type or name says CSV (the content is sniffed by the intake too)."""
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


def register(app: App, services: Services) -> None:
    """Listen for file uploads; acknowledge every other message and file_shared event."""

    def on_file_share(event: dict[str, Any], context: BoltContext) -> None:
        if is_own(event, context):
            return
        channel, thread = event["channel"], event.get("thread_ts") or event["ts"]

        def report(text: str) -> None:
            services.io.say(channel, text, thread_ts=thread)

        services.jobs.submit("upload", lambda: handle_upload(services, event), report)

    def ignore() -> None:
        """Acknowledged (Bolt acks events itself); nothing to do."""

    app.event({"type": "message", "subtype": "file_share"})(on_file_share)
    app.event("message")(ignore)
    app.event("file_shared")(ignore)


def handle_upload(
    services: Services, event: Mapping[str, Any], sleep: Callable[[float], None] = time.sleep
) -> None:
    """Preview every CSV file of one file_share message, once per file however often it comes."""
    channel, user = event["channel"], event.get("user") or ""
    thread = event.get("thread_ts") or event["ts"]
    for stub in event.get("files") or []:
        file = (_complete(services, stub, sleep) or stub) if is_stub(stub) else stub
        if not is_csv(file):
            continue
        if not services.batches.claim_upload(file["id"], channel, user):
            logger.info("file %s was already claimed; no second preview", file["id"])
            continue
        name = str(file.get("name") or file["id"])
        origin = Origin(user, channel, thread, "upload", file["id"], name)

        def reply(text: str) -> None:
            services.io.say(channel, text, thread_ts=thread)

        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            reply(wording.download_refused(name, NO_LINK))
            continue
        try:
            data = services.downloader.fetch(url, size_hint=file.get("size"))
        except DownloadError as exc:
            reply(wording.download_refused(name, str(exc)))
            continue
        publish_preview(services.batches, services.cards, data, SendOptions(), origin, reply)


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
