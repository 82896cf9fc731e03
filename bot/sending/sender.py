"""The single sender: submits approved batches to the EAPI, one request at a time, crash-safe.

- One sender per database: a lease row (owner, expiry) taken and renewed in the database; a
  second process (or a second `Sender`) waits until the lease is free or has expired. Every
  attempt re-checks the lease in the transaction that records it, so a sender that lost its
  lease never sends. A holder that certainly died on this machine (same host and PID
  namespace, its pid gone: `bot.store.lease.holder_is_gone`) is replaced at once, without waiting
  for its lease to expire: a restart after a crash resumes in well under a second.
- Strict order: the batch approved first, its chunks in order, one HTTP request in flight, over
  the client's one kept-alive session. While a chunk waits for a backoff nothing else is sent
  (later batches wait too): simple, and the account-level causes of retries (40, 26, 28) would
  hit the next batch as well.
- Outbox: before each POST the attempt row and its `attempt_started` audit entry are committed.
  Every resend carries the chunk's stored parameters, byte for byte, so the same stop_dup_id.
- Before each attempt the stored parameters must still hash to their stored SHA-256, and the
  batch's messages to the approved digest (checked at a batch's first attempt and after each
  taking of the lease: decoding a big plan per chunk would stall the app); otherwise nothing is
  sent (`payload_mismatch`).
- Crash recovery (each time the lease is taken): an attempt recorded without an answer is
  closed as interrupted and resent while `dedup_window_seconds` have not passed since the
  chunk's first attempt; past it the chunk becomes "unknown" and is never resent automatically.
  The same window bounds every resend of a chunk whose earlier attempt may have been processed.
- Final codes: status 23, 25 and 27 concern the whole account (credentials, credits, daily
  quota), so the batch's later chunks are not submitted; any other final code (22, 24, 201,
  unknown) ends only its own chunk and the next chunk is tried.
- Consent: before a chunk's first attempt, numbers put on the suppression list since approval
  are taken out of it (`bot.sending.gate`); a resend is never changed.
- Results are reported at least once: the notifier confirms each final result it posted
  (`BatchService.mark_reported`); each time a sender takes the lease it first reports again
  every final chunk result and batch end that was never confirmed (the process may have died
  between storing an answer and posting it), then recovers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence

from bot.codec import plan_digest
from bot.eapi.client import EapiClient
from bot.model import BatchState
from bot.sending.gate import SuppressionGate
from bot.sending.notify import Notifier
from bot.sending.retry import RetryPolicy
from bot.sending.side import SideTask, earliest
from bot.sending.steps import (
    ACCOUNT_LEVEL_CODES,
    STOPPED,
    UNKNOWN_REASON,
    Steps,
    checked_params,
    finished_report,
    plan_problem,
)
from bot.sending.stopping import close_if_stopped
from bot.sending.testsends import LEASE_LOST, TestTurns
from bot.store.db import Store, Tx
from bot.store.home import check_home, record_home
from bot.store.lease import default_owner, holder_is_gone
from bot.store.records import BatchHeader, ChunkRecord

__all__ = ["ACCOUNT_LEVEL_CODES", "UNKNOWN_REASON", "Sender", "default_owner"]

logger = logging.getLogger(__name__)

MAX_LOOP_FAILURES = 5


class Sender:
    """The worker thread that drains approved batches; `run_once` does one step (for tests)."""

    def __init__(
        self,
        store: Store,
        client: EapiClient,
        notifier: Notifier,
        policy: RetryPolicy,
        *,
        dedup_window_seconds: float,
        pending_ttl_seconds: float = 86_400.0,
        clock: Callable[[], float] = time.time,
        wait: Callable[[float], None] | None = None,
        owner: str | None = None,
        lease_seconds: float = 20.0,
        heartbeat_seconds: float = 5.0,
        idle_seconds: float = 5.0,
        stall_seconds: float = 600.0,
        plan_digest: Callable[[bytes], str] = plan_digest,
        stored_digest: Callable[[int], str] | None = None,
        side_tasks: Sequence[SideTask] = (),
    ) -> None:
        """`plan_digest` checks a stored plan (read here) against its approved digest;
        `stored_digest`, when given, works out a batch's digest from its id without this process
        reading the plan (the app: in the upload checker's worker, `stored_plan_digest`).
        `side_tasks` (report fetches, inbox reads) get a turn when no submission is ready."""
        self.store = store
        self.client = client
        self.notifier = notifier
        self.policy = policy
        self.dedup_window_seconds = dedup_window_seconds
        self.pending_ttl_seconds = pending_ttl_seconds
        self.clock = clock
        self.owner = owner or default_owner()
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.idle_seconds = idle_seconds
        self.stall_seconds = stall_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._wait = wait or self._wait_for_wake
        self._thread: threading.Thread | None = None
        self._keeper: threading.Thread | None = None
        self._holding = False
        self._renewed_at = 0.0
        self._recovered = False
        self._report_again = False  # set when the lease is taken: unconfirmed results first
        self._due: float | None = None
        self._plan_digest = plan_digest
        self._stored_digest = stored_digest
        self._plan_checked: tuple[int, str] | None = None  # (batch id, digest) found intact
        self.side_tasks = tuple(side_tasks)
        self._loop_at = clock()
        self.failures = 0
        self.last_error: str | None = None
        self._gate = SuppressionGate(store, notifier, clock)
        self._steps = Steps(
            store,
            notifier,
            policy,
            self.owner,
            lease_seconds,
            dedup_window_seconds,
            clock,
        )
        self._tests = TestTurns(
            store, client.send_batch, notifier, self.owner, lease_seconds, clock
        )

    def __repr__(self) -> str:
        return f"Sender(owner={self.owner!r}, holding={self._holding})"

    @property
    def next_due(self) -> float | None:
        """After `run_once` returned False: when a waiting chunk or side task is due, else None."""
        return self._due

    @property
    def holding_lease(self) -> bool:
        """True while this sender holds the database's sender lease."""
        return self._holding

    # The thread

    def start(self) -> None:
        """Start the worker thread (and its lease keeper); returns at once.

        Raises `NotSafeToSend` (a StoreError) for a database restored or copied here without
        `smsbatch-bot restore`'s safety step (bot.store.home).
        """
        if self._thread is not None:
            raise RuntimeError("this sender was started already")
        check_home(self.store)
        self._thread = threading.Thread(target=self._run, name="smsbatch-sender", daemon=True)
        self._keeper = threading.Thread(target=self._keep, name="smsbatch-lease", daemon=True)
        self._thread.start()
        self._keeper.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current request (if any) and give the lease up."""
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._keeper):
            if thread is not None:
                thread.join(timeout)
        if self._holding and not (self._thread is not None and self._thread.is_alive()):
            self.store.release_lease(self.owner, self.clock())
            self._holding = False
        if self._thread is not None:
            record_home(self.store)  # the marker's high-water marks, for the restore guard

    def wake(self) -> None:
        """A batch was approved: stop waiting and look at the queue now."""
        self._wake.set()

    def _wait_for_wake(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception as exc:  # noqa: BLE001 - thread boundary: logged and recorded
                self._record_failure(exc)
                if self.failures >= MAX_LOOP_FAILURES:
                    logger.error("sender stopped after %d failures in a row", self.failures)
                    return
                self._wait(min(60.0, 2.0**self.failures))
                continue
            self.failures = 0
            if not worked and not self._stop.is_set():
                self._wait(self._idle_wait())

    def _record_failure(self, exc: Exception) -> None:
        """Log with traceback, count, and re-run recovery (an attempt may be left open)."""
        logger.exception("sender loop failed")
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._recovered = False

    def _idle_wait(self) -> float:
        if not self._holding:
            return min(self.idle_seconds, max(0.05, self.lease_seconds / 4))
        if self._due is not None:
            return max(0.0, min(self.idle_seconds, self._due - self.clock()))
        return self.idle_seconds

    def _keep(self) -> None:
        """Renew the lease during long requests, while the worker is alive and not stuck."""
        while not self._stop.wait(self.heartbeat_seconds):
            if self._thread is None or not self._thread.is_alive():
                return
            now = self.clock()
            if self.failures or now - self._loop_at > self.stall_seconds or not self._holding:
                continue  # a failing or stuck loop must not look healthy
            try:
                if self.store.renew_lease(self.owner, now, self.lease_seconds):
                    self._renewed_at = now
            except sqlite3.OperationalError as exc:
                logger.warning("could not renew the sender lease: %s", exc)

    # One step

    def _hold_lease(self, now: float) -> bool:
        if self._holding and now - self._renewed_at < self.heartbeat_seconds:
            return True
        with self.store.write() as tx:
            held = tx.hold_lease(self.owner, now, self.lease_seconds) or self._take_over(tx, now)
        if held and not self._holding:
            logger.info("sender %s took the lease", self.owner)
            self._recovered = False  # whoever held it before may have died mid-request
            self._report_again = True
            self._plan_checked = None  # check each batch's messages again
        elif self._holding and not held:
            logger.warning("sender %s lost the lease to another sender", self.owner)
        self._holding = held
        self._renewed_at = now if held else self._renewed_at
        return held

    def _take_over(self, tx: Tx, now: float) -> bool:
        """Take the unexpired lease of a holder that certainly died on this machine."""
        holder = tx.lease_owner(now)
        if holder is None or not holder_is_gone(holder):
            return False
        taken = tx.hold_lease(self.owner, now, self.lease_seconds, replacing=holder)
        if taken:
            logger.warning(
                "sender %s took the lease over at once from %s: that process no longer exists",
                self.owner,
                holder,
            )
        return taken

    def _report_unconfirmed(self) -> None:
        """Report again every final result whose posting was never confirmed."""
        self._report_again = False  # first: a notifier that raises must not block sending
        events = self._steps.unreported_reports() + self._tests.unreported()
        if events:
            logger.warning("reporting %d result(s) again: never confirmed as posted", len(events))
        for event in events:
            self.notifier.notify(event)

    def run_once(self) -> bool:
        """Do the next due thing (recover, expire, finish, one attempt, or one side task).

        False when idle; `next_due` then says when something will be due.
        """
        now = self.clock()
        self._loop_at = now
        self._due = None
        if not self._hold_lease(now):
            return False
        worked = False
        if not self._recovered:
            if self._report_again:  # before recovery, which reports what it decides itself
                self._report_unconfirmed()
            worked = self._steps.recover(now)
            self._tests.recover()
            self._recovered = True
        for expired in self.store.expire_due(now, self.pending_ttl_seconds):
            self.notifier.notify(finished_report(expired, BatchState.EXPIRED, []))
            worked = True
        tested = self._tests.run(now)  # a person waits for a test: it goes before the next chunk
        if tested is LEASE_LOST:
            self._holding = False
            return False
        if tested or self._submission_step(now):
            return True
        return self._side_step(now) or worked

    def _submission_step(self, now: float) -> bool:
        """Finish a done batch or make one attempt; False when no submission is ready now."""
        batch = self.store.head_batch()
        if batch is None:
            return False
        chunk = self.store.next_chunk(batch.id)
        if chunk is None:
            self._steps.finish_if_done(batch, now)
            return True
        if chunk.next_attempt_at is not None and chunk.next_attempt_at > now:
            if self._close_stopped(batch.id, now):  # a stopped batch waits for no backoff
                return True
            self._due = chunk.next_attempt_at
            return False
        self._attempt(batch, chunk, now)
        return True

    def _side_step(self, now: float) -> bool:
        """Give the side task due first its turn; else note when one will be due."""
        task, due = earliest(self.side_tasks, now)
        if task is None or due is None:
            return False
        if due > now:
            self._due = due if self._due is None else min(self._due, due)
            return False
        task.run(now)
        return True

    def _plan_problem(self, batch: BatchHeader) -> str | None:
        """Check the batch's stored messages against the approved digest, once per batch.

        Decoding and hashing every message of a big batch takes a quarter of a second, so it is
        done at the first attempt of a batch (and again whenever the lease is taken), not per
        chunk: what each request carries is the chunk's stored parameters, which are checked
        against their own SHA-256 before every attempt.
        """
        if self._plan_checked == (batch.id, batch.digest):
            return None
        if self._stored_digest is not None:
            problem = plan_problem(batch, batch.id, self._stored_digest)
        else:
            problem = plan_problem(batch, self.store.plan_bytes(batch.id), self._plan_digest)
        if problem is None:
            self._plan_checked = (batch.id, batch.digest)
        return problem

    def _attempt(self, batch: BatchHeader, chunk: ChunkRecord, now: float) -> None:
        """Check, record, send and record the answer of one attempt at one chunk."""
        params, problem = checked_params(chunk, *self.store.chunk_params(chunk.id))
        problem = problem or self._plan_problem(batch)
        if problem is not None:
            self._steps.refuse_mismatch(batch, chunk, problem, now)
            return
        if self._gate.trim(batch, chunk, params):
            return  # changed or closed: the next step checks and reads it again
        if chunk.attempts and self._past_window(chunk, now):
            self._steps.give_up_unknown(batch, chunk, now, "the de-duplication window has passed")
            return
        number = self._steps.start_attempt(batch, chunk, params, now)
        if number == STOPPED:
            self._close_stopped(batch.id, now)
            return
        if number is None:
            self._holding = False  # re-take the lease (and recover) before anything else
            return
        result = self.client.send_batch(params)
        self._steps.record_answer(batch, chunk, number, result)

    def _close_stopped(self, batch_id: int, now: float) -> bool:
        """Close the open chunks of a stopped batch and report them; False if not stopped."""
        events = close_if_stopped(self.store, batch_id, now, "sender")
        for event in events or ():
            self.notifier.notify(event)
        return events is not None

    def _past_window(self, chunk: ChunkRecord, now: float) -> bool:
        """True when a resend could duplicate an earlier, possibly processed attempt."""
        ambiguous, _ = self.store.attempt_history(chunk.id)
        first = chunk.first_attempt_at if chunk.first_attempt_at is not None else now
        return ambiguous and now - first >= self.dedup_window_seconds
