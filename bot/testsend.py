"""Test sends: a waiting batch's first message, exactly as it will go, to the clicker's own phone.

The rules: the batch's preparer or an approver may test it while it waits for approval, with
the exact preview they see (its digest), when test mode is off (the EAPI would send nothing),
to the phone of their own Slack profile, normalised like CSV numbers, at most once a minute per
person and batch (a test costs credits like any message). The message keeps its encoding,
sender, routing group, per-row columns and filled template; only the number changes. It goes
as its own one-message submission with a stop_dup_id from the chunks' sequence, queued for the
one sender; it approves nothing and changes no digest. Every request and refusal is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.codec import params_to_json, sha256_hex
from bot.config import Settings
from bot.eapi.client import BatchRow, send_batch_params
from bot.intake.numbers import BadNumber, parse_number
from bot.model import BatchPlan, BatchState, TestMode
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.records import BatchHeader
from bot.store.testsends import (
    NewTestSend,
    TestSendRecord,
    find_test_send,
    insert_test_send,
    last_test_at,
    mark_test_reported,
    tests_of,
)
from bot.views import when_text

__all__ = ["RATE_LIMIT_SECONDS", "TestAsk", "TestQueued", "TestSendRecord", "TestSends"]

RATE_LIMIT_SECONDS = 60.0  # one test per person and batch a minute


@dataclass(frozen=True, slots=True)
class TestAsk:
    """A Test click: who, which preview (batch and digest), their profile phone, where to reply."""

    __test__ = False  # not a pytest class

    batch_id: int
    digest: str
    user_id: str
    phone: str | None  # the `phone` of their Slack profile, as Slack gave it
    channel_id: str
    thread_ts: str | None


@dataclass(frozen=True, slots=True)
class TestQueued:
    """What a Test click did: queued (with the number), or refused with the reason."""

    __test__ = False  # not a pytest class

    ok: bool
    batch_id: int
    reason: str = ""
    msisdn: str = ""
    test_id: int | None = None


def _batch_problem(batch: BatchHeader, ask: TestAsk, allowed: bool) -> str | None:
    """Why this batch cannot be tested by this person now (None when it can)."""
    if not allowed:
        return f"only the person who prepared batch {batch.id} or an approver can test it"
    if batch.state is not BatchState.PENDING:
        return f"batch {batch.id} is no longer waiting for approval: tests are for previews"
    if ask.digest and ask.digest != batch.digest:
        return f"batch {batch.id} has changed since this preview was drawn: test the updated one"
    if batch.options.test_mode is not TestMode.OFF:
        return (
            f"batch {batch.id} has test mode on, so the EAPI would send nothing to your phone: "
            "turn test mode off in Options to try the message on yourself"
        )
    if not batch.summary.recipients:
        return f"batch {batch.id} has no message to send"
    return None


def _phone_problem(phone: str | None, country: str) -> tuple[str | None, str]:
    """(why the profile's phone cannot be used, or None; the number as the EAPI wants it)."""
    if not phone or not phone.strip():
        return (
            "your Slack profile has no phone number: add your mobile number to your profile "
            "(Profile → Edit profile → Phone) and click again",
            "",
        )
    number = parse_number(phone, country)
    if isinstance(number, BadNumber):
        return f"the phone number on your Slack profile cannot be used: {number.reason}", ""
    return None, number.msisdn


class TestSends:
    """The Test use case and the reads the card and the notifier need."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        is_approver: Callable[[str], bool],
        wake_sender: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self._is_approver = is_approver
        self._wake_sender = wake_sender
        self._clock = clock

    def request(self, ask: TestAsk) -> TestQueued:
        """Queue a test of the batch's first message to the asker's phone, or say why not."""
        header = self.store.batch_header(ask.batch_id)
        allowed = ask.user_id == header.prepared_by or self._is_approver(ask.user_id)
        reason = _batch_problem(header, ask, allowed)
        msisdn = ""
        if reason is None:
            reason, msisdn = _phone_problem(ask.phone, self.settings.default_country)
        now = self._clock()
        if reason is None:
            plan = self.store.stored_plan(ask.batch_id, header.digest)
            with self.store.write() as tx:
                reason = self._recheck(tx, ask, header, now)
                if reason is None:
                    test_id = self._queue(tx, ask, plan, msisdn, now)
                    self._wake_sender()
                    return TestQueued(True, ask.batch_id, msisdn=msisdn, test_id=test_id)
        self._refused(ask, header, reason, now)
        return TestQueued(False, ask.batch_id, reason)

    def _recheck(self, tx: Tx, ask: TestAsk, header: BatchHeader, now: float) -> str | None:
        """In the write transaction: still the same waiting batch, and not tested a minute ago."""
        batch = tx.batch_header(ask.batch_id)
        if batch.state is not BatchState.PENDING or batch.digest != header.digest:
            return _batch_problem(batch, ask, True) or f"batch {batch.id} changed; look again"
        last = last_test_at(tx, ask.batch_id, ask.user_id)
        if last is not None and now - last < RATE_LIMIT_SECONDS:
            wait = int(RATE_LIMIT_SECONDS - (now - last)) + 1
            return (
                f"you asked for a test of batch {batch.id} at {when_text(last)}; "
                f"one test a minute per batch (try again in {wait} s)"
            )
        return None

    def _queue(self, tx: Tx, ask: TestAsk, plan: BatchPlan, msisdn: str, now: float) -> int:
        """The test's final parameters, its stop_dup_id, the row and its audit entry."""
        first = plan.messages[0]
        stop_dup_id = tx.allocate_stop_dup_id()
        params = send_batch_params(
            [BatchRow(msisdn, first.text, first.overrides)],
            first.dca,
            plan.options,
            stop_dup_id=stop_dup_id,
            max_parts=plan.max_parts,
        )
        text = params_to_json(params)
        new = NewTestSend(
            ask.batch_id, ask.user_id, ask.channel_id, ask.thread_ts, msisdn, text,
            sha256_hex(text), stop_dup_id,
        )  # fmt: skip
        test_id = insert_test_send(tx, new, now)
        tx.audit(
            AuditEvent.TEST_REQUESTED,
            at=now,
            actor=ask.user_id,
            batch_id=ask.batch_id,
            channel_id=ask.channel_id,
            detail={
                "test_id": test_id,
                "msisdn": msisdn,
                "line": first.line,
                "stop_dup_id": stop_dup_id,
                "params_sha256": new.params_sha256,
                "digest": ask.digest,
            },
        )
        return test_id

    def _refused(self, ask: TestAsk, batch: BatchHeader, reason: str, now: float) -> None:
        with self.store.write() as tx:
            tx.audit(
                AuditEvent.TEST_REFUSED,
                at=now,
                actor=ask.user_id,
                batch_id=ask.batch_id,
                channel_id=batch.channel_id,
                detail={"reason": reason},
            )

    def get(self, test_id: int) -> TestSendRecord | None:
        """One test send as stored."""
        return find_test_send(self.store, test_id)

    def of_batch(self, batch_id: int) -> list[TestSendRecord]:
        """A batch's test sends, oldest first (for its card)."""
        return tests_of(self.store, batch_id)

    def reported(self, test_id: int) -> bool:
        """The person was told the result: it is not reported again after a restart."""
        return mark_test_reported(self.store, test_id, self._clock())
