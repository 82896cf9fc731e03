"""Approval and the stored plan's check in the upload checker's worker: the same chunks,
recipients and audit as in this process, the same refusals, this process's CPU spared, a
changed plan still refused, and a dead worker never loses a click."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from bot.approving import approve_by
from bot.codec import params_from_json
from bot.intake.planner import PoolPlanner
from bot.model import BatchState, ProgressKind
from bot.service import BatchService
from bot.store.db import stored_plan_digest
from tests.core_helpers import APPROVER, PREPARER, Core, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator

OUTSIDER = "U0OUTSIDER"


@pytest.fixture(scope="module")
def pool() -> Iterator[PoolPlanner]:
    """One worker process for the module's tests (a start takes ~0.5 s)."""
    planner = PoolPlanner()
    yield planner
    planner.close()


def _in_worker(core: Core, pool: PoolPlanner) -> BatchService:
    """A second service on the core's database whose approvals run in the worker."""
    return BatchService(
        core.store,
        core.settings,
        core.service.prices,
        is_approver=lambda user: user in core.approvers,
        notifier=core.notifier,
        approve=approve_by(pool.run_or_here),
    )


def _stored(core: Core, batch_id: int) -> tuple[list[object], list[tuple[object, ...]]]:
    """The batch's chunks (parameters without their stop_dup_id) and recipients as stored."""
    chunks = []
    for chunk in core.store.chunks(batch_id):
        params = params_from_json(core.store.chunk_params(chunk.id)[0])
        params.pop("stop_dup_id")
        chunks.append((chunk.index, chunk.dca, chunk.messages, chunk.state, params))
    rows = core.store.query(
        "SELECT chunk_index, position, line, msisdn, source_id, state FROM report_messages "
        "WHERE batch_id = ? ORDER BY chunk_index, position",
        [batch_id],
    )
    return chunks, [tuple(r) for r in rows]


def test_an_approval_in_the_worker_stores_what_one_here_does(
    tmp_path: Path, pool: PoolPlanner
) -> None:
    """Chunks, their parameters, recipients, the audit entry and the queued notice match."""
    core = make_core(tmp_path / "w.db", chunk_size=4)
    data = csv_rows(9) + b"447400100003,Hello again\n"  # a repeated number gets a source_id
    here, there = core.prepare(data), core.prepare(data)
    assert core.service.approve(here, APPROVER, core.service.get(here).digest).ok
    service = _in_worker(core, pool)
    decision = service.approve(there, APPROVER, service.get(there).digest)
    assert decision.ok and decision.reason == "" and decision.batch.decided_by == APPROVER
    assert _stored(core, there) == _stored(core, here)
    assert len(core.store.chunks(there)) == 3
    [entry] = [e for e in core.store.audit_entries(there) if e.event == "approved"]
    stop_dup_ids = [c["stop_dup_id"] for c in entry.detail_dict()["chunks"]]
    assert stop_dup_ids == [c.stop_dup_id for c in core.store.chunks(there)]
    assert not set(stop_dup_ids) & {c.stop_dup_id for c in core.store.chunks(here)}
    assert [q.batch_id for q in core.notifier.of(ProgressKind.QUEUED)] == [here, there]
    assert core.store.audit_entries()[-1].event == "approved"  # the chain goes on unbroken


def test_refusals_in_the_worker_say_why_and_are_audited(tmp_path: Path, pool: PoolPlanner) -> None:
    """An old digest, an outsider and a second click are refused with their reasons."""
    core = make_core(tmp_path / "r.db")
    service = _in_worker(core, pool)
    batch_id = core.prepare()
    digest = service.get(batch_id).digest
    stale = service.approve(batch_id, APPROVER, "0" * 64)
    assert not stale.ok and "changed since this preview" in stale.reason
    outsider = service.approve(batch_id, OUTSIDER, digest)
    assert not outsider.ok and "not an approver" in outsider.reason
    assert service.approve(batch_id, APPROVER, digest).ok
    again = service.approve(batch_id, APPROVER, digest)
    assert not again.ok and f"already approved by <@{APPROVER}>" in again.reason
    events = [e.event for e in core.store.audit_entries(batch_id)]
    assert events.count("approval_refused") == 3 and events.count("approved") == 1
    assert core.store.batch_header(batch_id).prepared_by == PREPARER


def test_a_big_approval_costs_this_process_a_fraction_of_its_cpu(
    tmp_path: Path, pool: PoolPlanner
) -> None:
    """Approving 20,000 rows in the worker takes under a fifth of this process's CPU that the
    same approval takes here (plan decoding, parameters and 20,000 rows written there)."""
    core = make_core(tmp_path / "cpu.db")
    data = csv_rows(20_000)
    here, there = core.prepare(data), core.prepare(data)
    service = _in_worker(core, pool)
    digests = service.get(here).digest, service.get(there).digest
    started = time.process_time()
    assert core.service.approve(here, APPROVER, digests[0]).ok
    local = time.process_time() - started
    started = time.process_time()
    assert service.approve(there, APPROVER, digests[1]).ok
    remote = time.process_time() - started
    assert remote < local / 5, (remote, local)
    assert len(_stored(core, there)[1]) == 20_000


def _die_in_a_worker(parent: int) -> int:
    """Kill the process running this unless it is `parent`; the pid that finished it."""
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def test_work_whose_worker_dies_twice_is_done_here(pool: PoolPlanner) -> None:
    """`run_or_here` retries on a fresh worker once, then does the work in this process; the
    next job goes to a new worker again."""
    assert pool.run_or_here(_die_in_a_worker, os.getpid()) == os.getpid()
    assert pool.run_or_here(os.getpid) != os.getpid()


def test_the_worker_checks_a_stored_plan_the_sender_never_reads(
    tmp_path: Path, pool: PoolPlanner
) -> None:
    """With `stored_digest` in the worker, an intact batch is sent and one whose stored
    messages were changed after approval is refused (`payload_mismatch`), nothing of it sent."""
    core = make_core(tmp_path / "digest.db")
    intact, changed = core.approved(csv_rows(3)), core.approved(csv_rows(3, "Later {i}"))
    raw = sqlite3.connect(core.store.path, isolation_level=None)
    raw.execute(
        "UPDATE batch_content SET plan = replace(plan, 'Later 1', 'Pay now') WHERE batch_id = ?",
        [changed],
    )
    raw.close()
    with running_simulator() as sim:
        client = client_for(sim)
        check = partial(pool.run_or_here, stored_plan_digest, str(core.store.path))
        sender = core.sender(client, stored_digest=check)
        while sender.run_once():
            pass
        sender.stop()
        client.close()
    assert core.store.batch_header(intact).state is BatchState.SENT
    assert core.store.batch_header(changed).state is BatchState.FAILED
    assert "payload_mismatch" in [e.event for e in core.store.audit_entries(changed)]
    sent = [row for submission in sim.processed for row in submission.rows]
    assert sent == [(f"4474001{i:05d}", f"Hello {i}") for i in range(3)]
