"""Where uploads are checked: in this process (the default), or in one worker process.

Checking a 30,000-row file is about 1.5 s of pure Python, and encoding its plan for the store
(JSON, digest, summary) another quarter of a second. In the Slack app's process that time is
taken from every other thread by the GIL, so acks wait. `PoolPlanner` runs the same work in a
one-worker `ProcessPoolExecutor` (started with "spawn": a process with threads is never forked)
and sends back only what the store keeps (`PlannedBatch`: the plan's JSON text, its digest and
summary), never the plan's objects, which would take as long to unpickle as to decode. The
sender's check of a stored plan against its approved digest runs there too (`digest`), and so
does an approval's transaction (`run_or_here`, with `bot.approving.approve_at`).

The planner is injected into `BatchService`; tests and the CLI use `plan_in_process`, the app
(`bot.cli.run`) a `PoolPlanner` made once at start-up and closed at exit.

The worker's address space is capped (`WORKER_MEMORY_LIMIT`, RLIMIT_AS): a file built to
exhaust memory (a workbook's cells are all loaded at once by calamine) fails that upload with a
clear message — a MemoryError in Python, or the worker's death when Rust code cannot allocate —
and never makes the machine swap or the OOM killer pick the app.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bot.codec import batch_digest, plan_digest, plan_from_json, plan_to_json
from bot.errors import IntakeError
from bot.intake.plan import IntakeLimits, SuppressionCheck, plan_batch, plan_text
from bot.intake.pricing import PriceTable
from bot.intake.summary import PlanSummary, rejected_to_json, summarise, summary_columns
from bot.model import BatchPlan, SendOptions

logger = logging.getLogger(__name__)
T = TypeVar("T")
# A 100,000-row upload needs about 200 MB (bench: `make bench`); the cap leaves ten times that.
WORKER_MEMORY_LIMIT = 2 * 1024**3


class PlannerUnavailable(IntakeError):
    """The worker process checking uploads died (killed, out of memory) during a check."""


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    """A plan as the store keeps it: JSON text, digest, summary and rejected rows (JSON)."""

    plan_json: str
    digest: str
    summary: PlanSummary
    rejected_json: str
    plan: BatchPlan | None = None  # the plan itself, when it was made in this process

    def decoded(self) -> BatchPlan:
        """The plan (decoded from its JSON when it was made in another process)."""
        return self.plan if self.plan is not None else plan_from_json(self.plan_json)

    def columns(self) -> dict[str, Any]:
        """The `batches` columns this plan fills (besides options, source and the rest)."""
        return {"plan": self.plan_json, "digest": self.digest} | (
            summary_columns(self.summary) | {"rejected_rows": self.rejected_json}
        )


def plan_for_store(
    data: bytes,
    kind: str,
    options: SendOptions,
    limits: IntakeLimits,
    prices: PriceTable,
    *,
    keep_plan: bool = True,
    suppressed: SuppressionCheck | None = None,
    two_cores: bool = False,
) -> PlannedBatch:
    """Check an upload ("bytes") or a paste ("text", UTF-8) and encode its plan for the store.

    Raises IntakeError (only) when the input cannot be used at all. `suppressed` answers which
    numbers are on the suppression list (in the worker: a picklable look-up, never the list).
    `two_cores`: this process is single-threaded (the worker), see `plan_batch`.
    """
    if kind == "text":
        text = data.decode("utf-8")
        plan = plan_text(text, options, limits, prices, suppressed=suppressed, two_cores=two_cores)
    else:
        plan = plan_batch(data, options, limits, prices, suppressed=suppressed, two_cores=two_cores)
    return PlannedBatch(
        plan_json=plan_to_json(plan),
        digest=batch_digest(plan),
        summary=summarise(plan),
        rejected_json=rejected_to_json(plan.rejected, plan.suppressed),
        plan=plan if keep_plan else None,
    )


class Planner(Protocol):
    """Checks an upload or paste and returns its plan for the store (IntakeError if unusable)."""

    def __call__(
        self,
        data: bytes,
        kind: str,
        options: SendOptions,
        limits: IntakeLimits,
        prices: PriceTable,
        *,
        suppressed: SuppressionCheck | None = None,
    ) -> PlannedBatch: ...


def plan_in_process(
    data: bytes,
    kind: str,
    options: SendOptions,
    limits: IntakeLimits,
    prices: PriceTable,
    *,
    suppressed: SuppressionCheck | None = None,
) -> PlannedBatch:
    """The default planner: the work is done right here, and the plan is kept."""
    return plan_for_store(data, kind, options, limits, prices, suppressed=suppressed)


def plan_in_worker(
    data: bytes,
    kind: str,
    options: SendOptions,
    limits: IntakeLimits,
    prices: PriceTable,
    suppressed: SuppressionCheck | None = None,
) -> PlannedBatch:
    """The worker's job: as `plan_in_process`, without the plan's objects (its JSON is sent).

    Running out of the worker's memory is this upload's problem, said as an IntakeError. The
    error is made after the `except` block: until then the MemoryError's traceback keeps the
    half-made plan alive, and making even the message could fail for want of memory.
    """
    try:
        # The worker runs one job at a time on its main thread, and no other: it may fork.
        return plan_for_store(
            data,
            kind,
            options,
            limits,
            prices,
            keep_plan=False,
            suppressed=suppressed,
            two_cores=True,
        )
    except MemoryError:
        pass
    raise IntakeError(
        f"checking this {len(data):,}-byte file needed more memory than the upload checker "
        "may use; nothing was prepared — split the file, or save a workbook as CSV"
    )


def _start_worker(memory_limit: int | None = None) -> None:
    """In the worker: leave Ctrl-C to the app (which shuts the pool down), end with the app,
    cap its memory, load the intake."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    parent = multiprocessing.parent_process()
    if parent is not None:
        watch = threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True)
        watch.start()
    plan_text("msisdn,message\n447400123456,ready\n", SendOptions(), IntakeLimits(), PriceTable())


def _end_with(parent_sentinel: int) -> None:
    """In the worker: exit as soon as the app's process is gone (killed, crashed).

    The worker holds both ends of its job queue's pipe, so it would never see the app go and
    would wait for work for ever, one orphan per crash of the app.
    """
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)


def _ready() -> bool:
    return True


class PoolPlanner:
    """A `Planner` backed by one worker process, started at once and replaced if it dies.

    Uploads checked at the same time wait their turn for the one worker (one core stays free
    for the app). A job whose worker died (killed, out of memory; maybe while idle, maybe
    because of another job) is tried once more on a fresh worker; if that one dies too, the
    upload fails with `PlannerUnavailable` and the next call starts yet another worker.
    """

    def __init__(
        self,
        *,
        method: str = "spawn",
        work: Callable[..., PlannedBatch] = plan_in_worker,
        memory_limit: int | None = WORKER_MEMORY_LIMIT,
    ) -> None:
        if method not in ("spawn", "forkserver"):
            raise ValueError("the planner's worker is started with spawn or forkserver, never fork")
        self._context = multiprocessing.get_context(method)
        self._work = work
        self._memory_limit = memory_limit
        self._lock = threading.Lock()
        self._closed = False
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            1,
            mp_context=self._context,
            initializer=_start_worker,
            initargs=(self._memory_limit,),
        )
        pool.submit(_ready)  # start the worker now, not at the first upload
        return pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A fresh pool in place of a broken one (once, however many callers saw it break)."""
        with self._lock:
            if self._pool is broken and not self._closed:
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                logger.warning("the upload checker's worker process died; started a new one")

    def _run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in the worker, tried once more on a fresh worker if it died."""
        for attempt in (1, 2):
            with self._lock:
                pool = self._pool
            try:
                return pool.submit(work, *args).result()
            except BrokenProcessPool:
                self._replace(pool)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # for mypy: the loop returns or raises

    def __call__(
        self,
        data: bytes,
        kind: str,
        options: SendOptions,
        limits: IntakeLimits,
        prices: PriceTable,
        *,
        suppressed: SuppressionCheck | None = None,
    ) -> PlannedBatch:
        """Check the input in the worker; IntakeError as the intake raised it, or
        PlannerUnavailable when the worker died twice during the check."""
        try:
            args = (data, kind, options, limits, prices)
            # The list is asked about only when there is one (a `work` may predate it).
            return self._run(self._work, *args, *([suppressed] if suppressed else []))
        except BrokenProcessPool as exc:
            raise PlannerUnavailable(
                "the process that checks uploads stopped unexpectedly during the check (was "
                "the machine out of memory?); nothing was prepared: send it again, or split "
                "a very large file"
            ) from exc

    def run_or_here(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in the worker (picklable, module-level work that holds the GIL long,
        such as an approval's transaction), here if the worker died twice."""
        try:
            return self._run(work, *args)
        except BrokenProcessPool:
            logger.warning("the upload checker's worker died twice; doing the work here")
            return work(*args)

    def digest(self, plan_json: bytes) -> str:
        """`plan_digest` of a stored plan, worked out in the worker (decoding and hashing a
        30,000-message plan holds the GIL for a quarter of a second); here if the worker died."""
        return self.run_or_here(plan_digest, plan_json)

    def close(self) -> None:
        """Stop the worker (after the job under way, if any); later calls raise RuntimeError."""
        with self._lock:
            self._closed = True
            pool = self._pool
        pool.shutdown(wait=True, cancel_futures=True)
