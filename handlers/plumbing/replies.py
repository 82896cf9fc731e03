"""Replies shown in Slack: in the thread of the batch they answer, else the replies channel.

The inbox task (`bot.sending.inbox`) hands over the replies of one batch (or of none known) that
Slack has not taken yet; they become one message. A reply to nothing known goes to
SMSBATCH_REPLIES_CHANNEL, or stays in the database when that is unset. A Slack failure is
logged and answered False, so the same replies are offered again at the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.store.inbox import ReplyRecord
from handlers.builders import wording
from handlers.plumbing.cards import Cards

logger = logging.getLogger(__name__)


class SlackReplies:
    """A `ReplySink` that posts with the app's Slack client."""

    def __init__(self, cards: Cards, replies_channel: str | None) -> None:
        self.cards = cards
        self.replies_channel = replies_channel

    def post_replies(self, batch_id: int | None, replies: Sequence[ReplyRecord]) -> bool:
        """One message with these replies; True once Slack took it (or none is wanted)."""
        if batch_id is None and self.replies_channel is None:
            return True  # kept in the database only, as configured
        try:
            if batch_id is None:
                assert self.replies_channel is not None
                self.cards.io.say(self.replies_channel, wording.replies(None, replies))
                return True
            view = self.cards.batches.get(batch_id)
            text = wording.replies(batch_id, replies)
            self.cards.io.say(view.channel_id, text, thread_ts=self.cards.thread_of(view))
        except (SlackApiError, SlackClientError, OSError) as exc:
            logger.warning("replies of batch %s not posted yet: %s", batch_id, exc)
            return False
        return True
