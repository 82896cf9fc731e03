"""Side work the sender interleaves with submissions: one EAPI request per turn, never two.

Delivery-report fetches and inbox reads go through the sender's one connection (BulkSMS asks
for one connection at a time, and the client allows one request in flight). A `SideTask` says
when it next wants a turn; the sender gives it one only when no submission is ready to go, so a
waiting submission always goes first. A task makes at most one EAPI request per `run` and keeps
its own schedule in the database, so a restart resumes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SideTask(Protocol):
    """Work the sender runs between submissions (see the module docstring)."""

    name: str

    def next_due(self, now: float) -> float | None:
        """When this task next wants a turn (a time in the past: now); None when it has none."""
        ...

    def run(self, now: float) -> None:
        """Take one turn: at most one EAPI request, its result stored before returning."""
        ...


def earliest(tasks: Sequence[SideTask], now: float) -> tuple[SideTask | None, float | None]:
    """The task due first and when it is due (`None, None` when none has work)."""
    best: SideTask | None = None
    best_due: float | None = None
    for task in tasks:
        due = task.next_due(now)
        if due is not None and (best_due is None or due < best_due):
            best, best_due = task, due
    return best, best_due
