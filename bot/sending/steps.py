"""The sender's transactions: each step changes chunk and batch state with its audit entries.

`bot.sending.sender` decides what to do next and does the HTTP; this module writes what
happened. Each public method is one write transaction; progress is reported only after it committed.

A final result's report is built from the stored row (`chunk_report`, `finished_report`), so that
a result whose posting was never confirmed (`reported_at` still NULL) can be reported again,
field for field, by the next sender that takes the lease (`unreported_reports`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.codec import PLAN_DECODE_ERRORS, params_from_json, sha256_hex
from bot.eapi.client import Outcome, SubmitResult, meaning
from bot.model import BatchState, Progress, ProgressKind
from bot.sending.notify import Notifier
from bot.sending.retry import RetryPolicy
from bot.store.audit import AuditEvent
from bot.store.db import OPEN_CHUNK_STATES, Store, Tx
from bot.store.records import AttemptAnswer, BatchHeader, ChunkRecord
from bot.store.stops import is_stopped

logger = logging.getLogger(__name__)
T = TypeVar("T")

ACTOR = "sender"
UNKNOWN_REASON = "outcome unknown — check the EAPI account before resending"
STOPPED = 0  # start_attempt's answer when the batch was stopped: no attempt was recorded
ACCOUNT_LEVEL_CODES = frozenset({23, 25, 27})  # credentials, credits, daily quota
INTERRUPTED = AttemptAnswer(
    outcome="interrupted",
    http_status=None,
    status_code=None,
    raw_answer=None,
    error="no answer recorded: the sender stopped during the request",
    duration=None,
)


def describe_code(status_code: int) -> str:
    """'status 25 (you do not have sufficient credits)'."""
    return f"status {status_code} ({meaning(status_code)})"


def answer_of(result: SubmitResult) -> AttemptAnswer:
    """The attempt row's columns for a submit result."""
    return AttemptAnswer(
        outcome=result.outcome.value,
        http_status=result.http_status,
        status_code=result.status_code,
        raw_answer=None if result.answer is None else result.answer.raw,
        error=result.error,
        duration=result.duration_seconds,
    )


def _what_happened(result: SubmitResult) -> str:
    """'HTTP 503', 'timed out after 120 s' or 'status 40 (temporarily unavailable)'."""
    if result.error:
        return result.error
    if result.status_code is not None:
        return describe_code(result.status_code)
    return result.outcome.value


def checked_params(
    chunk: ChunkRecord, params_json: str, stored_sha: str
) -> tuple[dict[str, str], str | None]:
    """The chunk's stored parameters, decoded once for the checks, the audit and the request,
    and why it must not be sent as stored (None when they are as approved; then no fields)."""
    if sha256_hex(params_json) != stored_sha:
        return {}, f"the stored parameters of chunk {chunk.index + 1} no longer match their SHA-256"
    try:
        return params_from_json(params_json), None
    except ValueError as exc:
        return {}, f"the stored parameters of chunk {chunk.index + 1} are unreadable: {exc}"


def plan_problem(batch: BatchHeader, stored: T, digest_of: Callable[[T], str]) -> str | None:
    """Why the batch's stored messages are not the approved ones, or None when they are
    (`stored`: the plan's bytes, or what `digest_of` reads them by)."""
    try:
        matches = digest_of(stored) == batch.digest
    except PLAN_DECODE_ERRORS:
        matches = False
    if not matches:
        return f"the messages of batch {batch.id} no longer match the approved digest"
    return None


@dataclass(frozen=True, slots=True)
class _Turn:
    """One chunk's step inside one write transaction."""

    tx: Tx
    batch: BatchHeader
    chunk: ChunkRecord
    now: float
    count: int  # chunks in the batch

    def progress(self, kind: ProgressKind, **fields: Any) -> list[Progress]:
        """A progress report about this chunk (not a final one: those are `report`)."""
        index = self.chunk.index
        return [Progress(kind, self.batch.id, chunk_index=index, chunk_count=self.count, **fields)]

    def report(self) -> list[Progress]:
        """The final report of this chunk, from its row as this transaction just wrote it."""
        return [chunk_report(self.tx.chunk(self.chunk.id), self.count)]


def chunk_report(chunk: ChunkRecord, count: int) -> Progress:
    """A final chunk's report (CHUNK_DONE, or UNKNOWN), built from its stored row."""
    kind = ProgressKind.UNKNOWN if chunk.state == "unknown" else ProgressKind.CHUNK_DONE
    return Progress(
        kind,
        chunk.batch_id,
        chunk_index=chunk.index,
        chunk_count=count,
        status_code=chunk.status_code,
        description=chunk.description,
        eapi_batch_id=chunk.eapi_batch_id,
        attempt=chunk.attempts,
    )


def finished_report(batch_id: int, state: BatchState, chunks: list[ChunkRecord]) -> Progress:
    """A batch's FINISHED report (finished or expired), built from its stored state and chunks."""
    if state is BatchState.EXPIRED:
        return Progress(ProgressKind.FINISHED, batch_id, state=state)
    codes = [c.status_code for c in chunks if c.state == "failed" and c.status_code is not None]
    return Progress(
        ProgressKind.FINISHED,
        batch_id,
        chunk_count=len(chunks),
        state=state,
        description=summary(chunks),
        status_code=codes[0] if codes else None,
    )


def final_state(chunks: list[ChunkRecord]) -> BatchState:
    """sent (all accepted or scheduled), outcome_unknown, partly_sent or failed."""
    ok = sum(c.state in ("accepted", "scheduled") for c in chunks)
    if ok == len(chunks):
        return BatchState.SENT
    if any(c.state == "unknown" for c in chunks):
        return BatchState.UNKNOWN
    return BatchState.PARTLY_SENT if ok else BatchState.FAILED


def summary(chunks: list[ChunkRecord]) -> str:
    """'2 of 3 submissions accepted; 1 failed' and the like."""
    ok = sum(c.state in ("accepted", "scheduled") for c in chunks)
    text = f"{ok} of {len(chunks)} submission{'s' if len(chunks) != 1 else ''} accepted"
    stopped = [c for c in chunks if c.stopped_at is not None]
    if stopped:  # a stopped batch says how many messages went and how many did not
        went = sum(c.messages for c in chunks if c.state in ("accepted", "scheduled"))
        held = sum(c.messages for c in stopped)
        text += f" ({went} message{'s' if went != 1 else ''} sent)"
        text += f"; {len(stopped)} stopped ({held} message{'s' if held != 1 else ''} not sent)"
    failed = sum(c.state == "failed" and c.stopped_at is None for c in chunks)
    unknown = sum(c.state == "unknown" for c in chunks)
    if failed:
        text += f"; {failed} failed"
    if unknown:
        text += f"; {unknown} with {UNKNOWN_REASON}"
    return text


@dataclass
class Steps:
    """The sender's write steps, bound to one store, notifier, policy and lease owner."""

    store: Store
    notifier: Notifier
    policy: RetryPolicy
    owner: str
    lease_seconds: float
    dedup_window_seconds: float
    clock: Callable[[], float]

    def _audit(
        self,
        tx: Tx,
        event: AuditEvent,
        batch: BatchHeader,
        chunk: ChunkRecord | None,
        **detail: Any,
    ) -> None:
        index = None if chunk is None else chunk.index
        tx.audit(
            event,
            at=self.clock(),
            actor=ACTOR,
            batch_id=batch.id,
            chunk_index=index,
            channel_id=batch.channel_id,
            detail=detail,
        )

    def _turn(self, tx: Tx, batch: BatchHeader, chunk: ChunkRecord, now: float) -> _Turn:
        return _Turn(tx, batch, chunk, now, len(tx.chunks(batch.id)))

    def _notify(self, events: list[Progress]) -> None:
        for event in events:
            self.notifier.notify(event)

    def start_attempt(
        self, batch: BatchHeader, chunk: ChunkRecord, params: dict[str, str], now: float
    ) -> int | None:
        """Commit the attempt (outbox) before its request; None if the lease or chunk changed,
        STOPPED if the batch was stopped (then nothing of it may start)."""
        with self.store.write() as tx:
            # An unexpired lease of ours is only read (the loop and the keeper renew it), so
            # the commit that must reach the disk before the POST writes one page less.
            held = tx.holds_lease(self.owner, now)
            if not (held or tx.hold_lease(self.owner, now, self.lease_seconds)):
                logger.warning("sender %s lost its lease; not sending", self.owner)
                return None
            if is_stopped(tx, batch.id):  # the stop and this check are serialised by SQLite
                return STOPPED
            current = tx.chunk(chunk.id)
            if current.state not in OPEN_CHUNK_STATES or current.attempts != chunk.attempts:
                return None
            number = tx.start_attempt(current, self.owner, now)
            self._audit(
                tx,
                AuditEvent.ATTEMPT_STARTED,
                batch,
                chunk,
                attempt=number,
                stop_dup_id=chunk.stop_dup_id,
                params_sha256=chunk.params_sha256,
                params=params,
                owner=self.owner,
            )
        return number

    def record_answer(
        self, batch: BatchHeader, chunk: ChunkRecord, number: int, result: SubmitResult
    ) -> None:
        """Record an attempt's answer, then accept, fail, retry or give up on the chunk."""
        now = self.clock()
        answer = answer_of(result)
        # Not waited for here, so the sender goes on at once. Every view Slack is shown is read
        # after `Store.flush_to_disk` (bot.service), so the thread says "accepted" only once a
        # power cut can no longer turn this answer back into an attempt in flight (resent with
        # its stop_dup_id, or called unknown); the next attempt's durable commit syncs it too.
        with self.store.write(durable=False) as tx:
            closed = tx.finish_attempt(chunk.id, number, now, answer)
            self._audit(
                tx,
                AuditEvent.ATTEMPT_FINISHED,
                batch,
                chunk,
                attempt=number,
                stop_dup_id=chunk.stop_dup_id,
                outcome=answer.outcome,
                http_status=answer.http_status,
                status_code=answer.status_code,
                raw_answer=answer.raw_answer,
                error=answer.error,
                duration=answer.duration,
                late=not closed,
            )
            if not closed:  # recovery closed it meanwhile; the resend decides the chunk
                return
            chunks = tx.chunks(batch.id)  # this one as just closed, and how many there are
            current = next(c for c in chunks if c.id == chunk.id)
            turn = _Turn(tx, batch, current, now, len(chunks))
            if result.outcome in (Outcome.ACCEPTED, Outcome.SCHEDULED):
                events = self._accepted(turn, result)
            elif result.outcome is Outcome.FATAL:
                events = self._fatal(turn, result)
            else:
                events = self._retry_or_give_up(turn, result)
            events += self._finish(tx, batch, now)
        self._notify(events)

    def _accepted(self, turn: _Turn, result: SubmitResult) -> list[Progress]:
        answer = result.answer
        assert answer is not None  # accepted and scheduled always carry an EAPI answer
        state = "scheduled" if result.outcome is Outcome.SCHEDULED else "accepted"
        turn.tx.update_chunk(
            turn.chunk.id,
            state=state,
            status_code=answer.status_code,
            description=answer.description,
            eapi_batch_id=answer.batch_id,
            finished_at=turn.now,
        )
        self._audit(
            turn.tx,
            AuditEvent.CHUNK_DONE,
            turn.batch,
            turn.chunk,
            outcome=state,
            status_code=answer.status_code,
            eapi_batch_id=answer.batch_id,
        )
        return turn.report()

    def _fatal(self, turn: _Turn, result: SubmitResult) -> list[Progress]:
        answer = result.answer
        assert answer is not None  # a fatal outcome is always an EAPI status code
        reason = describe_code(answer.status_code)
        turn.tx.update_chunk(
            turn.chunk.id,
            state="failed",
            status_code=answer.status_code,
            description=answer.description,
            reason=reason,
            finished_at=turn.now,
        )
        self._audit(
            turn.tx, AuditEvent.CHUNK_DONE, turn.batch, turn.chunk, outcome="failed", reason=reason
        )
        if answer.status_code in ACCOUNT_LEVEL_CODES:
            why = f"not submitted: chunk {turn.chunk.index + 1} failed with {reason}"
            self._fail_open_chunks(turn.tx, turn.batch, turn.now, why)
        return turn.report()

    def _fail_open_chunks(
        self, tx: Tx, batch: BatchHeader, now: float, why: str, reported: int | None = None
    ) -> None:
        """Fail every open chunk; all but chunk id `reported` count as reported already.

        A skipped chunk gets no report of its own: the batch's FINISHED report covers it.
        """
        for other in tx.chunks(batch.id):
            if other.state in OPEN_CHUNK_STATES:
                covered = None if other.id == reported else now
                tx.update_chunk(
                    other.id,
                    state="failed",
                    reason=why,
                    description=why,
                    finished_at=now,
                    reported_at=covered,
                )
                self._audit(tx, AuditEvent.CHUNK_DONE, batch, other, outcome="skipped", reason=why)

    def _retry_or_give_up(self, turn: _Turn, result: SubmitResult) -> list[Progress]:
        chunk, number = turn.chunk, turn.chunk.attempts
        ambiguous, later = turn.tx.attempt_history(chunk.id)
        first = turn.now if chunk.first_attempt_at is None else chunk.first_attempt_at
        elapsed = turn.now - first
        delay = self.policy.next_delay(
            result.outcome, attempts=number, later_answers=later, elapsed=elapsed
        )
        why = None
        if delay is not None and ambiguous and elapsed + delay >= self.dedup_window_seconds:
            delay, why = None, "the next resend would fall outside the de-duplication window"
        what = _what_happened(result)
        if delay is None:
            why = why or self.policy.describe_limit(result.outcome, number, elapsed)
            why = f"{why}; last: {what}"
            return self._unknown(turn, why) if ambiguous else self._given_up(turn, result, why)
        turn.tx.update_chunk(chunk.id, next_attempt_at=turn.now + delay)
        self._audit(
            turn.tx,
            AuditEvent.RETRY_SCHEDULED,
            turn.batch,
            chunk,
            attempt=number,
            retry_in=delay,
            outcome=result.outcome.value,
            reason=what,
        )
        return turn.progress(
            ProgressKind.RETRYING,
            status_code=result.status_code,
            description=what,
            attempt=number,
            retry_in_seconds=delay,
        )

    def _given_up(self, turn: _Turn, result: SubmitResult, why: str) -> list[Progress]:
        code = result.status_code
        turn.tx.update_chunk(
            turn.chunk.id,
            state="failed",
            status_code=code,
            description=why,
            reason=why,
            finished_at=turn.now,
        )
        self._audit(
            turn.tx, AuditEvent.CHUNK_DONE, turn.batch, turn.chunk, outcome="failed", reason=why
        )
        return turn.report()

    def _unknown(self, turn: _Turn, why: str) -> list[Progress]:
        chunk = turn.chunk
        text = f"{UNKNOWN_REASON} ({why})"
        turn.tx.update_chunk(
            chunk.id, state="unknown", reason=UNKNOWN_REASON, description=text, finished_at=turn.now
        )
        self._audit(
            turn.tx,
            AuditEvent.OUTCOME_UNKNOWN,
            turn.batch,
            chunk,
            reason=UNKNOWN_REASON,
            why=why,
            stop_dup_id=chunk.stop_dup_id,
            attempts=chunk.attempts,
            first_attempt_at=chunk.first_attempt_at,
        )
        return turn.report()

    def _finish(self, tx: Tx, batch: BatchHeader, now: float) -> list[Progress]:
        chunks = tx.chunks(batch.id)
        if any(c.state in OPEN_CHUNK_STATES for c in chunks):
            return []
        state = final_state(chunks) if chunks else BatchState.FAILED  # nothing was planned
        if not tx.finish_batch(batch.id, state, now):
            return []
        text = summary(chunks)
        outcomes = [[c.index, c.state, c.status_code, c.eapi_batch_id] for c in chunks]
        self._audit(
            tx,
            AuditEvent.BATCH_FINISHED,
            batch,
            None,
            state=state.value,
            summary=text,
            chunks_index_state_status_batch_id=outcomes,
        )
        return [finished_report(batch.id, state, chunks)]

    def finish_if_done(self, batch: BatchHeader, now: float) -> None:
        """Give a batch whose chunks are all final its final state (after a crash, say)."""
        with self.store.write() as tx:
            events = self._finish(tx, batch, now)
        self._notify(events)

    def give_up_unknown(self, batch: BatchHeader, chunk: ChunkRecord, now: float, why: str) -> None:
        """Mark a chunk unknown (never resent automatically) and report it."""
        with self.store.write() as tx:
            events = self._unknown(self._turn(tx, batch, chunk, now), why)
            events += self._finish(tx, batch, now)
        self._notify(events)

    def refuse_mismatch(
        self, batch: BatchHeader, chunk: ChunkRecord, problem: str, now: float
    ) -> None:
        """Never send a chunk that is not exactly as approved: fail the batch's open chunks."""
        with self.store.write() as tx:
            turn = self._turn(tx, batch, chunk, now)
            self._audit(
                tx,
                AuditEvent.PAYLOAD_MISMATCH,
                batch,
                chunk,
                reason=problem,
                stop_dup_id=chunk.stop_dup_id,
                params_sha256=chunk.params_sha256,
                approved_digest=batch.digest,
            )
            self._fail_open_chunks(tx, batch, now, f"not sent: {problem}", reported=chunk.id)
            events = turn.report()
            events += self._finish(tx, batch, now)
        logger.error("batch %s chunk %s not sent: %s", batch.id, chunk.index, problem)
        self._notify(events)

    def recover(self, now: float) -> bool:
        """Close attempts left without an answer; resend inside the window, else unknown."""
        opened = self.store.open_attempts()
        for chunk_id, number in opened:
            events: list[Progress] = []
            with self.store.write() as tx:
                if not tx.finish_attempt(chunk_id, number, now, INTERRUPTED):
                    continue
                chunk = tx.chunk(chunk_id)
                batch = tx.batch_header(chunk.batch_id)
                self._audit(
                    tx,
                    AuditEvent.ATTEMPT_FINISHED,
                    batch,
                    chunk,
                    attempt=number,
                    stop_dup_id=chunk.stop_dup_id,
                    outcome=INTERRUPTED.outcome,
                    error=INTERRUPTED.error,
                )
                if chunk.state in OPEN_CHUNK_STATES:
                    events = self._recover_chunk(self._turn(tx, batch, chunk, now))
            self._notify(events)
        return bool(opened)

    def _recover_chunk(self, turn: _Turn) -> list[Progress]:
        chunk = turn.chunk
        first = turn.now if chunk.first_attempt_at is None else chunk.first_attempt_at
        if turn.now - first < self.dedup_window_seconds:
            turn.tx.update_chunk(chunk.id, next_attempt_at=turn.now)
            self._audit(
                turn.tx,
                AuditEvent.RETRY_SCHEDULED,
                turn.batch,
                chunk,
                attempt=chunk.attempts,
                retry_in=0,
                reason="resending after a restart, with the same stop_dup_id and body",
                window_left=self.dedup_window_seconds - (turn.now - first),
            )
            return []
        why = "the sender stopped during the request and the de-duplication window has passed"
        return self._unknown(turn, why) + self._finish(turn.tx, turn.batch, turn.now)

    def unreported_reports(self) -> list[Progress]:
        """Every final result no notifier has confirmed as posted, rebuilt as first reported.

        Per batch in id order: its chunks' reports in order, then its FINISHED report.
        """
        with self.store.snapshot() as read:
            chunks = read.unreported_chunks()
            batches = dict(read.unreported_batches())
            events: list[Progress] = []
            for batch_id in sorted({c.batch_id for c in chunks} | set(batches)):
                every = read.chunks(batch_id)
                events += [chunk_report(c, len(every)) for c in chunks if c.batch_id == batch_id]
                if batch_id in batches:
                    events.append(finished_report(batch_id, batches[batch_id], every))
        return events
