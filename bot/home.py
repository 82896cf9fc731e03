"""The Home tab's read model: the sender's state, the queue and the latest batches, in one read.

Delivery counts and the suppression list's size come from their own services
(`delivery_by_batch` here, `ConsentService.size`); the Home view builder shows them when given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.model import BatchState, DeliveryCounts
from bot.store.db import Store
from bot.store.home_tab import active_batch_ids, last_answer
from bot.store.records import BatchHeader

HEARTBEAT_FRESH_SECONDS = 30.0  # the sender beats every 5 s; three missed beats and more: down
LATEST = 10


@dataclass(frozen=True, slots=True)
class Delivery:
    """Delivery counts of one batch, when delivery reports are known."""

    delivered: int
    failed: int
    pending: int


@dataclass(frozen=True, slots=True)
class SenderStatus:
    """Whether the one sender runs, who holds its lease, and the EAPI's last answer."""

    running: bool
    problem: str | None  # why it is not running, in words
    owner: str | None
    last_status_code: int | None
    last_answer_at: float | None


@dataclass(frozen=True, slots=True)
class HomeBatch:
    """One batch as a Home tab line."""

    id: int
    state: BatchState
    recipients: int
    credits: Decimal
    prepared_by: str
    decided_by: str | None
    created_at: float
    queue_position: int | None
    stopped: bool
    simulated: bool


@dataclass(frozen=True, slots=True)
class HomeSnapshot:
    """Everything the Home tab shows that the database knows."""

    sender: SenderStatus
    queue: tuple[HomeBatch, ...]  # active batches in sending order
    latest: tuple[HomeBatch, ...]  # the newest batches of the workspace


def _line(batch: BatchHeader, position: int | None) -> HomeBatch:
    return HomeBatch(
        id=batch.id,
        state=batch.state,
        recipients=batch.summary.recipients,
        credits=batch.summary.credits,
        prepared_by=batch.prepared_by,
        decided_by=batch.decided_by,
        created_at=batch.created_at,
        queue_position=position,
        stopped=batch.stopped_at is not None,
        simulated=batch.simulated,
    )


def _sender(store: Store, now: float) -> SenderStatus:
    health = store.health(now)
    problem = health.problem(HEARTBEAT_FRESH_SECONDS)
    answer = last_answer(store)
    return SenderStatus(
        running=problem is None,
        problem=problem,
        owner=health.sender_owner,
        last_status_code=None if answer is None else answer[0],
        last_answer_at=None if answer is None else answer[1],
    )


def home_snapshot(store: Store, now: float, latest: int = LATEST) -> HomeSnapshot:
    """The Home tab's data as it is now."""
    sender = _sender(store, now)
    with store.snapshot() as read:
        queue = [
            _line(read.batch_header(i), position)
            for position, i in enumerate(active_batch_ids(read), start=1)
        ]
        recent = [_line(b, read.queue_position(b.id)) for b in read.recent(latest)]
    return HomeSnapshot(sender, tuple(queue), tuple(recent))


def delivery_by_batch(
    counts: Callable[[int], DeliveryCounts | None],
) -> Callable[[Sequence[int]], Mapping[int, Delivery]]:
    """The Home tab's delivery figures: each listed batch's counts, for those with reports."""

    def read(batch_ids: Sequence[int]) -> Mapping[int, Delivery]:
        found = {}
        for batch_id in batch_ids:
            known = counts(batch_id)
            if known is not None:
                found[batch_id] = Delivery(known.delivered, known.failed, known.pending)
        return found

    return read
