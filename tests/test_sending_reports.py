"""Report polling through the sender's one connection, and pushed reports, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.codec import params_from_json
from bot.eapi.client import EapiClient
from bot.eapi.reports import delivery_state
from bot.eapi.simulator.delivery import DeliveryModel, parse_mix
from bot.eapi.simulator.server import SimulatorServer
from bot.model import DeliveryState, ProgressKind
from bot.sending.reports import PushReceiver, ReportPoller, first_step, following_step
from bot.sending.sender import Sender
from bot.store.audit import AuditEvent
from bot.store.db import Store
from bot.store.reports import DeliveryStore, Schedule
from tests.core_helpers import Core, FakeClock, RecordingNotifier, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator

DELAYS = (60.0, 300.0, 900.0)
MIX = "delivered=6,failed=2,transient=2,pending=1"


@pytest.fixture
def clock() -> FakeClock:
    """Unix time that moves only when a test says so (the simulator's too)."""
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[SimulatorServer]:
    """The simulator on the test's clock, with a mix that has every fate."""
    model = DeliveryModel(parse_mix(MIX))
    with running_simulator(clock=clock, delivery=model, seed=5, hang_seconds=5) as server:
        yield server


@pytest.fixture
def core(tmp_path: Path, clock: FakeClock) -> Iterator[Core]:
    """A service on a temporary database, on the test's clock."""
    made = make_core(tmp_path / "smsbatch.db", clock=clock)
    yield made
    made.store.close()


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[EapiClient]:
    """A client for the simulator, closed after the test."""
    made = client_for(sim)
    yield made
    made.close()


def _sender(core: Core, client: EapiClient, clock: FakeClock) -> tuple[Sender, ReportPoller]:
    poller = ReportPoller(core.store, client, core.notifier, DELAYS, clock=clock)
    return core.sender(client, side_tasks=[poller]), poller


def _drive(sender: Sender, clock: FakeClock, until: float) -> None:
    """Run the sender step by step, moving the clock to whatever is due next, up to `until`."""
    for _ in range(500):
        if sender.run_once():
            continue
        due = sender.next_due
        if due is None or due > until:
            return
        clock.advance(max(0.0, due - clock()))
    raise AssertionError("the sender never went idle")


def _states(store: Store, batch_id: int) -> list[tuple[str, DeliveryState, int | None]]:
    return [(m.msisdn, m.state, m.status_code) for m in DeliveryStore(store).messages(batch_id)]


def _report_requests(sim: SimulatorServer) -> list[float]:
    return [r.at for r in sim.requests if r.path.endswith("/get_report/2/2.0")]


def test_polling_follows_the_delays_and_ends_with_what_the_simulator_decided(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """Fetches at 60, 300 and 900 s; final states match the simulator; leftovers are unknown."""
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(30))
    start = clock()
    _drive(sender, clock, until=start + 10_000)
    [chunk] = core.store.chunks(batch_id)
    assert chunk.eapi_batch_id is not None
    fetched = [round(at - start) for at in _report_requests(sim)]
    assert fetched == [60, 300, 900]
    last_fetch = _report_requests(sim)[-1]
    truth = sim.report_codes(chunk.eapi_batch_id, last_fetch)
    mine = _states(core.store, batch_id)
    for (_, state, code), sim_code in zip(mine, truth, strict=True):
        assert sim_code is not None and code == sim_code
        decided = delivery_state(sim_code)
        assert state is (DeliveryState.UNKNOWN if decided is DeliveryState.PENDING else decided)
    counts = DeliveryStore(core.store).delivery_counts(batch_id)
    assert counts.pending == 0 and counts.total == 30
    assert counts.unknown == sum(1 for c in truth if c in (0, 10, 12, 63, 70))
    assert counts.delivered == sum(1 for c in truth if c == 11)
    events = [e.event for e in core.store.audit_entries(batch_id)]
    assert events.count(AuditEvent.REPORT_FETCHED) == 3
    assert events.count(AuditEvent.REPORTS_CLOSED) == 1
    assert sim.max_in_flight == 1


def test_the_thread_hears_of_the_first_reports_and_the_final_counts_only(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """Two announcements per batch: the first reports, then the final counts."""
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(12))
    _drive(sender, clock, until=clock() + 10_000)
    told = [e for e in core.notifier.of(ProgressKind.DELIVERY) if e.announce]
    assert [e.delivery_final for e in told] == [False, True]
    assert told[-1].delivery == DeliveryStore(core.store).delivery_counts(batch_id)
    assert told[-1].batch_id == batch_id


def test_a_waiting_submission_goes_before_a_due_fetch(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """With a fetch due and a batch approved, the submission is sent first."""
    sender, _ = _sender(core, client, clock)
    core.approved(csv_rows(3))
    _drive(sender, clock, until=clock())  # accepted and scheduled; first fetch due in 60 s
    clock.advance(61)
    core.approved(csv_rows(4))
    assert sender.run_once()
    assert sim.requests[-1].path.endswith("/send_batch/1/1.0")
    while sender.run_once():
        pass
    assert _report_requests(sim), "the fetch follows once no submission is ready"


@pytest.mark.parametrize("fault", ["40", "503", "timeout", "garbage", "23"])
def test_a_failed_fetch_is_retried_later_and_marks_nothing(
    core: Core, sim: SimulatorServer, clock: FakeClock, fault: str
) -> None:
    """A faulty get_report changes no message, is audited, lets a waiting submission go first,
    and is tried again after a backoff."""
    client = client_for(sim, read_timeout=0.3)
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(5))
    _drive(sender, clock, until=clock())
    clock.advance(3600)  # every message has a final code in the simulator by now
    sim.set_report_script(fault)
    assert sender.run_once()  # the failed fetch
    assert {s for _, s, _ in _states(core.store, batch_id)} == {DeliveryState.PENDING}
    assert not sender.run_once(), "a failed fetch is not tried again at once"
    assert sender.next_due is not None and sender.next_due >= clock() + 30
    failed = [e for e in core.store.audit_entries(batch_id) if e.event == "report_fetch_failed"]
    assert len(failed) == 1
    core.approved(csv_rows(2))  # a submission waiting now goes at once
    assert sender.run_once() and sim.requests[-1].path.endswith("/send_batch/1/1.0")
    while sender.run_once():  # finish it; the failed fetch is not due yet
        pass
    assert len(_report_requests(sim)) == 1
    clock.advance(31)
    assert sender.run_once()
    assert DeliveryStore(core.store).delivery_counts(batch_id).pending < 5
    assert sim.max_in_flight == 1
    client.close()


def test_the_schedule_survives_a_restart_between_two_polls(
    tmp_path: Path, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """A new process resumes at the next delay: no fetch repeated, none lost."""
    db = tmp_path / "smsbatch.db"
    core = make_core(db, clock=clock)
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(30))  # enough rows for some to stay pending to the end
    start = clock()
    _drive(sender, clock, until=start + 100)  # the 60 s fetch only
    sender.stop()
    core.store.close()
    again = make_core(db, clock=clock)
    sender, _ = _sender(again, client, clock)
    _drive(sender, clock, until=start + 10_000)
    assert [round(at - start) for at in _report_requests(sim)] == [60, 300, 900]
    assert DeliveryStore(again.store).delivery_counts(batch_id).pending == 0
    again.store.close()


def test_a_repeated_number_is_told_apart_by_our_source_id(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """The same number twice in one submission carries L+line and gets its own report."""
    sender, _ = _sender(core, client, clock)
    data = b"msisdn,message\n447700900001,first\n447700900002,other\n447700900001,second\n"
    batch_id = core.approved(data)
    _drive(sender, clock, until=clock() + 10_000)
    [chunk] = core.store.chunks(batch_id)
    params = params_from_json(core.store.chunk_params(chunk.id)[0])
    assert '"L2"' in params["batch_data"] and '"L4"' in params["batch_data"]
    assert chunk.eapi_batch_id is not None
    truth = sim.report_codes(chunk.eapi_batch_id, _report_requests(sim)[-1])
    assert [m.status_code for m in DeliveryStore(core.store).messages(batch_id)] == truth


def test_missed_delays_are_fetched_once_not_one_by_one() -> None:
    """After downtime the next fetch is now, and the one after it is the next delay ahead."""
    assert first_step(DELAYS, 0.0, 10.0) == (0, 60.0)
    assert first_step(DELAYS, 0.0, 400.0) == (1, 400.0)
    schedule = Schedule(1, 0, 9, 0.0, 0, 60.0, 0, 0)
    assert following_step(DELAYS, schedule, 60.0) == (1, 300.0)
    assert following_step(DELAYS, schedule, 950.0) == (3, None)


def test_pushed_reports_apply_idempotently_and_never_go_back(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """A repeated or out-of-order push changes nothing; a final state stays final."""
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(2))
    _drive(sender, clock, until=clock())
    [chunk] = core.store.chunks(batch_id)
    receive = PushReceiver(core.store, core.notifier, clock=clock)
    number = DeliveryStore(core.store).messages(batch_id)[0].msisdn
    push = {"msisdn": number, "batch_id": str(chunk.eapi_batch_id), "status": "11"}
    receive(push)
    receive(push)
    receive(push | {"status": "0"})
    receive(push | {"status": "51"})
    assert _states(core.store, batch_id)[0] == (number, DeliveryState.DELIVERED, 11)
    pushed = [e for e in core.store.audit_entries(batch_id) if e.event == "report_pushed"]
    assert len(pushed) == 1
    receive(push | {"batch_id": "1"})  # none of ours: logged, accepted, nothing changes
    with pytest.raises(ValueError, match="status must be digits"):
        receive(push | {"status": "x"})


def test_unknown_from_status_70_may_still_become_delivered(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """70 is unknown, a later 11 delivers it; an older 0 after the 70 does not reopen it."""
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(1))
    _drive(sender, clock, until=clock())
    [chunk] = core.store.chunks(batch_id)
    receive = PushReceiver(core.store, RecordingNotifier(), clock=clock)
    push = {"msisdn": "447400100000", "batch_id": str(chunk.eapi_batch_id)}
    receive(push | {"status": "70"})
    receive(push | {"status": "0"})
    assert _states(core.store, batch_id)[0][1] is DeliveryState.UNKNOWN
    receive(push | {"status": "11"})
    assert _states(core.store, batch_id)[0][1] is DeliveryState.DELIVERED


def test_a_push_for_a_batch_without_records_announces_nothing(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """A batch approved before reports were kept has no rows: a push changes and tells nothing."""
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(1))
    _drive(sender, clock, until=clock())
    [chunk] = core.store.chunks(batch_id)
    with core.store.write() as tx:  # as an older version left it: no message rows
        tx._run("DELETE FROM report_messages WHERE batch_id = ?", [batch_id])
    notifier = RecordingNotifier()
    receive = PushReceiver(core.store, notifier, clock=clock)
    receive({"msisdn": "447400100000", "batch_id": str(chunk.eapi_batch_id), "status": "11"})
    assert notifier.events == []


def test_fetches_failing_a_day_after_the_last_delay_stop_and_leave_unknown(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """A refused login for days does not retry for ever: pending becomes unknown, audited."""
    sender, _ = _sender(core, client, clock)
    batch_id = core.approved(csv_rows(3))
    _drive(sender, clock, until=clock())
    sim.set_report_script(["23"] * 400)
    clock.advance(DELAYS[-1] + 86_400 + 1)
    _drive(sender, clock, until=clock() + 86_400)
    counts = DeliveryStore(core.store).delivery_counts(batch_id)
    assert counts.unknown == 3 and counts.delivered == 0
    assert len(_report_requests(sim)) == 1
    events = [e.event for e in core.store.audit_entries(batch_id)]
    assert events.count(AuditEvent.REPORTS_CLOSED) == 1
    assert sender.next_due is None or sender.next_due > clock() + 86_000


def test_messages_of_a_failed_submission_become_failed_without_a_fetch(
    core: Core, sim: SimulatorServer, client: EapiClient, clock: FakeClock
) -> None:
    """A submission answered 24 never gets a report: its messages are failed, not pending."""
    sender, _ = _sender(core, client, clock)
    sim.set_script("24")
    batch_id = core.approved(csv_rows(3))
    _drive(sender, clock, until=clock() + 10_000)
    assert DeliveryStore(core.store).delivery_counts(batch_id).failed == 3
    assert _report_requests(sim) == []
    told = [e for e in core.notifier.of(ProgressKind.DELIVERY) if e.announce]
    assert [e.delivery_final for e in told] == [True]
    count, data = core.service.failures_csv(batch_id)
    assert count == 3 and b"not sent: its submission failed" in data
