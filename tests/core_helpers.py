"""Shared parts for the core's tests: a fake clock, a recording notifier, a service on a temp DB."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.eapi.client import EapiClient
from bot.intake.pricing import PriceTable
from bot.model import Progress, ProgressKind, SendOptions
from bot.sending.notify import is_final_report
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from bot.service import BatchService, Origin
from bot.store.db import Store

PREPARER = "U0PREPARER"
APPROVER = "U0APPROVER"
OTHER_APPROVER = "U0APPROVER2"
CHANNEL = "C0CHANNEL"


def csv_rows(count: int, text: str = "Hello {i}") -> bytes:
    """A valid upload of `count` GB mobile numbers, each with its own text."""
    lines = ["msisdn,message"]
    lines += [f"4474001{i:05d},{text.format(i=i)}" for i in range(count)]
    return ("\n".join(lines) + "\n").encode("utf-8")


class FakeClock:
    """Unix time that moves only when told; `sleep` advances it instead of waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        with self._lock:
            self.now += seconds


class RecordingNotifier:
    """Keeps every progress report, thread-safely, for assertions.

    Like the Slack notifier it confirms each final result (`mark`, bound by `make_core` to
    `BatchService.mark_reported`) unless made with `confirm=False`: one that drops them.
    """

    def __init__(self, *, confirm: bool = True) -> None:
        self.events: list[Progress] = []
        self.confirm = confirm
        self.mark: Callable[[int, int | None], object] | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def notify(self, event: Progress) -> None:
        """Record the report (after confirming it, when it is a final result)."""
        if self.confirm and self.mark is not None and is_final_report(event):
            self.mark(event.batch_id, event.chunk_index)
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: ProgressKind) -> list[Progress]:
        """The reports of one kind, in order."""
        with self._lock:
            return [e for e in self.events if e.kind is kind]

    def wait_for(self, test: Callable[[list[Progress]], bool], timeout: float = 10.0) -> bool:
        """Block until `test(events)` holds (True) or the timeout passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: test(list(self.events)), timeout)


@dataclass
class Core:
    """A store, a service and the parts around them, on one temporary database."""

    store: Store
    service: BatchService
    notifier: RecordingNotifier
    settings: Settings
    clock: Callable[[], float]
    approvers: set[str] = field(default_factory=lambda: {APPROVER, OTHER_APPROVER})
    wakers: list[Callable[[], None]] = field(default_factory=list)  # called on each approval

    def prepare(self, data: bytes | None = None, **options: Any) -> int:
        """A pending batch prepared by PREPARER in CHANNEL; returns its id."""
        view = self.service.prepare(
            data if data is not None else csv_rows(2),
            SendOptions(**options),
            Origin(PREPARER, CHANNEL, thread_ts="1700000000.000100", source="upload"),
        )
        return view.id

    def approved(self, data: bytes | None = None, **options: Any) -> int:
        """A batch prepared and approved by APPROVER; returns its id."""
        batch_id = self.prepare(data, **options)
        decision = self.service.approve(batch_id, APPROVER, self.service.get(batch_id).digest)
        assert decision.ok, decision.reason
        return batch_id

    def sender(
        self, client: EapiClient, policy: RetryPolicy | None = None, **kwargs: Any
    ) -> Sender:
        """A Sender on this store with this notifier and clock (and no real waiting)."""
        kwargs.setdefault("dedup_window_seconds", self.settings.dedup_window_seconds)
        kwargs.setdefault("pending_ttl_seconds", self.settings.pending_ttl_seconds)
        kwargs.setdefault("clock", self.clock)
        return Sender(
            self.store,
            client,
            self.notifier,
            policy or RetryPolicy.from_settings(self.settings),
            **kwargs,
        )


def make_core(
    db: Path,
    clock: Callable[[], float] | None = None,
    notifier: RecordingNotifier | None = None,
    **settings: Any,
) -> Core:
    """A Core on a new SQLite file; `settings` override the test defaults."""
    base = Settings(
        approvers=(APPROVER, OTHER_APPROVER),
        db_path=db,
        retry_base_seconds=0.01,
        retry_cap_seconds=0.05,
    )
    config = replace(base, **settings)
    store = Store.open(db)
    notifier = notifier or RecordingNotifier()
    approvers = {APPROVER, OTHER_APPROVER}
    wakers: list[Callable[[], None]] = []

    def wake_all() -> None:
        """Wake every registered sender."""
        for wake in wakers:
            wake()

    now = clock or time.time
    service = BatchService(
        store,
        config,
        PriceTable.load(None),
        is_approver=lambda user: user in approvers,
        notifier=notifier,
        wake_sender=wake_all,
        clock=now,
    )
    if notifier.mark is None:
        notifier.mark = service.mark_reported
    return Core(store, service, notifier, config, now, approvers, wakers)
