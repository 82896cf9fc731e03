"""The inbox task: reads replies with get_inbox, on the sender's one connection, and posts them.

A `SideTask` (`bot.sending.side`): every `poll_seconds` it asks get_inbox for the replies after
the stored cursor, and asks again at once while a page comes back full (1000 rows). A page and
the cursor are stored in one transaction (`bot.sending.replies`). Then the replies Slack has not
taken yet go to a `ReplySink`, grouped per batch (one message per batch per turn); each group
the sink takes is marked posted, so after a crash the rest is posted, and nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from bot.eapi.client import EapiClient
from bot.eapi.inbox import fetch_inbox, pushed_reply
from bot.errors import EapiError
from bot.sending.replies import ReplyIntake
from bot.store import inbox
from bot.store.db import Store
from bot.store.inbox import ReplyRecord

logger = logging.getLogger(__name__)

POST_READ = 200  # unposted replies read and posted per turn


class ReplySink(Protocol):
    """Where stored replies are shown: the batch's thread, or the replies channel."""

    def post_replies(self, batch_id: int | None, replies: Sequence[ReplyRecord]) -> int:
        """Show these replies (of one batch, or of none known), in order; how many of them,
        from the first, need no more posting (posted, or kept in the database only). The rest
        are offered again at the next turn."""
        ...


class KeepOnly:
    """A sink that shows nothing: replies stay in the database (no Slack, e.g. the CLI)."""

    def post_replies(self, batch_id: int | None, replies: Sequence[ReplyRecord]) -> int:
        """Nothing to post: all of them are done."""
        return len(replies)


def group_by_batch(replies: Sequence[ReplyRecord]) -> list[tuple[int | None, list[ReplyRecord]]]:
    """The replies per batch (None: a reply to nothing known), in order of their first reply."""
    groups: dict[int | None, list[ReplyRecord]] = {}
    for reply in replies:
        groups.setdefault(reply.batch_id, []).append(reply)
    return list(groups.items())


class InboxTask:
    """Polls get_inbox every `poll_seconds` (0: never) and posts what it stored."""

    name = "inbox"

    def __init__(
        self,
        store: Store,
        client: EapiClient,
        sink: ReplySink,
        *,
        poll_seconds: float,
        default_country: str,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.client = client
        self.sink = sink
        self.poll_seconds = poll_seconds
        self.intake = ReplyIntake(store, default_country, clock)
        self.clock = clock
        self._more = False  # the last page was full: ask again at once
        self._unposted = True  # look for unposted replies (e.g. pushed ones, or after a crash)

    def next_due(self, now: float) -> float | None:
        """Now while a full page or unposted replies wait; else the next poll time (None when
        polling is off: pushed replies still get their turn)."""
        if self._unposted:
            return now
        if self.poll_seconds <= 0:
            return None
        if self._more:
            return now
        _, polled_at = inbox.cursor(self.store)
        return now if polled_at is None else polled_at + self.poll_seconds

    def pushed(self, params: Mapping[str, str]) -> None:
        """`GET /eapi/push/reply`: store a pushed reply (ValueError when malformed); it is
        posted at the task's next turn. A reply pushed twice changes nothing."""
        self.intake.pushed(pushed_reply(params))
        self._unposted = True

    def run(self, now: float) -> None:
        """One turn: one get_inbox call when due, then post what is unposted."""
        if self._poll_due(now):
            self._fetch(now)
        self._post()

    def _poll_due(self, now: float) -> bool:
        if self.poll_seconds <= 0:
            return False
        _, polled_at = inbox.cursor(self.store)
        return self._more or polled_at is None or now >= polled_at + self.poll_seconds

    def _fetch(self, now: float) -> None:
        last_id, _ = inbox.cursor(self.store)
        try:
            page = fetch_inbox(self.client, last_id)
        except EapiError as exc:
            logger.warning("get_inbox failed; asking again in %s s: %s", self.poll_seconds, exc)
            self._more = False
            self.intake.page([], None, at=now)  # a poll all the same: the next one is due later
            return
        for row in page.unreadable:  # never silent: logged here, counted in the audit entry
            logger.error("get_inbox row msg_id=%s could not be read: %s", row.msg_id, row.reason)
        new = self.intake.page(page.replies, page.last_id, unreadable=page.unreadable, at=now)
        self._more = page.full
        self._unposted = self._unposted or new > 0
        if page.replies:
            logger.info("get_inbox: %d replies, %d new", len(page.replies), new)

    def _post(self) -> None:
        pending = inbox.unposted(self.store, POST_READ)
        taken = 0
        for batch_id, group in group_by_batch(pending):
            done = self.sink.post_replies(batch_id, group)
            if done:
                taken += done
                with self.store.write() as tx:
                    inbox.mark_posted(tx, [r.msg_id for r in group[:done]], self.clock())
        # More than one read's worth: go on at the next turn. A sink that asked to try again
        # waits for the next poll.
        self._unposted = len(pending) == POST_READ and taken == len(pending)
