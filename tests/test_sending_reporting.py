"""Results are reported at least once: what no notifier confirmed is reported again on restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.eapi.client import EapiClient
from bot.eapi.simulator.server import SimulatorServer
from bot.model import BatchState, Progress, ProgressKind
from bot.sending.notify import is_final_report
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from tests.core_helpers import Core, FakeClock, RecordingNotifier, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator
from tests.test_sending_sender import drain


@pytest.fixture
def clock() -> FakeClock:
    """Time that only moves when the test (or `drain`) moves it."""
    return FakeClock()


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A simulator on 127.0.0.1."""
    with running_simulator(hang_seconds=1.0) as server:
        yield server


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[EapiClient]:
    """A client with a short read timeout."""
    made = client_for(sim, read_timeout=0.3)
    yield made
    made.close()


def restart(core: Core, client: EapiClient, **kwargs: Any) -> tuple[Sender, RecordingNotifier]:
    """A new sender with a new, confirming notifier on the same database, after one step."""
    core.notifier = RecordingNotifier()
    core.notifier.mark = core.service.mark_reported
    sender = core.sender(client, **kwargs)
    sender.run_once()
    return sender, core.notifier


def finals(notifier: RecordingNotifier) -> list[Progress]:
    """The final results a notifier was given, in order."""
    return [e for e in notifier.events if is_final_report(e)]


# name: (simulator script, rows, settings, retry deadline in seconds)
SCENARIOS: dict[str, tuple[str | list[str], int, dict[str, int], float]] = {
    "accepted": ("0", 2, {}, 3600),
    "fatal-then-accepted": ("24,0", 2, {"chunk_size": 1}, 3600),
    "account-level-skips-the-rest": ("25", 3, {"chunk_size": 1}, 3600),
    "unknown": (["503"] * 30, 1, {}, 60),
    "given-up": (["40"] * 30, 1, {}, 60),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_unconfirmed_results_are_reported_again_once_with_the_same_fields(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient, scenario: str
) -> None:
    """A notifier that drops everything; restart: the same reports again, once; no resend."""
    script, rows, settings, deadline = SCENARIOS[scenario]
    dropping = RecordingNotifier(confirm=False)
    core = make_core(tmp_path / "r.db", clock=clock, notifier=dropping, **settings)
    sim.set_script(script)
    core.approved(csv_rows(rows))
    policy = RetryPolicy(base_seconds=8, cap_seconds=16, deadline_seconds=deadline)
    first = core.sender(client, policy)
    drain(first, clock)
    first.stop()
    originals = finals(dropping)
    assert originals and originals[-1].kind is ProgressKind.FINISHED
    requests = len(sim.requests)

    _, again = restart(core, client)
    assert again.events == originals
    _, third = restart(core, client)
    assert third.events == []
    assert len(sim.requests) == requests


def test_a_chunk_refused_as_tampered_is_reported_again_the_same(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Parameters edited after approval: nothing sent; the refusal is reported again, same."""
    dropping = RecordingNotifier(confirm=False)
    core = make_core(tmp_path / "t.db", clock=clock, notifier=dropping, chunk_size=1)
    core.approved(csv_rows(2))
    raw = sqlite3.connect(core.store.path, isolation_level=None)
    raw.execute("UPDATE chunk_params SET params = replace(params, 'Hello 0', 'Pay now')")
    first = core.sender(client)
    drain(first, clock)
    first.stop()
    originals = finals(dropping)
    assert [(e.kind, e.chunk_index) for e in originals] == [
        (ProgressKind.CHUNK_DONE, 0),
        (ProgressKind.FINISHED, None),
    ]
    assert "not sent" in (originals[0].description or "")
    assert restart(core, client)[1].events == originals
    assert sim.requests == []


def test_skipped_chunks_are_covered_by_the_batch_report(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Status 25 on chunk 1 of 3: one chunk report and the batch's end, nothing per skipped one."""
    dropping = RecordingNotifier(confirm=False)
    core = make_core(tmp_path / "s.db", clock=clock, notifier=dropping, chunk_size=1)
    sim.set_script("25")
    core.approved(csv_rows(3))
    drain(core.sender(client), clock)
    assert [(e.kind, e.chunk_index) for e in finals(dropping)] == [
        (ProgressKind.CHUNK_DONE, 0),
        (ProgressKind.FINISHED, None),
    ]
    assert [c.index for c in core.store.unreported_chunks()] == [0]


def test_a_notifier_that_raises_loses_nothing(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """The notifier raises on the answer: stored, not reported; the next sender reports it."""

    class Raising(RecordingNotifier):
        """Raises on every final result, as a broken Slack layer might."""

        def notify(self, event: Progress) -> None:
            """Fail loudly on final results."""
            if is_final_report(event):
                raise RuntimeError("Slack is down")
            super().notify(event)

    core = make_core(tmp_path / "raise.db", clock=clock, notifier=Raising())
    batch_id = core.approved()
    first = core.sender(client)
    with pytest.raises(RuntimeError, match="Slack is down"):
        drain(first, clock)
    first.stop()
    assert core.store.batch(batch_id).state is BatchState.SENT

    _, again = restart(core, client)
    [done, finished] = again.events
    assert (done.kind, done.status_code, done.chunk_index) == (ProgressKind.CHUNK_DONE, 0, 0)
    assert done.eapi_batch_id == sim.processed[0].batch_id
    assert (finished.kind, finished.state) == (ProgressKind.FINISHED, BatchState.SENT)
    assert restart(core, client)[1].events == []
    assert len(sim.processed) == 1


def test_an_expiry_is_reported_again_and_a_cancellation_never(
    tmp_path: Path, clock: FakeClock, client: EapiClient
) -> None:
    """An unconfirmed expiry comes again after a restart; a cancelled batch is not reported."""
    dropping = RecordingNotifier(confirm=False)
    core = make_core(tmp_path / "exp.db", clock=clock, notifier=dropping)
    expiring = core.prepare()
    cancelled = core.prepare()
    assert core.service.cancel(cancelled, "U0PREPARER").ok
    clock.advance(core.settings.pending_ttl_seconds + 1)
    first = core.sender(client)
    first.run_once()
    first.stop()
    [original] = finals(dropping)
    assert (original.batch_id, original.state) == (expiring, BatchState.EXPIRED)

    _, again = restart(core, client)
    assert again.events == [original]
    assert restart(core, client)[1].events == []


def test_results_are_reported_again_only_when_the_lease_is_taken(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """A sender that keeps its lease does not repeat itself on every step."""
    dropping = RecordingNotifier(confirm=False)
    core = make_core(tmp_path / "once.db", clock=clock, notifier=dropping)
    core.approved()
    sender = core.sender(client)
    drain(sender, clock)
    count = len(dropping.events)
    for _ in range(3):
        clock.advance(6)  # past the heartbeat: the lease is renewed, not taken again
        sender.run_once()
    assert len(dropping.events) == count


def test_mark_reported_marks_final_results_once(
    tmp_path: Path, clock: FakeClock, sim: SimulatorServer, client: EapiClient
) -> None:
    """Marking: True once per final chunk or batch; False again, and False for an open chunk."""
    core = make_core(tmp_path / "mark.db", clock=clock, notifier=RecordingNotifier(confirm=False))
    sent = core.approved()
    drain(core.sender(client), clock)
    waiting = core.approved()
    assert not core.service.mark_reported(waiting, 0)  # queued: not a result yet
    assert not core.service.mark_reported(waiting, None)
    assert core.service.mark_reported(sent, 0) and core.service.mark_reported(sent, None)
    assert not core.service.mark_reported(sent, 0) and not core.service.mark_reported(sent, None)
    [chunk] = core.store.chunks(sent)
    assert chunk.reported_at == clock() and core.store.batch(sent).reported_at == clock()
    assert core.store.unreported_chunks() == [] and core.store.unreported_batches() == []


def test_a_running_sender_with_a_confirming_notifier_leaves_nothing_unreported(
    tmp_path: Path,
) -> None:
    """End to end in threads: every result confirmed; a restarted sender reports nothing."""
    core = make_core(tmp_path / "run.db", chunk_size=1)
    with running_simulator() as server:
        made = client_for(server)
        sender = core.sender(made, idle_seconds=0.05)
        sender.start()
        core.approved(csv_rows(2))
        assert core.notifier.wait_for(
            lambda events: any(e.kind is ProgressKind.FINISHED for e in events)
        )
        sender.stop()
        raw = sqlite3.connect(core.store.path)
        unmarked = raw.execute("SELECT COUNT(*) FROM chunks WHERE reported_at IS NULL")
        assert unmarked.fetchone()[0] == 0
        assert restart(core, made)[1].events == []
        made.close()
