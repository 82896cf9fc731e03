"""The service the Slack layer calls: prepare, change options, approve, cancel, view."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from bot.codec import batch_digest, params_from_json, sha256_hex
from bot.errors import BatchNotFound, IntakeError, TransitionRefused
from bot.model import BatchState, ProgressKind, SendOptions, TestMode
from bot.service import BatchService, Decision, Origin
from tests.core_helpers import (
    APPROVER,
    CHANNEL,
    OTHER_APPROVER,
    PREPARER,
    Core,
    FakeClock,
    csv_rows,
    make_core,
)
from tests.eapi_fixtures import client_for, running_simulator


@pytest.fixture
def core(tmp_path: Path) -> Core:
    """A service on a temporary database, U0APPROVER and U0APPROVER2 approving."""
    return make_core(tmp_path / "svc.db")


def _events(core: Core, batch_id: int) -> list[str]:
    return [e.event for e in core.store.audit_entries(batch_id)]


def test_prepare_keeps_a_pending_batch_bound_to_its_digest(core: Core) -> None:
    """A prepared batch is pending, its digest covers its plan, and the audit says so."""
    view = core.service.prepare(
        csv_rows(3), SendOptions(sender="Acme"), Origin(PREPARER, CHANNEL, "171.1", "upload")
    )
    assert view.state is BatchState.PENDING
    assert [m.msisdn for m in view.plan.messages] == [
        "447400100000",
        "447400100001",
        "447400100002",
    ]
    assert view.digest == batch_digest(view.plan)
    assert (view.prepared_by, view.channel_id, view.thread_ts) == (PREPARER, CHANNEL, "171.1")
    assert view.chunks == () and view.queue_position is None
    [entry] = core.store.audit_entries(view.id)
    detail = entry.detail_dict()
    assert (entry.event, entry.actor, entry.channel_id) == ("batch_prepared", PREPARER, CHANNEL)
    assert detail["digest"] == view.digest and detail["recipients"] == 3


def test_unusable_input_is_refused_and_recorded(core: Core) -> None:
    """An HTML page raises IntakeError, creates no batch, and leaves an upload_refused entry."""
    html = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"
    with pytest.raises(IntakeError, match="HTML"):
        core.service.prepare(
            html, SendOptions(), Origin(PREPARER, CHANNEL, source="upload", file_name="x.csv")
        )
    assert core.service.recent() == []
    [entry] = core.store.audit_entries()
    assert entry.event == "upload_refused" and "HTML" in entry.detail_dict()["reason"]
    assert entry.detail_dict()["file_name"] == "x.csv"


def test_invalid_send_options_are_refused(core: Core) -> None:
    """A sender longer than 11 letters cannot be prepared (IntakeError naming the problem)."""
    with pytest.raises(IntakeError, match="send options"):
        core.service.prepare(
            csv_rows(1), SendOptions(sender="FarTooLongSenderName"), Origin(PREPARER, CHANNEL)
        )


def test_pasted_text_is_planned_as_text(core: Core) -> None:
    """A paste (source "paste") keeps its exact text, e.g. an ampersand."""
    data = b"msisdn,message\n447400123456,Hello & bye\n"
    view = core.service.prepare(data, SendOptions(), Origin(PREPARER, CHANNEL, source="paste"))
    assert [m.text for m in view.plan.messages] == ["Hello & bye"]


def test_approval_materialises_every_chunk_before_anything_is_sent(tmp_path: Path) -> None:
    """Approval stores each chunk's final parameters, their hash and a fresh stop_dup_id."""
    woken = threading.Event()
    core = make_core(tmp_path / "c.db", chunk_size=2)
    service = BatchService(
        core.store,
        core.settings,
        core.service.prices,
        is_approver=lambda user: user == APPROVER,
        notifier=core.notifier,
        wake_sender=woken.set,
    )
    batch_id = core.prepare(csv_rows(5))
    decision = service.approve(batch_id, APPROVER, service.get(batch_id).digest)
    assert decision.ok and decision.reason == ""
    assert decision.batch.state is BatchState.APPROVED and decision.batch.decided_by == APPROVER
    chunks = core.store.chunks(batch_id)
    assert [c.messages for c in chunks] == [2, 2, 1]
    assert len({c.stop_dup_id for c in chunks}) == 3
    for chunk in chunks:
        params_json, stored = core.store.chunk_params(chunk.id)
        assert sha256_hex(params_json) == stored == chunk.params_sha256
        params = params_from_json(params_json)
        assert params["stop_dup_id"] == str(chunk.stop_dup_id)
        assert "password" not in params and "username" not in params
    [queued] = core.notifier.of(ProgressKind.QUEUED)
    assert (queued.batch_id, queued.queue_position, queued.chunk_count) == (batch_id, 1, 3)
    assert woken.is_set()
    approved = [e for e in core.store.audit_entries(batch_id) if e.event == "approved"]
    assert [c["stop_dup_id"] for c in approved[0].detail_dict()["chunks"]] == [
        c.stop_dup_id for c in chunks
    ]


def test_twenty_concurrent_approvals_one_wins_and_one_submission_is_made(tmp_path: Path) -> None:
    """20 threads approve at once: one approval, 19 refusals naming the winner, one POST."""
    core = make_core(tmp_path / "race.db")
    approvers = [f"U0APP{i:02d}" for i in range(20)]
    core.approvers.update(approvers)
    batch_id = core.prepare()
    digest = core.service.get(batch_id).digest
    start = threading.Barrier(20)
    decisions: dict[str, Decision] = {}

    def click(user: str) -> None:
        """Wait for all, then approve as `user`."""
        start.wait()
        decisions[user] = core.service.approve(batch_id, user, digest)

    threads = [threading.Thread(target=click, args=(u,)) for u in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [u for u, d in decisions.items() if d.ok]
    assert len(winners) == 1
    losers = [d for d in decisions.values() if not d.ok]
    assert len(losers) == 19
    assert all(f"already approved by <@{winners[0]}>" in d.reason for d in losers)
    assert _events(core, batch_id).count("approved") == 1
    assert _events(core, batch_id).count("approval_refused") == 19
    assert len(core.store.chunks(batch_id)) == 1
    with running_simulator() as sim:
        sender = core.sender(client_for(sim))
        while sender.run_once():
            pass
        assert len(sim.processed) == 1
        assert len(sim.requests) == 1
    assert core.store.batch(batch_id).state is BatchState.SENT


def test_self_approval_is_refused_unless_enabled(tmp_path: Path) -> None:
    """The preparer cannot approve their own batch, unless SMSBATCH_SELF_APPROVAL=1."""
    core = make_core(tmp_path / "self.db")
    core.approvers.add(PREPARER)
    batch_id = core.prepare()
    digest = core.service.get(batch_id).digest
    refused = core.service.approve(batch_id, PREPARER, digest)
    assert not refused.ok and "another approver" in refused.reason
    assert refused.batch.state is BatchState.PENDING
    assert _events(core, batch_id)[-1] == "approval_refused"
    lenient = make_core(tmp_path / "self2.db", self_approval=True)
    lenient.approvers.add(PREPARER)
    own = lenient.prepare()
    assert lenient.service.approve(own, PREPARER, lenient.service.get(own).digest).ok


def test_non_approvers_are_refused_and_recorded(core: Core) -> None:
    """Someone not in SMSBATCH_APPROVERS gets a reason; the batch stays pending."""
    batch_id = core.prepare()
    decision = core.service.approve(batch_id, "U0RANDOM", core.service.get(batch_id).digest)
    assert not decision.ok and "not an approver" in decision.reason
    [refusal] = [e for e in core.store.audit_entries(batch_id) if e.event == "approval_refused"]
    assert refusal.actor == "U0RANDOM" and "not an approver" in refusal.detail_dict()["reason"]


def test_with_no_approvers_configured_the_reason_says_what_to_set(tmp_path: Path) -> None:
    """An empty SMSBATCH_APPROVERS is named in the refusal."""
    core = make_core(tmp_path / "none.db", approvers=())
    core.approvers.clear()
    batch_id = core.prepare()
    decision = core.service.approve(batch_id, APPROVER, core.service.get(batch_id).digest)
    assert "set SMSBATCH_APPROVERS" in decision.reason


def test_changed_options_change_the_digest_and_stale_approvals_are_refused(core: Core) -> None:
    """Options re-plan the batch; approving the old preview's digest is refused."""
    batch_id = core.prepare()
    old = core.service.get(batch_id)
    new = core.service.change_options(batch_id, SendOptions(test_mode=TestMode.SUCCEED), PREPARER)
    assert new.digest != old.digest and new.plan.options.test_mode is TestMode.SUCCEED
    stale = core.service.approve(batch_id, APPROVER, old.digest)
    assert not stale.ok and "changed since this preview" in stale.reason
    assert core.service.approve(batch_id, APPROVER, new.digest).ok
    changed = [e for e in core.store.audit_entries(batch_id) if e.event == "options_changed"]
    assert changed[0].detail_dict()["old_digest"] == old.digest


def test_options_cannot_change_after_a_decision(core: Core) -> None:
    """change_options on an approved batch raises TransitionRefused naming who decided."""
    batch_id = core.approved()
    with pytest.raises(TransitionRefused, match=f"approved by <@{APPROVER}>"):
        core.service.change_options(batch_id, SendOptions(sender="Other"), PREPARER)


def test_only_the_preparer_or_an_approver_may_change_options(core: Core) -> None:
    """A bystander's Options change is refused and audited; the batch and digest stay as shown."""
    batch_id = core.prepare()
    before = core.service.get(batch_id)
    with pytest.raises(TransitionRefused, match="only the person who prepared"):
        core.service.change_options(batch_id, SendOptions(sender="Evil"), "U0BYSTANDER")
    assert core.service.get(batch_id).digest == before.digest
    refused = [e for e in core.store.audit_entries(batch_id) if e.event == "options_refused"]
    assert [e.actor for e in refused] == ["U0BYSTANDER"]
    approver_change = core.service.change_options(batch_id, SendOptions(sender="Acme2"), APPROVER)
    assert approver_change.plan.options.sender == "Acme2"


def test_the_part_limit_the_preview_used_is_the_one_submitted(core: Core) -> None:
    """concat_text_sms_max_parts comes from the stored plan, not from settings changed since."""
    batch_id = core.prepare()
    assert core.service.get(batch_id).plan.max_parts == 3
    later = BatchService(
        core.store,
        replace(core.settings, max_parts=5),
        core.service.prices,
        is_approver=lambda user: user in core.approvers,
        notifier=core.notifier,
    )
    assert later.approve(batch_id, APPROVER, later.get(batch_id).digest).ok
    params = params_from_json(core.store.chunk_params(core.store.chunks(batch_id)[0].id)[0])
    assert params["concat_text_sms_max_parts"] == "3"


@pytest.mark.parametrize("who", [PREPARER, OTHER_APPROVER])
def test_the_preparer_or_an_approver_can_cancel_a_pending_batch(core: Core, who: str) -> None:
    """Cancel works for the preparer and for approvers; later approval is refused."""
    batch_id = core.prepare()
    decision = core.service.cancel(batch_id, who)
    assert decision.ok and decision.batch.state is BatchState.CANCELLED
    again = core.service.approve(batch_id, APPROVER, decision.batch.digest)
    assert not again.ok and f"already cancelled by <@{who}>" in again.reason


def test_others_cannot_cancel_and_approved_batches_cannot_be_cancelled(core: Core) -> None:
    """A bystander's cancel and a cancel after approval are refused and recorded."""
    pending = core.prepare()
    bystander = core.service.cancel(pending, "U0BYSTANDER")
    assert not bystander.ok and "prepared the batch or an approver" in bystander.reason
    approved = core.approved()
    late = core.service.cancel(approved, PREPARER)
    assert not late.ok and "already approved" in late.reason
    assert late.batch.state is BatchState.APPROVED
    assert _events(core, pending)[-1] == "cancel_refused"
    assert _events(core, approved)[-1] == "cancel_refused"


def test_a_batch_with_nothing_sendable_cannot_be_approved(core: Core) -> None:
    """Every row rejected: the approval is refused with that reason."""
    batch_id = core.prepare(b"msisdn,message\nnot-a-number,hello\n")
    decision = core.service.approve(batch_id, APPROVER, core.service.get(batch_id).digest)
    assert not decision.ok and "no message to send" in decision.reason


def test_an_expired_batch_cannot_be_approved(tmp_path: Path) -> None:
    """After the pending TTL the batch expires and approval names the expiry."""
    clock = FakeClock()
    core = make_core(tmp_path / "exp.db", clock=clock)
    batch_id = core.prepare()
    clock.advance(core.settings.pending_ttl_seconds + 1)
    core.store.expire_due(clock(), core.settings.pending_ttl_seconds)
    decision = core.service.approve(batch_id, APPROVER, core.service.get(batch_id).digest)
    assert not decision.ok and "expired" in decision.reason


def test_queue_positions_follow_approval_order(core: Core) -> None:
    """The first approved batch is position 1, the next 2; pending batches have none."""
    first = core.approved()
    second = core.approved()
    pending = core.prepare()
    assert core.service.get(first).queue_position == 1
    assert core.service.get(second).queue_position == 2
    assert core.service.get(pending).queue_position is None


def test_claims_are_durable_across_a_restart(tmp_path: Path) -> None:
    """A file id claimed before a restart is still claimed after it."""
    core = make_core(tmp_path / "claims.db")
    assert core.service.claim_upload("F0FILE", CHANNEL, PREPARER)
    assert core.service.claim_event("Ev0EVENT")
    core.store.close()
    again = make_core(tmp_path / "claims.db")
    assert not again.service.claim_upload("F0FILE", CHANNEL, PREPARER)
    assert not again.service.claim_event("Ev0EVENT")


def test_rejected_csv_lists_every_rejected_row_formula_safe(core: Core) -> None:
    """The rejects file has a BOM, a header, every rejected row, and no live formula."""
    batch_id = core.prepare(b"msisdn,message\n=1+2,hi\n447400123456,ok\n123,x\n")
    text = core.service.rejected_csv(batch_id).decode("utf-8")
    assert text.startswith("\ufeffline,column,reason,value\r\n")
    lines = text.strip().splitlines()
    assert len(lines) == 3
    assert "'=1+2" in lines[1] and ",=1+2" not in text


def test_views_recent_get_and_card(core: Core) -> None:
    """recent() lists newest first (per channel); get() of an unknown id raises; card kept."""
    first = core.prepare()
    second = core.prepare()
    other = core.service.prepare(csv_rows(1), SendOptions(), Origin(PREPARER, "C0OTHER")).id
    core.service.set_card(second, CHANNEL, "1700000001.000200")
    assert [v.id for v in core.service.recent(5)] == [other, second, first]
    assert [v.id for v in core.service.recent(5, CHANNEL)] == [second, first]
    assert core.service.get(second).card_ts == "1700000001.000200"
    with pytest.raises(BatchNotFound):
        core.service.get(999)
