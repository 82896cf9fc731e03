"""The SQL of stopping a batch after approval (schema: migration 0007_stops_and_test_sends).

A stop is recorded once (`record_stop` is a conditional update), and from then on the sender
starts no submission of that batch: it reads `is_stopped` in the transaction that records each
attempt (`bot.sending.steps.Steps.start_attempt`). Chunks without an attempt in flight are
closed by the stop's own transaction; one in flight finishes and is reported.
"""

from __future__ import annotations

from bot.store.db import ACTIVE, OPEN_CHUNK_STATES, Tx, _Reader

STOPPED_STATE = "failed"  # a stopped chunk's state: final, never submitted (see stopped_at)


def record_stop(tx: Tx, batch_id: int, actor: str, now: float) -> bool:
    """Mark an active batch stopped; False if it is not active or was stopped already."""
    sql = (
        "UPDATE batches SET stopped_at = ?, stopped_by = ? "
        "WHERE id = ? AND state IN (?, ?) AND stopped_at IS NULL"
    )
    return tx._run(sql, [now, actor, batch_id, *ACTIVE]) == 1


def is_stopped(read: _Reader, batch_id: int) -> bool:
    """True once a stop of this batch is committed."""
    row = read._one("SELECT stopped_at FROM batches WHERE id = ?", [batch_id])
    return row is not None and row[0] is not None


def in_flight_chunk_ids(read: _Reader, batch_id: int) -> set[int]:
    """Ids of the batch's chunks with an attempt recorded and not yet answered."""
    sql = (
        "SELECT DISTINCT a.chunk_id FROM attempts a JOIN chunks c ON c.id = a.chunk_id "
        "WHERE c.batch_id = ? AND a.finished_at IS NULL"
    )
    return {int(r[0]) for r in read._rows(sql, [batch_id])}


def close_stopped_chunk(tx: Tx, chunk_id: int, now: float, reason: str) -> bool:
    """Close an open chunk as stopped (never submitted); False if it was no longer open."""
    sql = (
        "UPDATE chunks SET state = ?, stopped_at = ?, reason = ?, description = ?, "
        "finished_at = ?, next_attempt_at = NULL, reported_at = ? WHERE id = ? AND state IN (?, ?)"
    )
    # reported_at: a stopped chunk gets no thread message of its own; the stop's message and
    # the batch's FINISHED report (which counts the stopped messages) cover it.
    values = [STOPPED_STATE, now, reason, reason, now, now, chunk_id, *OPEN_CHUNK_STATES]
    return tx._run(sql, values) == 1
