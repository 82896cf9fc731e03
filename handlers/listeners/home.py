"""The Home tab: published when a person opens it; its New batch button opens the same modal
as `/smsbatch`, whose preview then goes to the person's direct messages with the app."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from handlers.builders import ids
from handlers.builders.views import new_batch_modal

if TYPE_CHECKING:
    from handlers.services import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    """Listen for app_home_opened and the Home tab's New batch button."""

    def on_home_opened(event: dict[str, Any]) -> None:
        # Bolt acks events itself; the Messages tab also sends this event: only Home is ours.
        if event.get("tab") == "home" and event.get("user"):
            services.home.opened(str(event["user"]))

    def on_new_batch(ack: Ack, body: dict[str, Any]) -> None:
        user, trigger = str(body["user"]["id"]), str(body.get("trigger_id", ""))
        ack()
        # Opened here, not on the job pool: the trigger expires three seconds after the click.
        try:
            channel = services.io.open_dm(user)
        except SlackApiError as exc:
            logger.warning("conversations.open refused: %s", exc.response.get("error"))
            return
        error = services.io.try_open_view(trigger, new_batch_modal(channel))
        if error:
            logger.warning("the New batch modal did not open from the Home tab: %s", error)

    app.event("app_home_opened")(on_home_opened)
    app.action(ids.HOME_NEW_BATCH)(on_new_batch)
