"""The last check before a submission's first attempt: numbers suppressed since approval go.

Before a chunk is sent for the first time, its numbers are looked up on the suppression list.
Listed ones are dropped: the chunk's parameters are rebuilt from the approved plan, keeping its
stop_dup_id and every other field, without those rows, and stored with their new SHA-256 in
the same transaction as the `submission_trimmed` audit entry that names the numbers. A chunk
left with no row is closed (failed, reason given) without a request. A chunk that was attempted
before is never changed: a resend must carry the body its stop_dup_id already covers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.codec import params_to_json, sha256_hex
from bot.eapi.batchcsv import BatchRow, row_msisdns, send_batch_params
from bot.model import Progress, ProgressKind
from bot.sending.notify import Notifier
from bot.store import suppression
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.records import BatchHeader, ChunkRecord

logger = logging.getLogger(__name__)

ACTOR = "sender"
ALL_DROPPED = "not sent: every number of this submission is on the suppression list"


class SuppressionGate:
    """Drops numbers suppressed since approval from a chunk before its first attempt."""

    def __init__(self, store: Store, notifier: Notifier, clock: Callable[[], float]) -> None:
        self.store = store
        self.notifier = notifier
        self.clock = clock

    def trim(self, batch: BatchHeader, chunk: ChunkRecord, params: dict[str, str]) -> bool:
        """True when the chunk was changed (re-read it before sending), False when it is clean
        or was attempted before (`params`: its stored parameters, checked and decoded)."""
        if chunk.attempts or not suppression.any_listed(self.store):
            return False
        numbers = row_msisdns(params.get("batch_data", ""))
        listed = suppression.listed_among(self.store, numbers)
        if not listed:
            return False
        with self.store.write() as tx:
            changed = self._rebuild(tx, batch, chunk, set(numbers), listed)
        if changed:
            dropped = sum(1 for n in numbers if n in listed)
            self.notifier.notify(
                Progress(
                    ProgressKind.DROPPED,
                    batch.id,
                    chunk_index=chunk.index,
                    chunk_count=batch.summary.chunks,
                    dropped=dropped,
                    description=None if dropped < len(numbers) else ALL_DROPPED,
                )
            )
        return changed

    def _rebuild(
        self,
        tx: Tx,
        batch: BatchHeader,
        chunk: ChunkRecord,
        current: set[str],
        listed: frozenset[str],
    ) -> bool:
        plan = tx.stored_plan(batch.id, batch.digest)
        by_line = {m.line: m for m in plan.messages}
        planned = plan.chunks[chunk.index]
        kept = [
            by_line[line]
            for line in planned.lines
            if by_line[line].msisdn in current and by_line[line].msisdn not in listed
        ]
        now = self.clock()
        detail = {
            "dropped": sorted(current & listed),
            "messages_before": chunk.messages,
            "messages_after": len(kept),
            "stop_dup_id": chunk.stop_dup_id,
            "old_params_sha256": chunk.params_sha256,
        }
        if not kept:
            return self._close(tx, batch, chunk, now, detail)
        rows = [BatchRow(m.msisdn, m.text, m.overrides) for m in kept]
        params = send_batch_params(
            rows,
            planned.dca,
            plan.options,
            stop_dup_id=chunk.stop_dup_id,
            max_parts=plan.max_parts,
        )
        text = params_to_json(params)
        sha = sha256_hex(text)
        if not suppression.trim_chunk(tx, chunk.id, text, sha, len(rows)):
            return False
        self._audit(tx, batch, chunk, now, detail | {"new_params_sha256": sha})
        return True

    def _close(
        self, tx: Tx, batch: BatchHeader, chunk: ChunkRecord, now: float, detail: dict[str, object]
    ) -> bool:
        """Nothing left to send: the chunk is final without a request (its report is the
        thread message about the drop, so it counts as reported)."""
        current = tx.chunk(chunk.id)
        if current.attempts or current.state != "queued":
            return False
        tx.update_chunk(
            chunk.id,
            state="failed",
            reason=ALL_DROPPED,
            description=ALL_DROPPED,
            finished_at=now,
            reported_at=now,
        )
        self._audit(tx, batch, chunk, now, detail | {"outcome": "skipped"})
        return True

    def _audit(
        self, tx: Tx, batch: BatchHeader, chunk: ChunkRecord, now: float, detail: dict[str, object]
    ) -> None:
        tx.audit(
            AuditEvent.SUBMISSION_TRIMMED,
            at=now,
            actor=ACTOR,
            batch_id=batch.id,
            chunk_index=chunk.index,
            channel_id=batch.channel_id,
            detail=detail,
        )
