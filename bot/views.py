"""What the Slack layer sees of a batch: frozen views built from the store's records.

`bot.service` re-exports these names; the Slack layer imports them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import overload

from bot.intake.summary import PlanSummary, summarise
from bot.model import BatchPlan, BatchState, Dca
from bot.store.records import BatchHeader, ChunkRecord


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
    stopped: bool = False  # closed by a stop: never submitted


PlanSource = BatchPlan | Callable[[], BatchPlan]


class _PlanField:
    """`BatchView.plan`: given as a plan, or as a function that reads it on first use.

    A view read from the store carries its summary (from columns) and a function that decodes
    the plan only if someone asks: cards, status lines and notices never do, and decoding every
    message of a 30,000-row batch holds the interpreter for a quarter of a second.
    """

    def __get__(self, view: BatchView | None, owner: type | None = None) -> BatchPlan:
        if view is None:
            raise AttributeError("plan")  # no default: every view is made with its plan
        value = view.__dict__["_plan"]
        if isinstance(value, BatchPlan):
            return value
        plan: BatchPlan = value()
        view.__dict__["_plan"] = plan  # two threads may both decode; either result is the same
        return plan

    def __set__(self, view: BatchView, value: PlanSource) -> None:
        view.__dict__["_plan"] = value


class _SummaryField:
    """`BatchView.summary`: as read from the store, or (when not given) made from the plan."""

    @overload
    def __get__(self, view: None, owner: type | None = None) -> None: ...

    @overload
    def __get__(self, view: BatchView, owner: type | None = None) -> PlanSummary: ...

    def __get__(self, view: BatchView | None, owner: type | None = None) -> PlanSummary | None:
        if view is None:
            return None  # the field's default
        value: PlanSummary | None = view.__dict__["_summary"]
        if value is None:
            value = summarise(view.plan)
            view.__dict__["_summary"] = value
        return value

    def __set__(self, view: BatchView, value: PlanSummary | None) -> None:
        view.__dict__["_summary"] = value


@dataclass(frozen=True, repr=False)
class BatchView:
    """A batch with its plan, decision, chunks and place in the queue.

    `summary` has everything a card or a status line shows; `plan` (every message) is decoded
    from the store only when it is used.
    """

    id: int
    state: BatchState
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
    plan: _PlanField = _PlanField()  # required: a BatchPlan, or a function returning it
    summary: _SummaryField = _SummaryField()  # None (the default): made from the plan
    stopped_by: str | None = None  # who stopped the rest of it after approval, if anyone
    stopped_at: datetime | None = None

    def __repr__(self) -> str:
        """The batch's id, state and digest (never its messages: that would decode them)."""
        return f"BatchView(id={self.id}, state={self.state.value}, digest={self.digest[:12]}…)"


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
        stopped=chunk.stopped_at is not None,
    )


def batch_view(
    batch: BatchHeader, chunks: list[ChunkRecord], position: int | None, plan: PlanSource
) -> BatchView:
    """The view of a batch with its chunks, queue position and plan (or a function reading it)."""
    decided = batch.decided_at
    return BatchView(
        id=batch.id,
        state=batch.state,
        plan=plan,
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
        summary=batch.summary,
        stopped_by=batch.stopped_by,
        stopped_at=None
        if batch.stopped_at is None
        else datetime.fromtimestamp(batch.stopped_at, UTC),
    )
