"""Test sends: the first message, exactly as it will go, to the asker's own phone; nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.eapi.client import EapiClient
from bot.eapi.simulator.server import SimulatorServer
from bot.model import BatchState, ProgressKind, TestMode
from bot.store.testsends import start_test
from bot.testsend import TestAsk
from tests.core_helpers import APPROVER, CHANNEL, PREPARER, Core, FakeClock, make_core
from tests.eapi_fixtures import client_for, running_simulator

ROWS = (
    "msisdn,message,sender,name\n"
    "447911123401,Grüße ((name)) €5,ACME,Zoë\n"  # 16-bit, templated; a per-row sender column
    "447911123402,Second,ACME,Bob\n"
).encode()


@pytest.fixture
def clock() -> FakeClock:
    """Time that only moves when the test moves it."""
    return FakeClock()


@pytest.fixture
def core(tmp_path: Path, clock: FakeClock) -> Core:
    """A service on a temporary database."""
    return make_core(tmp_path / "tests.db", clock=clock)


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


def ask(core: Core, batch_id: int, user: str = PREPARER, phone: str | None = "+44 7700 900123"):
    """A Test click on the batch's current preview."""
    digest = core.service.get(batch_id).digest
    return core.service.tests.request(TestAsk(batch_id, digest, user, phone, CHANNEL, "1.000"))


def test_the_first_message_goes_to_the_askers_phone_as_its_own_submission(
    core: Core, client: EapiClient, sim: SimulatorServer
) -> None:
    """Same text, dca, routing group and per-row sender; the profile's number; own stop_dup_id."""
    batch_id = core.prepare(ROWS, routing_group=2)
    before = core.service.get(batch_id).digest
    queued = ask(core, batch_id)
    assert queued.ok and queued.msisdn == "447700900123"
    core.sender(client).run_once()
    [sent] = sim.processed
    assert sent.rows == (("447700900123", "Grüße Zoë €5"),)  # filled, exactly as it will go
    assert sent.dca == "16bit" and sent.options.get("routing_group") == "2"
    assert dict(sent.row_fields[0]).get("sender") == "ACME"
    view = core.service.get(batch_id)
    assert view.state is BatchState.PENDING and view.digest == before and view.chunks == ()
    [done] = core.notifier.of(ProgressKind.TEST_DONE)
    assert done.status_code == 0 and done.eapi_batch_id == sent.batch_id
    record = core.service.tests.get(queued.test_id or 0)
    assert record is not None and record.state == "accepted"
    assert record.stop_dup_id == sent.stop_dup_id
    events = [e.event for e in core.store.audit_entries(batch_id)]
    assert events[-3:] == ["test_requested", "test_attempt_started", "test_finished"]
    requested = core.store.audit_entries(batch_id)[-3].detail_dict()
    assert requested["msisdn"] == "447700900123" and requested["stop_dup_id"] == sent.stop_dup_id


def test_the_test_does_not_reuse_a_stop_dup_id_of_the_batch(
    core: Core, client: EapiClient, sim: SimulatorServer
) -> None:
    """A test's id comes from the chunks' sequence: approval afterwards takes fresh ones."""
    batch_id = core.prepare(ROWS)
    ask(core, batch_id)
    core.service.approve(batch_id, APPROVER, core.service.get(batch_id).digest)
    sender = core.sender(client)
    while sender.run_once():
        pass
    ids = [s.stop_dup_id for s in sim.processed]
    assert len(set(ids)) == len(ids) == 3  # the test, then one chunk per encoding


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        (None, "your Slack profile has no phone number"),
        ("", "your Slack profile has no phone number"),
        ("call me", "the phone number on your Slack profile cannot be used"),
    ],
)
def test_without_a_usable_phone_nothing_is_sent(
    core: Core, client: EapiClient, sim: SimulatorServer, phone: str | None, expected: str
) -> None:
    """No or a bad profile phone: refused with the reason, audited, no request made."""
    batch_id = core.prepare(ROWS)
    refused = ask(core, batch_id, phone=phone)
    assert not refused.ok and refused.reason.startswith(expected)
    assert not core.sender(client).run_once() and sim.requests == []
    assert [e.event for e in core.store.audit_entries(batch_id)][-1] == "test_refused"


def test_one_test_a_minute_per_person_and_batch(core: Core, clock: FakeClock) -> None:
    """A second click within a minute is refused with the wait; another person may test."""
    batch_id = core.prepare(ROWS)
    assert ask(core, batch_id).ok
    again = ask(core, batch_id)
    assert not again.ok and "one test a minute per batch" in again.reason
    assert ask(core, batch_id, user=APPROVER).ok
    clock.advance(61)
    assert ask(core, batch_id).ok


def test_test_mode_an_outsider_and_a_decided_batch_are_refused(core: Core) -> None:
    """Test mode on (nothing would arrive), someone else, or an approved batch: refused."""
    in_test_mode = core.prepare(ROWS, test_mode=TestMode.SUCCEED)
    assert "test mode on" in ask(core, in_test_mode).reason
    batch_id = core.prepare(ROWS)
    assert "or an approver can test it" in ask(core, batch_id, user="U0OTHER").reason
    core.service.approve(batch_id, APPROVER, core.service.get(batch_id).digest)
    assert "no longer waiting for approval" in ask(core, batch_id).reason


def test_a_test_cut_off_by_a_crash_is_never_resent(
    core: Core, client: EapiClient, sim: SimulatorServer
) -> None:
    """A test recorded as started when the process died: the restart says unknown, sends nothing."""
    batch_id = core.prepare(ROWS)
    queued = ask(core, batch_id)
    with core.store.write() as tx:
        assert start_test(tx, queued.test_id or 0, 1.0)  # the outbox row of a request under way
    core.sender(client).run_once()
    assert sim.requests == []
    record = core.service.tests.get(queued.test_id or 0)
    assert record is not None and record.state == "unknown"
    assert [e.test_id for e in core.notifier.of(ProgressKind.TEST_DONE)] == [queued.test_id]
