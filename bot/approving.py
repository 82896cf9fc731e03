"""The approval transaction: check, fix every chunk and its stop_dup_id, record who approved.

Approving a 100,000-row batch decodes its whole plan, builds every submission's parameters and
writes a row per message: about a second of CPU. The app runs it in the upload checker's worker
process (`approve_at`, given the database's path: the worker opens its own connection, and
SQLite's write lock orders it with every other writer), so the Slack-facing process spends
only the click's read and reply on it; tests and the CLI run `approve_in` in their own process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.codec import params_to_json, sha256_hex
from bot.eapi.client import BatchRow, send_batch_params
from bot.eapi.reports import row_references
from bot.model import BatchState, Message
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.records import BatchHeader, BatchRecord, NewChunk
from bot.store.reports import Recipient, add_recipients
from bot.views import when_text

Planned = list[tuple[NewChunk, list[Recipient]]]
T = TypeVar("T")


class Offload(Protocol):
    """Runs picklable work elsewhere and returns its result (`PoolPlanner.run_or_here`)."""

    def __call__(self, work: Callable[..., T], /, *args: Any) -> T: ...


@dataclass(frozen=True, slots=True)
class Approval:
    """One click on Approve, with what the app knows of its settings and the clicker."""

    batch_id: int
    actor: str
    digest: str
    now: float
    approver: bool  # the actor is an approver
    approvers_set: bool  # SMSBATCH_APPROVERS names anyone
    self_approval: bool  # SMSBATCH_SELF_APPROVAL


def decided_reason(batch: BatchHeader) -> str:
    """Why a batch can no longer be decided: who decided it, and when."""
    if batch.state is BatchState.PENDING:
        return f"batch {batch.id} is still waiting for approval"
    when = when_text(batch.decided_at) if batch.decided_at is not None else "an unknown time"
    if batch.state is BatchState.EXPIRED:
        return f"batch {batch.id} expired at {when} without approval; prepare it again"
    if batch.state is BatchState.CANCELLED:
        return f"batch {batch.id} was already cancelled by <@{batch.decided_by}> at {when}"
    return f"batch {batch.id} was already approved by <@{batch.decided_by}> at {when}"


def approval_problem(batch: BatchHeader, click: Approval) -> str | None:
    """Why this click cannot approve the batch, or None."""
    if not click.approver:
        if not click.approvers_set:
            return "nobody can approve batches yet: set SMSBATCH_APPROVERS"
        return "you are not an approver: ask someone listed in SMSBATCH_APPROVERS"
    if click.actor == batch.prepared_by and not click.self_approval:
        return (
            f"you prepared batch {batch.id}, so another approver must approve it "
            "(SMSBATCH_SELF_APPROVAL is off)"
        )
    if batch.state is not BatchState.PENDING:
        return decided_reason(batch)
    if click.digest != batch.digest:
        return (
            f"batch {batch.id} has changed since this preview was drawn (its options were "
            "edited): check the updated preview and approve that one"
        )
    if not batch.summary.recipients:
        return f"batch {batch.id} has no message to send: every row was rejected or a duplicate"
    return None


def approve_in(store: Store, click: Approval) -> str | None:
    """Approve exactly what the preview showed, in one write transaction with its audit entry;
    None when approved, else the reason (recorded as `approval_refused`)."""
    with store.write() as tx:
        batch = tx.batch_header(click.batch_id)
        reason = approval_problem(batch, click)
        planned: Planned = []
        if reason is None:  # only now every message is needed (a refusal never decodes)
            try:
                planned = _materialise(tx, tx.batch(click.batch_id))
            except ValueError as exc:
                reason = f"batch {batch.id} cannot be submitted as it is: {exc}"
            if reason is None and not planned:
                reason = f"batch {batch.id} has no submission planned; prepare it again"
        decided = reason is None and tx.decide(
            batch.id, BatchState.APPROVED, click.actor, click.now, click.digest
        )
        if decided:
            for chunk, sent in planned:
                tx.insert_chunk(batch.id, chunk)
                add_recipients(tx, batch.id, chunk.index, sent)
            detail = _approval_detail(batch, [chunk for chunk, _ in planned])
        else:
            reason = reason or decided_reason(tx.batch_header(batch.id))
            detail = {"reason": reason, "digest": click.digest}
        tx.audit(
            AuditEvent.APPROVED if decided else AuditEvent.APPROVAL_REFUSED,
            at=click.now,
            actor=click.actor,
            batch_id=batch.id,
            channel_id=batch.channel_id,
            detail=detail,
        )
    return reason


def approve_at(db_path: str, click: Approval) -> str | None:
    """`approve_in` on the database at this path, with a connection of this process's own."""
    store = Store.open(Path(db_path), create=False)
    try:
        return approve_in(store, click)
    finally:
        store.close()


def approve_by(offload: Offload) -> Callable[[Store, Approval], str | None]:
    """`BatchService`'s approval run by `offload` (the worker) on the store's file."""

    def approve(store: Store, click: Approval) -> str | None:
        return offload(approve_at, str(store.path), click)

    return approve


def _materialise(tx: Tx, batch: BatchRecord) -> Planned:
    """Every chunk's final parameters (each with a newly allocated stop_dup_id) and its
    recipients as sent (for delivery reports)."""
    by_line = {m.line: m for m in batch.plan.messages}
    chunks = []
    for planned in batch.plan.chunks:
        rows = _rows_with_references([by_line[line] for line in planned.lines])
        stop_dup_id = tx.allocate_stop_dup_id()
        params = send_batch_params(
            rows,
            planned.dca,
            batch.plan.options,
            stop_dup_id=stop_dup_id,
            max_parts=batch.plan.max_parts,  # the limit the preview was checked against
        )
        text = params_to_json(params)
        chunk = NewChunk(planned.index, planned.dca, len(rows), text, sha256_hex(text), stop_dup_id)
        sent = [
            Recipient(line, row.msisdn, dict(row.overrides).get("source_id"))
            for line, row in zip(planned.lines, rows, strict=True)
        ]
        chunks.append((chunk, sent))
    return chunks


def _rows_with_references(messages: list[Message]) -> list[BatchRow]:
    """The submission's rows; a number repeated in it gets our source_id (`row_references`)."""
    keys = [(m.line, m.msisdn, dict(m.overrides).get("source_id")) for m in messages]
    rows = []
    for message, (_, _, own), ref in zip(messages, keys, row_references(keys), strict=True):
        extra = (("source_id", ref),) if ref is not None and own is None else ()
        rows.append(BatchRow(message.msisdn, message.text, message.overrides + extra))
    return rows


def _approval_detail(batch: BatchHeader, chunks: list[NewChunk]) -> dict[str, object]:
    return {
        "digest": batch.digest,
        "prepared_by": batch.prepared_by,
        "recipients": batch.summary.recipients,
        "parts": batch.summary.parts,
        "credits": str(batch.summary.credits),
        "chunks": [
            {
                "index": c.index,
                "dca": c.dca.value,
                "messages": c.messages,
                "stop_dup_id": c.stop_dup_id,
                "params_sha256": c.params_sha256,
            }
            for c in chunks
        ],
    }
