"""The replies' SQL: the inbox table (one row per EAPI msg_id) and get_inbox's cursor.

A page of replies and the cursor move in the caller's one transaction, so after a crash the
next get_inbox asks again from the last stored id: no reply is read twice (msg_id is the key)
and none is missed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from bot.store.db import Reader, Tx


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    """One stored reply."""

    msg_id: int
    sender: str  # normalised like CSV numbers when it could be, else as received
    message: str
    received_time: str
    msisdn: str
    referring_batch_id: int
    encoding: str
    keyword: str | None  # "stop" or "start" when the reply was one
    batch_id: int | None  # our batch it answers, if any
    via: str  # "inbox" or "push"


def _record(row: sqlite3.Row) -> ReplyRecord:
    return ReplyRecord(
        row["msg_id"],
        row["sender"],
        row["message"],
        row["received_time"],
        row["msisdn"],
        row["referring_batch_id"],
        row["encoding"],
        row["keyword"],
        row["batch_id"],
        row["via"],
    )


def store_reply(tx: Tx, reply: ReplyRecord, at: float) -> bool:
    """Keep a reply; False (and nothing written) when its msg_id was stored already."""
    return (
        tx.run(
            "INSERT INTO inbox (msg_id, sender, message, received_time, msisdn, "
            "referring_batch_id, encoding, keyword, batch_id, via, stored_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id) DO NOTHING",
            [
                reply.msg_id,
                reply.sender,
                reply.message,
                reply.received_time,
                reply.msisdn,
                reply.referring_batch_id,
                reply.encoding,
                reply.keyword,
                reply.batch_id,
                reply.via,
                at,
            ],
        )
        == 1
    )


def cursor(read: Reader) -> tuple[int, float | None]:
    """(last_retrieved_id, when get_inbox was last asked)."""
    row = read.query("SELECT last_retrieved_id, polled_at FROM inbox_cursor WHERE id = 1")[0]
    return int(row[0]), row[1]


def advance(tx: Tx, last_retrieved_id: int | None, at: float) -> None:
    """Record a get_inbox call; the cursor only ever moves forward."""
    tx.run(
        "UPDATE inbox_cursor SET polled_at = ?, "
        "last_retrieved_id = MAX(last_retrieved_id, COALESCE(?, 0)) WHERE id = 1",
        [at, last_retrieved_id],
    )


def batch_of(read: Reader, eapi_batch_id: int) -> int | None:
    """Our batch that has a submission with this EAPI batch_id, or None."""
    if eapi_batch_id <= 0:
        return None
    rows = read.query(
        "SELECT batch_id FROM chunks WHERE eapi_batch_id = ? LIMIT 1", [eapi_batch_id]
    )
    return int(rows[0][0]) if rows else None


def unposted(read: Reader, limit: int) -> list[ReplyRecord]:
    """Replies Slack has not taken yet, oldest first."""
    rows = read.query(
        "SELECT * FROM inbox WHERE posted_at IS NULL ORDER BY msg_id LIMIT ?", [limit]
    )
    return [_record(r) for r in rows]


def mark_posted(tx: Tx, msg_ids: Sequence[int], at: float) -> int:
    """Slack took these replies (or they are for the database only): never posted again."""
    changed = 0
    for msg_id in msg_ids:
        changed += tx.run(
            "UPDATE inbox SET posted_at = ? WHERE msg_id = ? AND posted_at IS NULL", [at, msg_id]
        )
    return changed


def replies(read: Reader, batch_id: int | None = None) -> list[ReplyRecord]:
    """Every stored reply (of one batch), in msg_id order."""
    if batch_id is None:
        return [_record(r) for r in read.query("SELECT * FROM inbox ORDER BY msg_id")]
    rows = read.query("SELECT * FROM inbox WHERE batch_id = ? ORDER BY msg_id", [batch_id])
    return [_record(r) for r in rows]
