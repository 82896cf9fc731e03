"""Stop: one atomic stop after approval; nothing of the batch starts after it is recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from bot.codec import params_from_json
from bot.eapi.client import EapiClient, SubmitResult
from bot.eapi.simulator.server import SimulatorServer
from bot.model import BatchState, ProgressKind
from bot.sending.sender import Sender
from bot.sending.steps import STOPPED
from tests.core_helpers import APPROVER, PREPARER, Core, FakeClock, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator

OUTSIDER = "U0OUTSIDER"


@pytest.fixture
def clock() -> FakeClock:
    """Time that only moves when the test moves it."""
    return FakeClock()


@pytest.fixture
def core(tmp_path: Path, clock: FakeClock) -> Core:
    """A service whose batches go out two messages a submission."""
    return make_core(tmp_path / "stop.db", clock=clock, chunk_size=2)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """The EAPI simulator on 127.0.0.1."""
    with running_simulator() as server:
        yield server


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[EapiClient]:
    """A client for the simulator."""
    made = client_for(sim)
    yield made
    made.close()


class StopsDuringRequest:
    """An EAPI client that has the batch stopped while its first request is under way."""

    def __init__(self, inner: EapiClient, core: Core, batch_id: int) -> None:
        self.inner = inner
        self.core = core
        self.batch_id = batch_id
        self.stops: list[object] = []

    def send_batch(self, params: Mapping[str, str]) -> SubmitResult:
        """Stop the batch (once), then send the request that was already recorded."""
        if not self.stops:
            self.stops.append(self.core.service.stops.stop(self.batch_id, PREPARER))
        return self.inner.send_batch(params)


def drain(core: Core, client: object, clock: FakeClock) -> None:
    """Run a sender until it is idle."""
    sender = core.sender(client)  # type: ignore[arg-type]
    for _ in range(100):
        if not sender.run_once():
            if sender.next_due is None:
                return
            clock.advance(sender.next_due - clock() + 0.01)
    raise AssertionError("the sender did not become idle")


def chunk_states(core: Core, batch_id: int) -> list[tuple[str, bool]]:
    """(state, stopped) of each chunk of the batch."""
    return [(c.state, c.stopped_at is not None) for c in core.store.chunks(batch_id)]


def test_a_stop_after_the_first_submission_saves_the_other_two(
    core: Core, client: EapiClient, sim: SimulatorServer, clock: FakeClock
) -> None:
    """Three submissions, stopped after the first: one reaches the EAPI, the thread counts."""
    batch_id = core.approved(csv_rows(6))
    sender = core.sender(client)
    assert sender.run_once()  # the first submission
    result = core.service.stops.stop(batch_id, PREPARER)
    assert result.ok and (result.sent, result.stopped, result.in_flight) == (2, 4, 0)
    drain(core, client, clock)
    assert len(sim.processed) == 1
    assert chunk_states(core, batch_id) == [("accepted", False), ("failed", True), ("failed", True)]
    assert core.store.batch_header(batch_id).state is BatchState.PARTLY_SENT
    [finished] = core.notifier.of(ProgressKind.FINISHED)
    assert finished.description == (
        "1 of 3 submissions accepted (2 messages sent); 2 stopped (4 messages not sent)"
    )
    entries = [e for e in core.store.audit_entries(batch_id) if e.event == "stopped"]
    assert [e.actor for e in entries] == [PREPARER]
    assert entries[0].detail_dict()["messages"]["stopped"] == 4


def test_a_second_stop_changes_nothing_and_says_who_stopped_it(
    core: Core, client: EapiClient, clock: FakeClock
) -> None:
    """A late click is refused with the first stop's author; the batch stays as it was."""
    batch_id = core.approved(csv_rows(6))
    assert core.service.stops.stop(batch_id, APPROVER).ok
    before = chunk_states(core, batch_id)
    late = core.service.stops.stop(batch_id, PREPARER)
    assert not late.ok and f"already stopped by <@{APPROVER}>" in late.reason
    assert chunk_states(core, batch_id) == before
    assert [e.event for e in core.store.audit_entries(batch_id)][-1] == "stop_refused"


def test_only_the_preparer_or_an_approver_may_stop(core: Core) -> None:
    """Anyone else is told why; the refusal is audited and the batch keeps going."""
    batch_id = core.approved(csv_rows(4))
    refused = core.service.stops.stop(batch_id, OUTSIDER)
    assert not refused.ok and "prepared batch" in refused.reason and "approver" in refused.reason
    assert core.store.batch_header(batch_id).stopped_at is None
    assert [e.event for e in core.store.audit_entries(batch_id)][-1] == "stop_refused"


def test_a_pending_batch_is_cancelled_not_stopped(core: Core) -> None:
    """Stop before approval is refused, pointing to Cancel."""
    batch_id = core.prepare(csv_rows(2))
    refused = core.service.stops.stop(batch_id, PREPARER)
    assert not refused.ok and "cancel it instead" in refused.reason


def test_the_submission_in_flight_finishes_and_nothing_else_goes(
    core: Core, client: EapiClient, sim: SimulatorServer, clock: FakeClock
) -> None:
    """A stop during a request: that request is answered and reported; the rest stop."""
    batch_id = core.approved(csv_rows(6))
    stopping = StopsDuringRequest(client, core, batch_id)
    drain(core, stopping, clock)
    [result] = stopping.stops
    assert result.ok and result.in_flight == 2 and result.stopped == 4  # type: ignore[attr-defined]
    assert len(sim.processed) == 1
    assert chunk_states(core, batch_id) == [("accepted", False), ("failed", True), ("failed", True)]
    done = core.notifier.of(ProgressKind.CHUNK_DONE)
    assert [(e.chunk_index, e.status_code) for e in done] == [(0, 0)]


def test_a_stop_committed_before_the_attempt_is_recorded_wins(
    core: Core, client: EapiClient, sim: SimulatorServer, clock: FakeClock
) -> None:
    """The sender read the chunk, then the stop committed: no attempt is recorded, none sent."""
    batch_id = core.approved(csv_rows(2))
    sender = core.sender(client)
    batch, chunk = core.store.batch_header(batch_id), core.store.chunks(batch_id)[0]
    params = params_from_json(core.store.chunk_params(chunk.id)[0])
    assert core.service.stops.stop(batch_id, APPROVER).ok
    steps = sender._steps  # the step that records an attempt, called as the sender would
    assert steps.start_attempt(batch, chunk, params, clock()) == STOPPED
    assert core.store.open_attempts() == []
    drain(core, client, clock)
    assert sim.processed == []
    assert core.store.batch_header(batch_id).state is BatchState.FAILED


def test_after_a_crash_mid_request_a_stopped_chunk_is_not_resent(
    core: Core, client: EapiClient, sim: SimulatorServer, clock: FakeClock
) -> None:
    """A request cut off by a crash, then a stop: the restart marks it unknown, never resends."""
    batch_id = core.approved(csv_rows(4))
    crashed = core.sender(client, owner="crashed-host:1")
    assert crashed._hold_lease(clock())
    batch, chunk = core.store.batch_header(batch_id), core.store.chunks(batch_id)[0]
    params = params_from_json(core.store.chunk_params(chunk.id)[0])
    assert crashed._steps.start_attempt(batch, chunk, params, clock()) == 1  # then it died
    result = core.service.stops.stop(batch_id, PREPARER)
    assert result.ok and result.in_flight == 2 and result.stopped == 2
    clock.advance(60)  # the dead sender's lease runs out
    drain(core, client, clock)
    assert sim.processed == []
    assert chunk_states(core, batch_id) == [("unknown", False), ("failed", True)]
    assert core.store.batch_header(batch_id).state is BatchState.UNKNOWN
    assert [e.chunk_index for e in core.notifier.of(ProgressKind.UNKNOWN)] == [0]


def race(core: Core, sender: Sender, batch_id: int, delay: float) -> list[bool]:
    """Approve, run a sender, and click Stop 20 times from `delay` s on; the stops' outcomes."""
    digest = core.service.get(batch_id).digest
    gate = threading.Barrier(3)
    stops: list[bool] = []

    def approve() -> None:
        gate.wait()
        core.service.approve(batch_id, APPROVER, digest)

    def stop() -> None:
        gate.wait()
        time.sleep(delay)
        for _ in range(20):
            stops.append(core.service.stops.stop(batch_id, PREPARER).ok)

    def send() -> None:
        gate.wait()
        for _ in range(500):
            if sender.run_once():
                continue
            if core.store.batch_header(batch_id).state.final:
                return
            time.sleep(0.002)

    threads = [threading.Thread(target=f) for f in (approve, stop, send)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stops


def test_a_stop_racing_the_approval_and_the_sender_keeps_every_promise(
    tmp_path: Path, client: EapiClient, sim: SimulatorServer
) -> None:
    """Stop clicks racing the approval and a running sender: no attempt after the stop."""
    core = make_core(tmp_path / "race.db", chunk_size=2)
    sender = core.sender(client)
    for delay in (0.0, 0.002, 0.004, 0.006, 0.008, 0.012):  # before, while and after it sends
        batch_id = core.prepare(csv_rows(6))
        stops = race(core, sender, batch_id, delay)
        assert stops.count(True) <= 1  # of many clicks, at most one stop counts
        events = [e.event for e in core.store.audit_entries(batch_id)]
        if "stopped" in events:  # the audit log is one chain: its order is the commit order
            assert "attempt_started" not in events[events.index("stopped") :]
        accepted = [c for c in core.store.chunks(batch_id) if c.state == "accepted"]
        assert events.count("attempt_started") == len(accepted)  # each sent once, none open
    stop_dup_ids = [s.stop_dup_id for s in sim.processed]
    assert len(stop_dup_ids) == len(set(stop_dup_ids))


def test_a_batch_waiting_behind_another_is_stopped_and_finished_at_once(
    core: Core, client: EapiClient, sim: SimulatorServer, clock: FakeClock
) -> None:
    """Stopping the second batch in the queue ends it now; the first is sent in full."""
    first, second = core.approved(csv_rows(4)), core.approved(csv_rows(4))
    result = core.service.stops.stop(second, APPROVER)
    assert result.ok and result.stopped == 4 and result.in_flight == 0
    assert core.store.batch_header(second).state is BatchState.FAILED
    [finished] = core.notifier.of(ProgressKind.FINISHED)
    assert finished.batch_id == second
    drain(core, client, clock)
    assert [len(s.rows) for s in sim.processed] == [2, 2]
    assert core.store.batch_header(first).state is BatchState.SENT


def test_a_chunk_waiting_to_retry_is_stopped_not_resent(core: Core, clock: FakeClock) -> None:
    """Status 40 (try later) then a stop: the retry never happens; the chunk counts as stopped."""
    with running_simulator(script="40,0") as busy:
        client = client_for(busy)
        batch_id = core.approved(csv_rows(2))
        sender = core.sender(client)
        assert sender.run_once()  # answered 40: a retry is scheduled
        assert core.store.chunks(batch_id)[0].next_attempt_at is not None
        assert core.service.stops.stop(batch_id, PREPARER).stopped == 2
        drain(core, client, clock)
        client.close()
        assert len(busy.requests) == 1 and busy.processed == []
    assert chunk_states(core, batch_id) == [("failed", True)]


def test_a_batch_scheduled_at_the_eapi_points_to_the_bulksms_account(
    core: Core, client: EapiClient, clock: FakeClock
) -> None:
    """Once submitted with a send time, a stop is refused naming the BulkSMS account."""
    batch_id = core.approved(csv_rows(2), send_at=int(clock()) + 3600)
    drain(core, client, clock)
    assert core.store.chunks(batch_id)[0].state == "scheduled"
    refused = core.service.stops.stop(batch_id, PREPARER)
    assert not refused.ok and "cancel it in the BulkSMS account" in refused.reason
