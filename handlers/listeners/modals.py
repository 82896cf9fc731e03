"""Submissions of the New batch and Options modals.

Input problems Slack can show next to the field (a bad sender, a time in the past, neither file
nor rows) are returned in the ack as `response_action: errors`; everything slower runs after the
ack on the job pool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.errors import BatchNotFound, IntakeError, TransitionRefused
from bot.model import SendOptions
from bot.service import Origin
from handlers.builders import ids, wording
from handlers.builders.views import NewBatchForm, metadata, read_new_batch, read_options
from handlers.listeners.uploads import NO_LINK
from handlers.plumbing.download import DownloadError
from handlers.plumbing.preview import publish_preview

if TYPE_CHECKING:
    from handlers.services import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services, clock: Callable[[], float] = time.time) -> None:
    """Listen for the two modals' submissions."""

    def tell(channel: str, user: str) -> Callable[[str], None]:
        def send(text: str) -> None:
            try:
                services.io.ephemeral(channel, user, text)
            except SlackApiError as exc:
                # Not in that channel (e.g. a DM the app is not part of): use the app's DM.
                logger.info("ephemeral refused (%s); replying by DM", exc.response.get("error"))
                services.io.say(user, text)

        return send

    # Each listener unpacks first, then acks, then hands over: Bolt drops an ack whose listener
    # raises afterwards, so nothing after ack() may fail.

    def on_new_batch(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = read_new_batch(view["state"]["values"], clock())
        user, channel = body["user"]["id"], str(metadata(view)["channel"])
        if form.errors:
            ack(response_action="errors", errors=form.errors)
            return
        ack()
        reply = tell(channel, user)
        services.jobs.submit(
            "new batch", lambda: _new_batch(services, form, user, channel, reply), reply
        )

    def on_options(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = read_options(view["state"]["values"], clock())
        user, meta = body["user"]["id"], metadata(view)
        batch_id, channel = int(meta["batch"]), str(meta["channel"])
        location = (channel, str(meta["ts"])) if meta.get("ts") else None
        if form.errors:
            ack(response_action="errors", errors=form.errors)
            return
        ack()
        reply = tell(channel, user)

        def change() -> None:
            try:
                services.batches.change_options(batch_id, form.options, user)
            except TransitionRefused as exc:
                reply(wording.refused(str(exc)))
                return
            except IntakeError as exc:
                reply(wording.intake_refused(f"batch {batch_id}", str(exc)))
                return
            except BatchNotFound:
                reply(wording.not_found(batch_id))
                return
            services.notifier.refresh(batch_id, location)

        services.jobs.submit("options", change, reply)

    app.view(ids.NEW_BATCH_VIEW)(on_new_batch)
    app.view(ids.OPTIONS_VIEW)(on_options)


def _new_batch(
    services: Services, form: NewBatchForm, user: str, channel: str, reply: Callable[[str], None]
) -> None:
    """Fetch the file (or take the pasted rows) and publish the preview in the channel."""
    options: SendOptions = form.form.options
    if form.file is not None:
        file: Mapping[str, Any] = form.file
        name = str(file.get("name") or file["id"])
        if not (file.get("url_private_download") or file.get("url_private")):
            try:
                file = services.io.file_info(str(file["id"])) or file
            except SlackApiError as exc:
                logger.warning("files.info refused %s: %s", file["id"], exc.response.get("error"))
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            reply(wording.download_refused(name, NO_LINK))
            return
        try:
            data = services.downloader.fetch(url, size_hint=file.get("size"))
        except DownloadError as exc:
            reply(wording.download_refused(name, str(exc)))
            return
        origin = Origin(user, channel, None, "modal", str(file["id"]), name)
    else:
        data = (form.text or "").encode("utf-8")
        origin = Origin(user, channel, None, "modal")
    publish_preview(services.batches, services.cards, data, options, origin, reply)
