"""Replies in: each stored once, its keyword obeyed, in one transaction with the inbox cursor.

Read from get_inbox (`bot.sending.inbox`) or pushed (`GET /eapi/push/reply`), a reply is kept
by its EAPI msg_id, linked to our batch when its `referring_batch_id` is one of our submissions,
and, when it is only an opt-out keyword (`bot.sending.keywords`), puts its sender on the
suppression list (source `reply`, evidence its msg_id); START or UNSTOP takes a `reply` entry off
again, never one a person or a report made. A reply seen before changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.eapi.inbox import Reply, Unreadable
from bot.intake.numbers import Number, parse_number
from bot.sending.keywords import Keyword, keyword_of
from bot.store import inbox, suppression
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.inbox import ReplyRecord
from bot.store.suppression import Source

logger = logging.getLogger(__name__)

ACTOR = "reply"


def normalised_sender(sender: str, default_country: str) -> str:
    """The sender as CSV numbers are normalised (international digits), else as received."""
    raw = sender.strip()
    # The EAPI writes international digits without '+': read them as such first.
    for candidate in (f"+{raw}" if raw.isdigit() else raw, raw):
        number = parse_number(candidate, default_country)
        if isinstance(number, Number):
            return number.msisdn
    return raw


def _record(tx: Tx, reply: Reply, via: str, default_country: str) -> ReplyRecord:
    keyword = keyword_of(reply.message)
    return ReplyRecord(
        msg_id=reply.msg_id,
        sender=normalised_sender(reply.sender, default_country),
        message=reply.message,
        received_time=reply.received_time,
        msisdn=reply.msisdn,
        referring_batch_id=reply.referring_batch_id,
        encoding=reply.encoding,
        keyword=None if keyword is None else keyword.value,
        batch_id=inbox.batch_of(tx, reply.referring_batch_id),
        via=via,
    )


def _obey(tx: Tx, record: ReplyRecord, at: float) -> None:
    """Apply a keyword reply to the suppression list (audited with the list's change)."""
    if record.keyword == Keyword.STOP.value:
        suppression.suppress(
            tx, record.sender, Source.REPLY, actor=ACTOR, at=at, evidence=f"msg_id {record.msg_id}"
        )
    elif record.keyword == Keyword.START.value:
        suppression.unsuppress(
            tx,
            record.sender,
            actor=ACTOR,
            at=at,
            reason=f"START reply, msg_id {record.msg_id}",
            only_source=Source.REPLY,
        )


def take_in(tx: Tx, replies: Sequence[Reply], *, via: str, at: float, country: str) -> int:
    """Store the replies not seen before and obey their keywords; how many were new."""
    new = 0
    for reply in sorted(replies, key=lambda r: r.msg_id):
        record = _record(tx, reply, via, country)
        if inbox.store_reply(tx, record, at):
            new += 1
            _obey(tx, record, at)
    return new


class ReplyIntake:
    """Takes replies in for the inbox task and the push route."""

    def __init__(self, store: Store, default_country: str, clock: Callable[[], float]) -> None:
        self.store = store
        self.default_country = default_country
        self.clock = clock

    def pushed(self, reply: Reply) -> bool:
        """A pushed reply; True when it was new."""
        with self.store.write() as tx:
            new = take_in(tx, [reply], via="push", at=self.clock(), country=self.default_country)
        return new == 1

    def page(
        self,
        replies: Sequence[Reply],
        last_id: int | None,
        *,
        unreadable: Sequence[Unreadable] = (),
        at: float | None = None,
    ) -> int:
        """A get_inbox page and the cursor after it, in one transaction; how many were new.

        `at` is when the poll was due (the next is an interval after it). Unreadable rows are
        named in the audit entry (msg_id and why), never skipped silently.
        """
        now = self.clock() if at is None else at
        with self.store.write() as tx:
            new = take_in(tx, replies, via="inbox", at=now, country=self.default_country)
            inbox.advance(tx, last_id, now)
            if replies or unreadable:
                detail: dict[str, object] = {
                    "rows": len(replies),
                    "new": new,
                    "last_retrieved_id": last_id,
                }
                if unreadable:
                    detail["unreadable"] = [[u.msg_id, u.reason] for u in unreadable]
                tx.audit(AuditEvent.INBOX_READ, at=now, actor="sender", detail=detail)
        return new
