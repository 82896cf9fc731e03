"""Closing the chunks of a stopped batch, and its end: used by the stop itself and the sender.

A stop closes, in its own transaction, every chunk with no attempt in flight; a chunk in flight
finishes (a request cannot be recalled) and is closed by the sender afterwards if it would be
tried again. A chunk whose earlier attempt may have been processed unseen (a timeout, a crash)
is never called "stopped": it becomes "outcome unknown", as it would after the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.model import BatchState, Progress
from bot.sending.steps import UNKNOWN_REASON, chunk_report, final_state, finished_report, summary
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.records import BatchHeader, ChunkRecord
from bot.store.stops import close_stopped_chunk, in_flight_chunk_ids, is_stopped

Audit = Callable[..., None]  # (tx, event, batch, chunk, **detail)


def stopped_reason(actor: str | None) -> str:
    """Why a chunk was not submitted: who stopped the batch."""
    who = f"<@{actor}>" if actor else "someone"
    return f"stopped by {who} before it was submitted"


def audit_as(actor: str, at: float) -> Audit:
    """An audit writer for one actor and time (the sender's or the person's)."""

    def write(
        tx: Tx, event: AuditEvent, batch: BatchHeader, chunk: ChunkRecord | None, **detail: Any
    ) -> None:
        tx.audit(
            event,
            at=at,
            actor=actor,
            batch_id=batch.id,
            chunk_index=None if chunk is None else chunk.index,
            channel_id=batch.channel_id,
            detail=detail,
        )

    return write


def close_chunk(tx: Tx, batch: BatchHeader, chunk: ChunkRecord, now: float, audit: Audit) -> bool:
    """Close one open chunk of a stopped batch: stopped, or unknown if it may have gone."""
    ambiguous, _ = tx.attempt_history(chunk.id)
    if not ambiguous:
        reason = stopped_reason(batch.stopped_by)
        if close_stopped_chunk(tx, chunk.id, now, reason):
            audit(tx, AuditEvent.CHUNK_DONE, batch, chunk, outcome="stopped", reason=reason)
            return True
        return False
    why = "the batch was stopped after an attempt that got no answer"
    text = f"{UNKNOWN_REASON} ({why})"
    tx.update_chunk(
        chunk.id, state="unknown", reason=UNKNOWN_REASON, description=text, finished_at=now
    )
    audit(
        tx,
        AuditEvent.OUTCOME_UNKNOWN,
        batch,
        chunk,
        reason=UNKNOWN_REASON,
        why=why,
        stop_dup_id=chunk.stop_dup_id,
        attempts=chunk.attempts,
    )
    return True


def close_open_chunks(tx: Tx, batch: BatchHeader, now: float, audit: Audit) -> list[Progress]:
    """Close every open chunk with no attempt in flight; the reports of those now unknown."""
    flying = in_flight_chunk_ids(tx, batch.id)
    chunks = tx.chunks(batch.id)
    events = []
    for chunk in chunks:
        open_now = chunk.state in ("queued", "sending") and chunk.id not in flying
        if open_now and close_chunk(tx, batch, chunk, now, audit):
            closed = tx.chunk(chunk.id)
            if closed.stopped_at is None:  # unknown: reported on its own, like any unknown
                events.append(chunk_report(closed, len(chunks)))
    return events


def finish_if_closed(tx: Tx, batch: BatchHeader, now: float, audit: Audit) -> list[Progress]:
    """The batch's final state and FINISHED report once no chunk is open."""
    chunks = tx.chunks(batch.id)
    if not chunks or any(c.state in ("queued", "sending") for c in chunks):
        return []
    state = final_state(chunks)
    if not tx.finish_batch(batch.id, state, now):
        return []
    outcomes = [[c.index, c.state, c.status_code, c.eapi_batch_id] for c in chunks]
    audit(
        tx,
        AuditEvent.BATCH_FINISHED,
        batch,
        None,
        state=state.value,
        summary=summary(chunks),
        chunks_index_state_status_batch_id=outcomes,
    )
    return [finished_report(batch.id, state, chunks)]


def close_if_stopped(store: Store, batch_id: int, now: float, actor: str) -> list[Progress] | None:
    """The sender's turn on a stopped batch: close what is open; None if it is not stopped."""
    if not is_stopped(store, batch_id):  # a read first: no write transaction per step
        return None
    with store.write() as tx:
        if not is_stopped(tx, batch_id):
            return None
        batch = tx.batch_header(batch_id)
        if batch.state not in (BatchState.APPROVED, BatchState.SENDING):
            return []
        audit = audit_as(actor, now)
        return close_open_chunks(tx, batch, now, audit) + finish_if_closed(tx, batch, now, audit)
