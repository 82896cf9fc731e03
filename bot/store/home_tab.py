"""The SQL of the Home tab's reads (the queue and the EAPI's last answer)."""

from __future__ import annotations

from bot.store.db import ACTIVE, _Reader


def active_batch_ids(read: _Reader) -> list[int]:
    """Approved and sending batches in the order the sender takes them."""
    sql = "SELECT id FROM batches WHERE state IN (?, ?) ORDER BY approved_seq"
    return [int(r[0]) for r in read._rows(sql, ACTIVE)]


def last_answer(read: _Reader) -> tuple[int | None, float] | None:
    """(status code, when) of the EAPI's latest answer to a submission, or None."""
    row = read._one(
        "SELECT status_code, finished_at FROM attempts "
        "WHERE finished_at IS NOT NULL AND outcome != 'interrupted' "
        "ORDER BY finished_at DESC LIMIT 1"
    )
    if row is None:
        return None
    return (None if row[0] is None else int(row[0])), float(row[1])
