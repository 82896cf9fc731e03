"""Stopping an approved batch: who may, the one atomic stop, and what it leaves.

The rules: the batch's preparer or an approver may stop it, while it is approved or sending and
not stopped yet; anyone else is refused (audit `stop_refused`). The stop is one write
transaction: the batch is marked stopped, every chunk without an attempt in flight is closed
(never submitted), the `stopped` audit entry is written, and the batch is finished when nothing
is left in flight. A submission in flight finishes and is reported (it cannot be recalled);
the sender starts no submission of a stopped batch (it checks in the transaction that records
each attempt). Submissions the EAPI accepted with a `send_time` are scheduled at BulkSMS:
the app cannot stop those, and the result says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.model import BatchState, Progress
from bot.sending.notify import Notifier
from bot.sending.stopping import audit_as, close_open_chunks, finish_if_closed
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.records import BatchHeader, ChunkRecord
from bot.store.stops import in_flight_chunk_ids, record_stop
from bot.views import when_text


@dataclass(frozen=True, slots=True)
class StopResult:
    """What a Stop click did: refused (with the reason), or the batch's messages by fate."""

    ok: bool
    batch_id: int
    reason: str = ""  # why refused ("" when ok); names users as <@U…>
    sent: int = 0  # messages in submissions the EAPI accepted before the stop
    in_flight: int = 0  # messages in a submission under way at the stop: it finishes
    stopped: int = 0  # messages that will not be sent
    scheduled: int = 0  # messages accepted with a send_time: waiting at BulkSMS, not stoppable


def stop_refusal(batch: BatchHeader, allowed: bool) -> str | None:
    """Why this batch cannot be stopped now (None when it can)."""
    if not allowed:
        return f"only the person who prepared batch {batch.id} or an approver can stop it"
    if batch.stopped_at is not None:
        return (
            f"batch {batch.id} was already stopped by <@{batch.stopped_by}> at "
            f"{when_text(batch.stopped_at)}"
        )
    if batch.state is BatchState.PENDING:
        return f"batch {batch.id} is still waiting for approval: cancel it instead"
    if batch.state.final and batch.options.send_at:
        return (
            f"batch {batch.id} was submitted with a send time: what the EAPI accepted waits at "
            "BulkSMS and the app cannot stop it; cancel it in the BulkSMS account"
        )
    if batch.state.final:
        state = batch.state.value.replace("_", " ")
        return f"batch {batch.id} has finished ({state}): nothing is left to stop"
    return None


def _fates(chunks: list[ChunkRecord], flying: set[int]) -> dict[str, int]:
    """Messages by what happens to them, from the chunks as the stop left them."""
    sent = sum(c.messages for c in chunks if c.state == "accepted")
    scheduled = sum(c.messages for c in chunks if c.state == "scheduled")
    in_flight = sum(c.messages for c in chunks if c.id in flying)
    stopped = sum(c.messages for c in chunks if c.stopped_at is not None)
    return {"sent": sent, "scheduled": scheduled, "in_flight": in_flight, "stopped": stopped}


class Stops:
    """The Stop use case, over the store; the Slack layer renders its `StopResult`."""

    def __init__(
        self,
        store: Store,
        *,
        is_approver: Callable[[str], bool],
        notifier: Notifier,
        wake_sender: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._is_approver = is_approver
        self._notifier = notifier
        self._wake_sender = wake_sender
        self._clock = clock

    def stop(self, batch_id: int, actor: str) -> StopResult:
        """Stop the rest of an approved batch (BatchNotFound for an unknown id)."""
        header = self.store.batch_header(batch_id)
        allowed = actor == header.prepared_by or self._is_approver(actor)
        now = self._clock()
        with self.store.write() as tx:
            batch = tx.batch_header(batch_id)
            reason = stop_refusal(batch, allowed)
            if reason is None and not record_stop(tx, batch_id, actor, now):
                reason = f"batch {batch_id} cannot be stopped now"  # refusal covers every case
            if reason is not None:
                self._refused(tx, batch, actor, now, reason)
                return StopResult(False, batch_id, reason)
            result, events = self._stopped(tx, tx.batch_header(batch_id), actor, now)
        for event in events:
            self._notifier.notify(event)
        self._wake_sender()
        return result

    def _stopped(
        self, tx: Tx, batch: BatchHeader, actor: str, now: float
    ) -> tuple[StopResult, list[Progress]]:
        """Close what is not in flight, audit the stop with its figures, finish if done."""
        flying = in_flight_chunk_ids(tx, batch.id)
        audit = audit_as("sender", now)
        events = close_open_chunks(tx, batch, now, audit)
        chunks = tx.chunks(batch.id)
        fates = _fates(chunks, flying)
        in_flight = [c.index for c in chunks if c.id in flying]
        tx.audit(
            AuditEvent.STOPPED,
            at=now,
            actor=actor,
            batch_id=batch.id,
            channel_id=batch.channel_id,
            detail={"messages": fates, "chunks_in_flight": in_flight},
        )
        events += finish_if_closed(tx, batch, now, audit)
        result = StopResult(
            True,
            batch.id,
            sent=fates["sent"],
            in_flight=fates["in_flight"],
            stopped=fates["stopped"],
            scheduled=fates["scheduled"],
        )
        return result, events

    def _refused(self, tx: Tx, batch: BatchHeader, actor: str, now: float, reason: str) -> None:
        tx.audit(
            AuditEvent.STOP_REFUSED,
            at=now,
            actor=actor,
            batch_id=batch.id,
            channel_id=batch.channel_id,
            detail={"reason": reason, "state": batch.state.value},
        )
