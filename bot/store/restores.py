"""The safety step every restored database gets before anything is sent from it again.

A replica holds the database as of its last sync; whatever the lost machine did after that (the
"lost tail") is gone from the record but may have happened at the EAPI. `make_safe` therefore,
in one write transaction with its audit entries:

- moves the stop_dup_id sequence `margin` ids forward, past any id the lost tail could have
  handed out (a reused id would make the EAPI drop a new submission as a duplicate of the old);
- turns every submission without a recorded answer (a chunk still queued or sending in an
  approved or sending batch) into "outcome unknown", and its batch into `outcome_unknown`: the
  lost tail may have sent it, so it is never sent automatically; the sender reports each one to
  its Slack thread when it starts, as it does every result never confirmed as posted;
- cancels every batch still waiting for approval: the lost tail may have approved and sent it;
- gives the file a new home token (bot.store.home), so the sender accepts it on this machine;
- appends one `restored` audit entry naming the source, the ids skipped and what was changed.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from bot.model import BatchState
from bot.store.audit import AuditEvent
from bot.store.db import ACTIVE, OPEN_CHUNK_STATES, Store, Tx

ACTOR = "restore"
# The default jump of the stop_dup_id sequence at a restore. Every approval takes one id per
# chunk; a lost tail of ten million ids is 100 batches of 100,000 one-message chunks, or
# 400,000 full batches at the default chunk size: far beyond what a tail of seconds (Litestream
# syncs every second) or even of a day of a failing replica can approve. It costs 0.47 % of the
# 2^31 - 1 id space per restore, and ids only need to be unique for the few hours the EAPI
# remembers them, so a later wrap of the sequence is harmless.
DEFAULT_MARGIN = 10_000_000
UNKNOWN_REASON = (
    "outcome unknown — check the EAPI account: the database was restored from a replica "
    "that may have missed this submission's answer"
)
CANCEL_REASON = (
    "cancelled by the restore: the lost part of the database may have approved and sent it; "
    "check the EAPI account, then prepare it again if it was not sent"
)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What the safety step changed."""

    seq_before: int
    seq_after: int
    unknown_chunks: tuple[tuple[int, int, int], ...]  # (batch, chunk index, stop_dup_id)
    unknown_batches: tuple[int, ...]
    cancelled_batches: tuple[int, ...]
    unknown_tests: tuple[int, ...] = ()  # test sends queued or under way: outcome unknown


def make_safe(
    store: Store, *, source: str, now: float, margin: int = DEFAULT_MARGIN
) -> RestoreResult:
    """Apply the safety step (module docstring) in one transaction; returns what it changed."""
    if margin < 1:
        raise ValueError(f"the stop_dup_id margin must be at least 1, got {margin}")
    with store.write() as tx:
        seq_before, seq_after = _skip_ids(tx, margin)
        unknown = _unknown_chunks(tx, now)
        batches = _finish_unknown_batches(tx, sorted({b for b, _, _ in unknown}), now)
        cancelled = _cancel_pending(tx, now)
        tests = _unknown_tests(tx, now)
        claim_home(tx, secrets.token_hex(16), now)
        result = RestoreResult(seq_before, seq_after, tuple(unknown), batches, cancelled, tests)
        _record(tx, source, now, result)
    return result


def claim_home(tx: Tx, token: str, now: float) -> None:
    """Make `token` the database's home token (bot.store.home)."""
    tx._run(  # same package: the store's own statement runner
        "INSERT INTO db_home (id, token, claimed_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET token = excluded.token, claimed_at = excluded.claimed_at",
        [token, now],
    )


def _skip_ids(tx: Tx, margin: int) -> tuple[int, int]:
    row = tx._one("SELECT next_seq FROM stop_dup_sequence WHERE id = 1")
    if row is None:
        raise sqlite3.DatabaseError("the stop_dup_id sequence is missing: the database is damaged")
    before = int(row[0])
    tx._run("UPDATE stop_dup_sequence SET next_seq = next_seq + ? WHERE id = 1", [margin])
    return before, before + margin


def _unknown_chunks(tx: Tx, now: float) -> list[tuple[int, int, int]]:
    """Close open attempts and mark every unanswered chunk of an active batch unknown."""
    rows = tx._rows(
        "SELECT c.id, c.batch_id, c.chunk_index, c.stop_dup_id, c.attempts, b.channel_id "
        "FROM chunks c JOIN batches b ON b.id = c.batch_id "
        "WHERE c.state IN (?, ?) AND b.state IN (?, ?) ORDER BY c.batch_id, c.chunk_index",
        [*OPEN_CHUNK_STATES, *ACTIVE],
    )
    tx._run(
        "UPDATE attempts SET finished_at = ?, outcome = 'interrupted', "
        "error = 'no answer recorded: the database was restored from a replica' "
        "WHERE finished_at IS NULL",
        [now],
    )
    found = []
    for row in rows:
        tx.update_chunk(
            row["id"],
            state="unknown",
            reason=UNKNOWN_REASON,
            description=UNKNOWN_REASON,
            finished_at=now,
            next_attempt_at=None,
        )
        tx.audit(
            AuditEvent.OUTCOME_UNKNOWN,
            at=now,
            actor=ACTOR,
            batch_id=row["batch_id"],
            chunk_index=row["chunk_index"],
            channel_id=row["channel_id"],
            detail={
                "reason": UNKNOWN_REASON,
                "stop_dup_id": row["stop_dup_id"],
                "attempts": row["attempts"],
            },
        )
        found.append((int(row["batch_id"]), int(row["chunk_index"]), int(row["stop_dup_id"])))
    return found


def _finish_unknown_batches(tx: Tx, batch_ids: list[int], now: float) -> tuple[int, ...]:
    for batch_id in batch_ids:
        if tx.finish_batch(batch_id, BatchState.UNKNOWN, now):
            tx.audit(
                AuditEvent.BATCH_FINISHED,
                at=now,
                actor=ACTOR,
                batch_id=batch_id,
                channel_id=tx.batch_header(batch_id).channel_id,
                detail={"state": BatchState.UNKNOWN.value, "summary": UNKNOWN_REASON},
            )
    return tuple(batch_ids)


def _cancel_pending(tx: Tx, now: float) -> tuple[int, ...]:
    rows = tx._rows("SELECT id, channel_id FROM batches WHERE state = ? ORDER BY id", ["pending"])
    cancelled = []
    for row in rows:
        if tx.decide(row["id"], BatchState.CANCELLED, ACTOR, now):
            tx.audit(
                AuditEvent.CANCELLED,
                at=now,
                actor=ACTOR,
                batch_id=row["id"],
                channel_id=row["channel_id"],
                detail={"reason": CANCEL_REASON},
            )
            cancelled.append(int(row["id"]))
    return tuple(cancelled)


def _unknown_tests(tx: Tx, now: float) -> tuple[int, ...]:
    """Test sends queued or under way: the lost tail may have sent them; never sent again."""
    rows = tx._rows("SELECT id FROM test_sends WHERE state IN ('queued', 'sending') ORDER BY id")
    ids = tuple(int(r["id"]) for r in rows)
    tx._run(
        "UPDATE test_sends SET state = 'unknown', finished_at = ?, description = ? "
        "WHERE state IN ('queued', 'sending')",
        [now, UNKNOWN_REASON],
    )
    return ids


def _record(tx: Tx, source: str, now: float, result: RestoreResult) -> None:
    tx._run(
        "INSERT INTO restores (restored_at, source, stop_dup_seq_before, stop_dup_seq_after, "
        "unknown_chunks, unknown_batches, cancelled_batches) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            now,
            source,
            result.seq_before,
            result.seq_after,
            len(result.unknown_chunks),
            len(result.unknown_batches),
            len(result.cancelled_batches),
        ],
    )
    detail: dict[str, Any] = {
        "source": source,
        "stop_dup_seq_before": result.seq_before,
        "stop_dup_seq_after": result.seq_after,
        "unknown_chunks": [list(c) for c in result.unknown_chunks],
        "unknown_batches": list(result.unknown_batches),
        "cancelled_batches": list(result.cancelled_batches),
        "unknown_tests": list(result.unknown_tests),
    }
    tx.audit(AuditEvent.RESTORED, at=now, actor=ACTOR, detail=detail)
