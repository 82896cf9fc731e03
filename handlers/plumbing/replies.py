"""Replies shown in Slack: in the thread of the batch they answer, else the replies channel.

The inbox task (`bot.sending.inbox`) hands over the replies of one batch (or of none known) that
Slack has not taken yet; they become as few messages as Slack's 4,000-character text allows. A
reply to nothing known goes to SMSBATCH_REPLIES_CHANNEL, or stays in the database when that is
unset. A Slack failure is logged, and the replies not yet taken are offered again at the next
poll: those already posted are never posted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.store.inbox import ReplyRecord
from handlers.builders import wording
from handlers.builders.blockcheck import FALLBACK_TEXT
from handlers.plumbing.cards import Cards

logger = logging.getLogger(__name__)

_ROOM = FALLBACK_TEXT - 100  # a message's text, leaving room for its head line


def fitting(replies: Sequence[ReplyRecord]) -> int:
    """How many replies, from the first, fit in one message (always at least one)."""
    used, count = 0, 0
    for reply in replies:
        used += len(wording.reply_line(reply)) + 1
        if count and used > _ROOM:
            break
        count += 1
    return count


class SlackReplies:
    """A `ReplySink` that posts with the app's Slack client."""

    def __init__(self, cards: Cards, replies_channel: str | None) -> None:
        self.cards = cards
        self.replies_channel = replies_channel

    def _where(self, batch_id: int | None) -> tuple[str, str | None]:
        if batch_id is None:
            assert self.replies_channel is not None
            return self.replies_channel, None
        view = self.cards.batches.get(batch_id)
        return view.channel_id, self.cards.thread_of(view)

    def post_replies(self, batch_id: int | None, replies: Sequence[ReplyRecord]) -> int:
        """Post the replies in order; how many Slack took (all when none is wanted)."""
        if batch_id is None and self.replies_channel is None:
            return len(replies)  # kept in the database only, as configured
        taken = 0
        try:
            channel, thread = self._where(batch_id)
            while taken < len(replies):
                part = replies[taken : taken + fitting(replies[taken:])]
                self.cards.io.say(channel, wording.replies(batch_id, part), thread_ts=thread)
                taken += len(part)
        except (SlackApiError, SlackClientError, OSError) as exc:
            logger.warning("replies of batch %s not all posted yet: %s", batch_id, exc)
        return taken
