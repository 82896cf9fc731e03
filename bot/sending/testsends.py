"""The sender's turn for test sends: one message to one person's phone, through the one connection.

A queued test goes before the next chunk (it is one message, and a person is waiting for it),
over the same client, so there is still one EAPI request in flight at a time. Like a chunk it is
written as started before its POST (the outbox) and its answer recorded with an audit entry.
A test is never retried: a retryable answer ends it as failed (or "outcome unknown" when the
request may have been processed unseen), and the person may click again. A test whose request
was under way when the process stopped becomes "outcome unknown" and is never resent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.codec import params_from_json, sha256_hex
from bot.eapi.client import Outcome, SubmitResult, meaning
from bot.model import Progress, ProgressKind
from bot.sending.notify import Notifier
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.testsends import (
    TestSendRecord,
    find_test_send,
    finish_test,
    interrupted_tests,
    next_queued_test,
    start_test,
    stored_test_params,
    unreported_tests,
)

logger = logging.getLogger(__name__)

LEASE_LOST = None  # `run`'s answer when the lease was no longer ours: nothing was sent


def test_report(test: TestSendRecord) -> Progress:
    """The TEST_DONE report of a final test send, from its stored row."""
    return Progress(
        ProgressKind.TEST_DONE,
        test.batch_id,
        status_code=test.status_code,
        description=test.description,
        eapi_batch_id=test.eapi_batch_id,
        test_id=test.id,
    )


def _final_state(result: SubmitResult) -> tuple[str, str]:
    """A test's final state and description from its one answer."""
    if result.outcome is Outcome.SCHEDULED:
        return "scheduled", _said(result)
    if result.outcome is Outcome.ACCEPTED:
        return "accepted", _said(result)
    if result.status_code is None and result.outcome is Outcome.RETRY:
        return "unknown", result.error or "no answer"  # may have been processed unseen
    return "failed", _said(result)


def _said(result: SubmitResult) -> str:
    if result.answer is not None and result.answer.description:
        return result.answer.description
    if result.status_code is not None:
        return meaning(result.status_code)
    return result.error or result.outcome.value


@dataclass
class TestTurns:
    """Queued test sends, one per turn, on the sender's client and lease."""

    __test__ = False  # not a pytest class

    store: Store
    send: Callable[[Mapping[str, str]], SubmitResult]
    notifier: Notifier
    owner: str
    lease_seconds: float
    clock: Callable[[], float]

    def _audit(self, tx: Tx, event: AuditEvent, test: TestSendRecord, **detail: object) -> None:
        tx.audit(
            event,
            at=self.clock(),
            actor="sender",
            batch_id=test.batch_id,
            channel_id=test.channel_id,
            detail={"test_id": test.id, "user": test.user_id, "msisdn": test.msisdn} | detail,
        )

    def run(self, now: float) -> bool | None:
        """Send the oldest queued test; False when none waits, LEASE_LOST when not ours."""
        test = next_queued_test(self.store)
        if test is None:
            return False
        params_json, stored_sha = stored_test_params(self.store, test.id)
        if sha256_hex(params_json) != stored_sha:
            self._finish(test, "failed", "its stored parameters no longer match their SHA-256")
            return True
        with self.store.write() as tx:
            if not tx.hold_lease(self.owner, now, self.lease_seconds):
                return LEASE_LOST
            if not start_test(tx, test.id, now):
                return True
            self._audit(
                tx,
                AuditEvent.TEST_ATTEMPT_STARTED,
                test,
                stop_dup_id=test.stop_dup_id,
                params=params_from_json(params_json),
            )
        result = self.send(params_from_json(params_json))
        state, said = _final_state(result)
        self._finish(test, state, said, result)
        return True

    def _finish(
        self, test: TestSendRecord, state: str, said: str, result: SubmitResult | None = None
    ) -> None:
        """Record the final state with its audit entry, then report it."""
        now = self.clock()
        code = None if result is None else result.status_code
        batch_id = None if result is None or result.answer is None else result.answer.batch_id
        with self.store.write() as tx:
            finish_test(
                tx,
                test.id,
                now,
                state=state,
                http_status=None if result is None else result.http_status,
                status_code=code,
                description=said,
                eapi_batch_id=batch_id,
            )
            raw = None if result is None or result.answer is None else result.answer.raw
            self._audit(
                tx,
                AuditEvent.TEST_FINISHED,
                test,
                outcome=state,
                status_code=code,
                eapi_batch_id=batch_id,
                raw_answer=raw,
                error=None if result is None else result.error,
            )
        done = find_test_send(self.store, test.id)
        if done is not None:
            self.notifier.notify(test_report(done))

    def recover(self) -> None:
        """Tests cut off mid-request become "outcome unknown" (never resent), and are reported."""
        for test in interrupted_tests(self.store):
            why = "the sender stopped during the request: check the phone before testing again"
            self._finish(test, "unknown", why)

    def unreported(self) -> list[Progress]:
        """Reports of final tests whose result nobody confirmed as shown (after a restart)."""
        return [test_report(t) for t in unreported_tests(self.store)]
