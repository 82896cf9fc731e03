"""The Slack Web API calls the app makes, in one place, each checked against Block Kit limits.

Also the web client factory: the configured base URL, timeouts, and a retry on HTTP 429 that
waits what Slack's Retry-After says (slack_sdk does not retry rate limits by default).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, default_retry_handlers

from bot.config import Settings
from handlers.builders.blockcheck import check_message, check_view
from handlers.builders.blocks import SlackMessage
from handlers.plumbing.slackmetrics import CountingWebClient

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15
RATE_LIMIT_RETRIES = 3


def make_web_client(settings: Settings) -> CountingWebClient:
    """A WebClient for the bot token at SLACK_API_URL, retrying 429s after Retry-After, and
    counting failed calls for /metrics."""
    if settings.slack_bot_token is None:
        raise ValueError("make_web_client needs SLACK_BOT_TOKEN; call settings.require_slack()")
    handlers = [*default_retry_handlers(), RateLimitErrorRetryHandler(RATE_LIMIT_RETRIES)]
    return CountingWebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=handlers,
    )


def _checked(what: str, problems: list[str]) -> None:
    """Log payloads that break Block Kit limits: Slack will refuse them with invalid_blocks."""
    if problems:
        logger.error("%s breaks Block Kit limits: %s", what, "; ".join(problems[:5]))


class SlackIO:
    """Posts, updates, ephemeral replies, modals and file uploads through one WebClient."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        """Post a message (in a thread when `thread_ts` is given); returns its ts."""
        _checked("chat.postMessage", check_message(message.text, message.blocks))
        response = self.client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=message.blocks or None,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])

    def say(self, channel: str, text: str, thread_ts: str | None = None) -> str:
        """Post a plain-text message; returns its ts."""
        return self.post(channel, SlackMessage(text, []), thread_ts)

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        """Replace a message the app posted."""
        _checked("chat.update", check_message(message.text, message.blocks))
        self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """Show `text` to one user only."""
        _checked("chat.postEphemeral", check_message(text, []))
        self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (the trigger expires 3 s after the click or command)."""
        _checked("views.open", check_view(view))
        self.client.views_open(trigger_id=trigger_id, view=view)

    def try_open_view(self, trigger_id: str, view: dict[str, Any]) -> str | None:
        """Open a modal; Slack's error code when it refuses (e.g. an expired trigger)."""
        try:
            self.open_view(trigger_id, view)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "error"))
            logger.warning("views.open refused: %s", error)
            return error
        return None

    def upload(
        self, channel: str, thread_ts: str | None, content: bytes, filename: str, comment: str
    ) -> None:
        """Share a file in a channel or thread (files_upload_v2)."""
        self.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            content=content,
            filename=filename,
            title=filename,
            initial_comment=comment,
        )

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Publish a user's Home tab (views.publish)."""
        _checked("views.publish", check_view(view))
        self.client.views_publish(user_id=user_id, view=view)

    def open_dm(self, user_id: str) -> str:
        """The id of the app's direct-message channel with a user (conversations.open)."""
        response = self.client.conversations_open(users=user_id)
        channel = response.get("channel") or {}
        return str(channel["id"]) if isinstance(channel, dict) else str(channel)

    def user_phone(self, user_id: str) -> str | None:
        """The `phone` of a user's Slack profile (users.info), or None when it is empty."""
        response = self.client.users_info(user=user_id)
        user = response.get("user") or {}
        phone = (user.get("profile") or {}).get("phone") if isinstance(user, dict) else None
        return str(phone) if phone else None

    def file_info(self, file_id: str) -> dict[str, Any]:
        """The full file object (for Slack Connect stubs and files without a download URL)."""
        response = self.client.files_info(file=file_id)
        file = response.get("file")
        return dict(file) if isinstance(file, dict) else {}
