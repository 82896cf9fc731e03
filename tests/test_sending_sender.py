"""The sender against the EAPI simulator over localhost HTTP: order, retries, faults, the lease."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.eapi.client import EapiClient, Outcome
from bot.eapi.simulator.server import SimulatorServer
from bot.model import BatchState, Progress, ProgressKind, TestMode
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from tests.core_helpers import Core, FakeClock, RecordingNotifier, csv_rows, make_core
from tests.eapi_fixtures import SIM_PASSWORD, client_for, running_simulator


@pytest.fixture
def clock() -> FakeClock:
    """Time that only moves when the test (or `drain`) moves it."""
    return FakeClock()


@pytest.fixture
def core(tmp_path: Path, clock: FakeClock) -> Core:
    """A service on a temporary database using the fake clock."""
    return make_core(tmp_path / "send.db", clock=clock)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A simulator on 127.0.0.1 that holds a `timeout` answer for one second."""
    with running_simulator(hang_seconds=1.0) as server:
        yield server


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[EapiClient]:
    """A client with a read timeout short enough for the simulator's `timeout` fault."""
    made = client_for(sim, read_timeout=0.3)
    yield made
    made.close()


def drain(sender: Sender, clock: FakeClock, steps: int = 200) -> None:
    """Run the sender until idle, jumping the fake clock over every backoff."""
    for _ in range(steps):
        if sender.run_once():
            continue
        if sender.next_due is None:
            return
        clock.advance(max(0.0, sender.next_due - clock()) + 0.001)
    raise AssertionError("the sender did not become idle")


def _audit_events(core: Core, batch_id: int) -> list[str]:
    return [e.event for e in core.store.audit_entries(batch_id)]


def test_an_approved_batch_is_sent_chunk_by_chunk_exactly_as_previewed(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Each chunk is one POST with its stored stop_dup_id; rows arrive exactly; batch sent."""
    core = make_core(tmp_path / "chunks.db", clock=clock, chunk_size=2)
    batch_id = core.approved(csv_rows(3, text='Say "hi"\\ {i}\nbye'))
    drain(core.sender(client), clock)
    chunks = core.store.chunks(batch_id)
    assert [s.stop_dup_id for s in sim.processed] == [c.stop_dup_id for c in chunks]
    sent = [row for s in sim.processed for row in s.rows]
    plan = core.store.batch(batch_id).plan
    assert sent == [(m.msisdn, m.text) for m in plan.messages]
    assert [c.state for c in chunks] == ["accepted", "accepted"]
    assert [c.eapi_batch_id for c in chunks] == [s.batch_id for s in sim.processed]
    assert core.store.batch(batch_id).state is BatchState.SENT
    done = core.notifier.of(ProgressKind.CHUNK_DONE)
    assert [(d.chunk_index, d.status_code, d.chunk_count) for d in done] == [(0, 0, 2), (1, 0, 2)]
    [finished] = core.notifier.of(ProgressKind.FINISHED)
    assert finished.state is BatchState.SENT
    assert _audit_events(core, batch_id)[2:] == [
        "attempt_started",
        "attempt_finished",
        "chunk_done",
        "attempt_started",
        "attempt_finished",
        "chunk_done",
        "batch_finished",
    ]
    started = [e for e in core.store.audit_entries(batch_id) if e.event == "attempt_started"]
    assert "password" not in started[0].detail and "sim-password" not in started[0].detail
    assert started[0].detail_dict()["params"]["stop_dup_id"] == str(chunks[0].stop_dup_id)


def test_an_attempt_at_a_big_chunk_writes_its_parameters_once(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Sending a 5,000-row chunk writes its parameters to the WAL once (in the attempt's audit
    entry), not again with each change of the chunk's state (they live in `chunk_params`)."""
    core = make_core(tmp_path / "big.db", clock=clock, chunk_size=5_000)
    batch_id = core.approved(csv_rows(5_000))
    [chunk] = core.store.chunks(batch_id)
    params = len(core.store.chunk_params(chunk.id)[0].encode())
    assert params > 150_000
    core.store._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    drain(core.sender(client), clock)
    assert [c.state for c in core.store.chunks(batch_id)] == ["accepted"]
    wal = Path(f"{core.store.path}-wal").stat().st_size
    assert wal < params + 200_000, (wal, params)


def test_transient_faults_are_retried_with_the_same_id_and_body(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Script 40,503,timeout,0: four attempts, one stop_dup_id and body, one processed."""
    sim.set_script("40,503,timeout,0")
    batch_id = core.approved()
    drain(core.sender(client), clock)
    assert len(sim.requests) == 4
    assert len(sim.processed) == 1
    bodies = [dict(r.params) for r in sim.requests]
    assert all(body == bodies[0] for body in bodies)
    [chunk] = core.store.chunks(batch_id)
    assert bodies[0]["stop_dup_id"] == str(chunk.stop_dup_id)
    assert (chunk.attempts, chunk.state) == (4, "accepted")
    retrying = core.notifier.of(ProgressKind.RETRYING)
    assert [r.attempt for r in retrying] == [1, 2, 3]
    assert retrying[0].status_code == 40 and retrying[1].description == "HTTP 503"
    assert core.store.batch(batch_id).state is BatchState.SENT
    assert _audit_events(core, batch_id).count("retry_scheduled") == 3


def test_backoff_waits_grow_and_nothing_is_resent_early(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """After a 40 the chunk is not resent before its backoff; then it is."""
    sim.set_script("40,0")
    core.approved()
    sender = core.sender(client, RetryPolicy(base_seconds=10, cap_seconds=10))
    assert sender.run_once()  # attempt 1 -> 40
    due = sender.next_due
    assert not sender.run_once() and sender.next_due is not None
    assert 0 <= sender.next_due - clock() <= 10
    assert len(sim.requests) == 1 and due is None
    clock.advance(10.01)
    assert sender.run_once()
    assert len(sim.requests) == 2 and len(sim.processed) == 1


def test_insufficient_credits_is_final_and_stops_the_batch(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Status 25: no retry, later chunks not submitted, FINISHED failed with status 25."""
    core = make_core(tmp_path / "25.db", clock=clock, chunk_size=1)
    sim.set_script("25")
    batch_id = core.approved(csv_rows(3))
    drain(core.sender(client), clock)
    assert len(sim.requests) == 1 and sim.processed == []
    chunks = core.store.chunks(batch_id)
    assert [c.state for c in chunks] == ["failed", "failed", "failed"]
    assert chunks[0].status_code == 25
    assert "not submitted: chunk 1 failed with status 25" in (chunks[1].reason or "")
    [finished] = core.notifier.of(ProgressKind.FINISHED)
    assert (finished.state, finished.status_code) == (BatchState.FAILED, 25)
    assert core.notifier.of(ProgressKind.RETRYING) == []


def test_a_validation_failure_ends_only_its_own_chunk(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Status 24 on chunk 1 of 2: chunk 2 is still sent, the batch is partly sent."""
    core = make_core(tmp_path / "24.db", clock=clock, chunk_size=1)
    sim.set_script("24,0")
    batch_id = core.approved(csv_rows(2))
    drain(core.sender(client), clock)
    assert [c.state for c in core.store.chunks(batch_id)] == ["failed", "accepted"]
    assert core.store.batch(batch_id).state is BatchState.PARTLY_SENT
    assert len(sim.processed) == 1


def test_upstream_refusals_are_retried_slowly_then_reported(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """26 is retried at base*30 pace, at most `later_max_attempts` times, then failed (26)."""
    sim.set_script("26,26,26,26")
    batch_id = core.approved()
    policy = RetryPolicy(base_seconds=2, cap_seconds=300, later_max_attempts=2)
    drain(core.sender(client, policy), clock)
    retrying = core.notifier.of(ProgressKind.RETRYING)
    assert len(retrying) == 1 and 30 <= (retrying[0].retry_in_seconds or 0) <= 60
    assert len(sim.requests) == 2
    [chunk] = core.store.chunks(batch_id)
    assert (chunk.state, chunk.status_code) == ("failed", 26)
    assert core.store.batch(batch_id).state is BatchState.FAILED


def test_status_40_until_the_deadline_is_a_failure(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Only 40s (never processed) until the retry deadline: the chunk is reported failed."""
    core = make_core(tmp_path / "dl.db", clock=clock, retry_deadline_seconds=60)
    sim.set_script(["40"] * 30)
    batch_id = core.approved()
    drain(
        core.sender(client, RetryPolicy(base_seconds=8, cap_seconds=16, deadline_seconds=60)), clock
    )
    [chunk] = core.store.chunks(batch_id)
    assert chunk.state == "failed" and "gave up" in (chunk.reason or "")
    assert core.store.batch(batch_id).state is BatchState.FAILED
    assert sim.processed == []


def test_no_answer_until_the_deadline_is_outcome_unknown(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """HTTP 503s (maybe processed) until the deadline: outcome unknown, reported, not failed."""
    core = make_core(tmp_path / "unk.db", clock=clock)
    sim.set_script(["503"] * 30)
    batch_id = core.approved()
    drain(
        core.sender(client, RetryPolicy(base_seconds=8, cap_seconds=16, deadline_seconds=60)), clock
    )
    [chunk] = core.store.chunks(batch_id)
    assert chunk.state == "unknown"
    [unknown] = core.notifier.of(ProgressKind.UNKNOWN)
    assert "check the EAPI account before resending" in (unknown.description or "")
    assert core.store.batch(batch_id).state is BatchState.UNKNOWN


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE chunk_params SET params = replace(params, 'Hello 0', 'Pay now')",
        "DELETE FROM chunk_params",
    ],
    ids=["edited", "deleted"],
)
def test_tampered_parameters_are_never_sent(
    tampering: str, core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """A chunk whose stored parameters were edited, or removed, after approval is refused
    (they do not match the approved SHA-256) and recorded, never sent."""
    batch_id = core.approved()
    raw = sqlite3.connect(core.store.path, isolation_level=None)
    raw.execute(tampering)
    drain(core.sender(client), clock)
    assert sim.requests == []
    [chunk] = core.store.chunks(batch_id)
    assert chunk.state == "failed" and "SHA-256" in (chunk.reason or "")
    assert "payload_mismatch" in _audit_events(core, batch_id)
    assert core.store.batch(batch_id).state is BatchState.FAILED


def test_messages_changed_after_approval_are_never_sent(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """A plan edited in the database no longer matches the approved digest: nothing is sent."""
    batch_id = core.approved()
    raw = sqlite3.connect(core.store.path, isolation_level=None)
    raw.execute("UPDATE batch_content SET plan = replace(plan, 'Hello 1', 'Hello 9')")
    drain(core.sender(client), clock)
    assert sim.requests == []
    mismatch = [e for e in core.store.audit_entries(batch_id) if e.event == "payload_mismatch"]
    assert "approved digest" in mismatch[0].detail_dict()["reason"]


def test_batches_go_out_in_approval_order(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """The batch approved first is sent first, whatever order they were prepared in."""
    first_prepared = core.prepare(csv_rows(1, "first prepared"))
    second_prepared = core.prepare(csv_rows(1, "second prepared"))
    for batch_id in (second_prepared, first_prepared):
        core.service.approve(batch_id, "U0APPROVER", core.service.get(batch_id).digest)
    drain(core.sender(client), clock)
    assert [s.rows[0][1] for s in sim.processed] == ["second prepared", "first prepared"]


def test_test_mode_is_passed_to_the_eapi(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """A batch in test_always_succeed mode is validated by the EAPI and nothing is sent."""
    core.approved(test_mode=TestMode.SUCCEED)
    drain(core.sender(client), clock)
    assert sim.processed == [] and len(sim.tested) == 1
    assert sim.requests[0].params["test_always_succeed"] == "1"


def test_the_sender_loop_expires_old_pending_batches(
    core: Core, clock: FakeClock, client: EapiClient
) -> None:
    """A pending batch past the TTL expires on the next loop and is reported."""
    batch_id = core.prepare()
    clock.advance(core.settings.pending_ttl_seconds + 1)
    core.sender(client).run_once()
    assert core.store.batch(batch_id).state is BatchState.EXPIRED
    [finished] = core.notifier.of(ProgressKind.FINISHED)
    assert (finished.batch_id, finished.state) == (batch_id, BatchState.EXPIRED)


def test_a_sender_that_lost_its_lease_does_not_send(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """The attempt's transaction re-checks the lease: a stale holder sends nothing."""
    stale = core.sender(client, owner="stale", lease_seconds=10, heartbeat_seconds=1000)
    assert not stale.run_once() and stale.holding_lease
    clock.advance(11)
    fresh = core.sender(client, owner="fresh", lease_seconds=10)
    fresh.run_once()
    core.approved()
    stale.run_once()
    assert sim.requests == [] and not stale.holding_lease
    drain(fresh, clock)
    assert len(sim.processed) == 1


def test_two_senders_on_one_database_never_send_in_parallel(tmp_path: Path) -> None:
    """Two running senders: one holds the lease, one request at a time, each batch once."""
    core = make_core(tmp_path / "two.db")
    with running_simulator(latency=0.02) as sim:
        clients = [client_for(sim), client_for(sim)]
        senders = [
            core.sender(c, owner=f"s{n}", lease_seconds=2, idle_seconds=0.05)
            for n, c in enumerate(clients)
        ]
        for sender in senders:
            sender.start()
        ids = [core.approved(csv_rows(1, f"batch {n}")) for n in range(6)]
        assert core.notifier.wait_for(
            lambda events: sum(e.kind is ProgressKind.FINISHED for e in events) == 6
        )
        holders = [s for s in senders if s.holding_lease]
        assert len(holders) == 1
        assert len(sim.processed) == 6 and sim.max_in_flight == 1
        holders[0].stop()
        late = core.approved(csv_rows(1, "after the first stopped"))
        assert core.notifier.wait_for(
            lambda events: sum(e.kind is ProgressKind.FINISHED for e in events) == 7
        )
        assert [s for s in senders if s.holding_lease] != holders
        for sender in senders:
            sender.stop()
        for c in clients:
            c.close()
    assert {core.store.batch(i).state for i in [*ids, late]} == {BatchState.SENT}
    assert sim.max_in_flight == 1


def test_a_running_sender_wakes_at_once_on_approval(tmp_path: Path) -> None:
    """With a long idle wait, an approval's wake() still gets the batch sent promptly."""
    core = make_core(tmp_path / "wake.db")
    with running_simulator() as sim:
        client = client_for(sim)
        sender = core.sender(client, idle_seconds=60)
        core.wakers.append(sender.wake)
        sender.start()
        time.sleep(0.2)  # let it go idle
        started = time.monotonic()
        core.approved()
        assert core.notifier.wait_for(lambda ev: any(e.kind is ProgressKind.FINISHED for e in ev))
        assert time.monotonic() - started < 5
        assert core.store.health(time.time()).problem(30) is None
        sender.stop()
        client.close()
    assert core.store.lease_owner(time.time()) is None


def test_the_password_never_reaches_the_database(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """After sending (with a retry), no byte of the database files holds the EAPI password."""
    sim.set_script("503,0")
    core.approved()
    drain(core.sender(client), clock)
    assert len(sim.processed) == 1
    files = [p for p in core.store.path.parent.iterdir() if p.name.startswith("send.db")]
    assert files
    for path in files:
        assert SIM_PASSWORD.encode() not in path.read_bytes()


class FlakyNotifier(RecordingNotifier):
    """Raises on its first submission result, then records like the usual one."""

    def __init__(self) -> None:
        super().__init__()
        self.raised = False

    def notify(self, event: Progress) -> None:
        """Fail once, loudly."""
        if event.kind is ProgressKind.CHUNK_DONE and not self.raised:
            self.raised = True
            raise RuntimeError("notifier broke")
        super().notify(event)


def test_a_failing_step_is_logged_and_the_sender_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in the loop is logged with its traceback, recorded, and sending goes on."""
    notifier = FlakyNotifier()
    core = make_core(tmp_path / "flaky.db", notifier=notifier)
    with running_simulator() as sim:
        client = client_for(sim)
        sender = core.sender(client, idle_seconds=0.05, wait=lambda s: time.sleep(min(s, 0.02)))
        first = core.approved(csv_rows(1, "first"))
        second = core.approved(csv_rows(1, "second"))
        sender.start()
        assert notifier.wait_for(
            lambda events: any(
                e.kind is ProgressKind.FINISHED and e.batch_id == second for e in events
            )
        )
        sender.stop()
        client.close()
    assert notifier.raised and sender.last_error == "RuntimeError: notifier broke"
    assert any(r.exc_info for r in caplog.records if "sender loop failed" in r.getMessage())
    assert core.store.batch(first).state is BatchState.SENT
    assert len(sim.processed) == 2


def test_a_scheduled_send_is_reported_as_scheduled(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """A future send time goes out as send_time_unixtime; status 1 marks the chunk scheduled."""
    send_at = int(time.time()) + 3600
    batch_id = core.approved(send_at=send_at)
    drain(core.sender(client), clock)
    assert sim.requests[0].params["send_time_unixtime"] == str(send_at)
    [chunk] = core.store.chunks(batch_id)
    assert (chunk.state, chunk.status_code) == ("scheduled", 1)
    [done] = core.notifier.of(ProgressKind.CHUNK_DONE)
    assert done.status_code == 1 and done.eapi_batch_id == sim.processed[0].batch_id
    assert core.store.batch(batch_id).state is BatchState.SENT


class _Fixed(random.Random):
    """A random source whose uniform() always returns its upper bound times `share`."""

    def __init__(self, share: float) -> None:
        super().__init__(0)
        self.share = share

    def uniform(self, a: float, b: float) -> float:
        """a + share * (b - a)."""
        return a + self.share * (b - a)


@pytest.mark.parametrize(
    ("attempt", "bound"), [(1, 2.0), (2, 4.0), (3, 8.0), (8, 256.0), (9, 300.0), (40, 300.0)]
)
def test_retry_backoff_doubles_with_full_jitter_up_to_the_cap(attempt: int, bound: float) -> None:
    """RETRY waits uniform(0, min(cap, base * 2**(n-1))): never more, possibly nothing."""
    top = RetryPolicy(rng=_Fixed(1.0)).backoff(Outcome.RETRY, attempt)
    bottom = RetryPolicy(rng=_Fixed(0.0)).backoff(Outcome.RETRY, attempt)
    assert (bottom, top) == (0.0, bound)


def test_retry_later_waits_at_least_half_of_a_slower_bound() -> None:
    """26/28 wait between half and all of base*30*2**(k-1), capped at cap*30."""
    policy = RetryPolicy(rng=_Fixed(0.0))
    assert [policy.backoff(Outcome.RETRY_LATER, k) for k in (1, 2)] == [30.0, 60.0]
    assert RetryPolicy(rng=_Fixed(1.0)).backoff(Outcome.RETRY_LATER, 20) == 9000.0


def test_retry_stops_on_attempts_deadline_and_final_outcomes() -> None:
    """No next attempt after max_attempts, past the deadline, or for final outcomes."""
    policy = RetryPolicy(max_attempts=3, deadline_seconds=100, rng=_Fixed(1.0))
    assert policy.next_delay(Outcome.RETRY, attempts=2, later_answers=0, elapsed=0) == 4.0
    assert policy.next_delay(Outcome.RETRY, attempts=3, later_answers=0, elapsed=0) is None
    assert policy.next_delay(Outcome.RETRY, attempts=1, later_answers=0, elapsed=99) is None
    assert policy.next_delay(Outcome.FATAL, attempts=1, later_answers=0, elapsed=0) is None
    assert policy.next_delay(Outcome.ACCEPTED, attempts=1, later_answers=0, elapsed=0) is None
    later = RetryPolicy(later_max_attempts=2, rng=_Fixed(0.0))
    assert later.next_delay(Outcome.RETRY_LATER, attempts=1, later_answers=1, elapsed=0) == 30
    assert later.next_delay(Outcome.RETRY_LATER, attempts=2, later_answers=2, elapsed=0) is None


class LoggingSideTask:
    """A hand-written side task: due at `due`, logs each turn with the EAPI requests seen so far."""

    name = "probe"

    def __init__(self, sim: SimulatorServer, due: float | None) -> None:
        self.sim = sim
        self.due = due
        self.turns: list[int] = []

    def next_due(self, now: float) -> float | None:
        return self.due

    def run(self, now: float) -> None:
        self.turns.append(len(self.sim.processed))
        self.due = None


def test_a_ready_submission_goes_before_a_due_side_task(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Side work (report fetches, inbox reads) waits until every ready chunk has gone out."""
    batch_id = core.approved(csv_rows(2))
    task = LoggingSideTask(sim, due=clock() - 10)
    drain(core.sender(client, side_tasks=[task]), clock)
    assert task.turns == [1]  # its one turn came after the submission was processed
    assert core.store.batch(batch_id).state is BatchState.SENT


def test_a_side_task_due_later_is_waited_for_then_run(
    core: Core, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """An idle sender reports when the next side task is due, and runs it then, once."""
    task = LoggingSideTask(sim, due=clock() + 60)
    sender = core.sender(client, side_tasks=[task])
    assert sender.run_once() is False
    assert sender.next_due == pytest.approx(clock() + 60)
    assert task.turns == []
    drain(sender, clock)
    assert task.turns == [0]
    assert sender.next_due is None
