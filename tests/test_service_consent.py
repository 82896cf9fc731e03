"""Consent in the core: who may change the list, the preview's suppressed rows, the report hook."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.codec import batch_digest, plan_from_json
from bot.consent import REMOVE_REFUSED, ConsentService
from bot.intake.planner import PoolPlanner
from bot.intake.pricing import PriceTable
from bot.model import SendOptions
from bot.service import BatchService, Origin
from tests.core_helpers import APPROVER, CHANNEL, PREPARER, Core, csv_rows, make_core

NUMBER = "447400100001"  # the second row of csv_rows


def consent(core: Core) -> ConsentService:
    """The consent service on the core's store and approvers."""
    return ConsentService(core.store, "GB", is_approver=lambda u: u in core.approvers)


def test_a_preparer_may_add_but_only_an_approver_may_remove(tmp_path: Path) -> None:
    """Removal by a non-approver changes nothing and is audited as refused."""
    core = make_core(tmp_path / "db.sqlite")
    service = consent(core)
    assert service.add(["07400 100001"], PREPARER).changed == (NUMBER,)
    refused = service.remove([NUMBER], PREPARER)
    assert refused.refused == REMOVE_REFUSED and service.size() == 1
    assert service.remove([NUMBER], APPROVER).changed == (NUMBER,)
    assert service.size() == 0
    events = [e.event for e in core.store.audit_entries()]
    assert events == ["suppression_added", "suppression_refused", "suppression_removed"]


def test_suppressed_rows_are_their_own_kind_in_the_preview(tmp_path: Path) -> None:
    """Counted, listed with their line in the rows CSV, never recipients, covered by the digest."""
    core = make_core(tmp_path / "db.sqlite")
    consent(core).add([NUMBER], PREPARER)
    batch_id = core.prepare(csv_rows(3))
    view = core.service.get(batch_id)
    assert (view.summary.recipients, view.summary.suppressed, view.summary.rows) == (2, 1, 3)
    rows_csv = core.service.rejected_csv(batch_id).decode("utf-8-sig")
    assert rows_csv.splitlines()[1] == (
        '3,msisdn,"the number is on the suppression list (it opted out), so it is not sent",'
        + NUMBER
    )
    plan = plan_from_json(core.store.plan_bytes(batch_id))
    assert [(s.line, s.msisdn) for s in plan.suppressed] == [(3, NUMBER)]
    assert NUMBER not in {m.msisdn for m in plan.messages}
    assert batch_digest(plan) == view.digest
    assert batch_digest(replace(plan, suppressed=())) != view.digest


def test_the_checker_worker_process_asks_the_list_itself(tmp_path: Path) -> None:
    """With the app's PoolPlanner the look-up crosses the process boundary by path alone."""
    planner = PoolPlanner()
    try:
        core = make_core(tmp_path / "db.sqlite")
        consent(core).add([NUMBER], PREPARER)
        service = BatchService(
            core.store,
            core.settings,
            PriceTable.load(None),
            is_approver=lambda u: u in core.approvers,
            notifier=core.notifier,
            planner=planner,
        )
        view = service.prepare(
            csv_rows(3), SendOptions(), Origin(PREPARER, CHANNEL, source="upload")
        )
    finally:
        planner.close()
    assert (view.summary.recipients, view.summary.suppressed) == (2, 1)
