"""Counts for the metrics endpoint, read from the database at scrape time.

Reading them from the tables (not from counters kept in memory) makes them survive restarts and
agree with `audit` and `status`: every count here only grows, except the gauges of `health`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.store.db import Store
from bot.store.records import HealthSnapshot


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What the metrics collector reads in one scrape."""

    batches_by_state: Mapping[str, int]
    answers_by_status: Mapping[int | None, int]  # None: an attempt that got no EAPI status
    retries: int  # attempts after a chunk's first, whatever made them necessary
    health: HealthSnapshot


def store_stats(store: Store, now: float) -> StoreStats:
    """Batches by state, finished attempts by EAPI status code, retries, and `health`."""
    with store.snapshot() as read:
        states = read._rows("SELECT state, COUNT(*) FROM batches GROUP BY state")
        answers = read._rows(
            "SELECT status_code, COUNT(*) FROM attempts WHERE finished_at IS NOT NULL "
            "GROUP BY status_code"
        )
        retries = read._one("SELECT COUNT(*) FROM attempts WHERE number > 1")
    return StoreStats(
        batches_by_state={str(r[0]): int(r[1]) for r in states},
        answers_by_status={(None if r[0] is None else int(r[0])): int(r[1]) for r in answers},
        retries=0 if retries is None else int(retries[0]),
        health=store.health(now),
    )
