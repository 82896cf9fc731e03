"""What the Slack layer sees of a batch: frozen views built from the store's records.

`bot.service` re-exports these names; the Slack layer imports them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.model import BatchPlan, BatchState, Dca
from bot.records import BatchRecord, ChunkRecord


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked for a batch, and where its preview goes."""

    user_id: str
    channel_id: str
    thread_ts: str | None = None  # where the preview goes (the upload's ts / thread)
    source: str = "paste"  # "upload" | "paste" | "modal" | "cli"
    file_id: str | None = None
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class ChunkView:
    """One submission of a batch, as a person should see it."""

    index: int
    messages: int
    dca: Dca
    state: str  # "queued" | "sending" | "accepted" | "scheduled" | "failed" | "unknown"
    stop_dup_id: int
    attempts: int
    status_code: int | None
    description: str | None
    eapi_batch_id: int | None


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch with its plan, decision, chunks and place in the queue."""

    id: int
    state: BatchState
    plan: BatchPlan
    digest: str
    prepared_by: str
    channel_id: str
    thread_ts: str | None
    card_ts: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    chunks: tuple[ChunkView, ...]
    queue_position: int | None  # 1 = next to send (nothing ahead), for approved batches
    file_name: str | None
    simulated: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of an Approve or Cancel click."""

    ok: bool
    batch: BatchView
    reason: str  # why refused, in words for the user ("" when ok)


def when_text(timestamp: float) -> str:
    """Unix seconds as '2025-01-31 14:05:09 UTC'."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _chunk_view(chunk: ChunkRecord) -> ChunkView:
    return ChunkView(
        index=chunk.index,
        messages=chunk.messages,
        dca=chunk.dca,
        state=chunk.state,
        stop_dup_id=chunk.stop_dup_id,
        attempts=chunk.attempts,
        status_code=chunk.status_code,
        description=chunk.description or chunk.reason,
        eapi_batch_id=chunk.eapi_batch_id,
    )


def batch_view(batch: BatchRecord, chunks: list[ChunkRecord], position: int | None) -> BatchView:
    """The view of a batch with its chunks and queue position."""
    decided = batch.decided_at
    return BatchView(
        id=batch.id,
        state=batch.state,
        plan=batch.plan,
        digest=batch.digest,
        prepared_by=batch.prepared_by,
        channel_id=batch.channel_id,
        thread_ts=batch.thread_ts,
        card_ts=batch.card_ts,
        created_at=datetime.fromtimestamp(batch.created_at, UTC),
        decided_by=batch.decided_by,
        decided_at=None if decided is None else datetime.fromtimestamp(decided, UTC),
        chunks=tuple(_chunk_view(c) for c in chunks),
        queue_position=position,
        file_name=batch.file_name,
        simulated=batch.simulated,
    )
