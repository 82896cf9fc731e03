"""Crash recovery: a sender process killed mid-request, and a new process on the same database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.eapi.simulator.server import SimulatorServer
from bot.model import BatchState, ProgressKind
from bot.store.lease import parse_owner
from tests.core_helpers import Core, make_core
from tests.eapi_fixtures import client_for, running_simulator

ROOT = Path(__file__).resolve().parent.parent


def _worker(db: Path, sim: SimulatorServer, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sender_worker", str(db), sim.url, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _finish(process: subprocess.Popen[str]) -> list[dict[str, object]]:
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _killed_mid_request(core: Core, sim: SimulatorServer, fault: str, *extra: str) -> int:
    """Approve a batch, start a worker, SIGKILL it while the simulator holds its request."""
    if fault == "timeout":
        sim.set_script("timeout")  # processed, then the connection is held without an answer
    else:
        sim.latency = 30.0  # held before processing; processed once the client is gone
    batch_id = core.approved()
    first = _worker(core.store.path, sim, *extra)
    _until(lambda: core.store.open_attempts() != [] and sim.max_in_flight == 1)
    time.sleep(0.2)  # the POST is on the wire, not merely recorded
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    sim.latency = 0.0
    _until(lambda: len(sim.processed) == 1)
    return batch_id


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A simulator that holds a `timeout` answer for 30 s (until the client leaves)."""
    with running_simulator(hang_seconds=30.0) as server:
        yield server


@pytest.mark.parametrize("fault", ["timeout", "latency"])
def test_a_new_process_finishes_the_batch_with_exactly_one_submission(
    tmp_path: Path, sim: SimulatorServer, fault: str
) -> None:
    """Killed mid-request: the next process resends the same stop_dup_id; one processed."""
    core = make_core(tmp_path / "crash.db")
    batch_id = _killed_mid_request(core, sim, fault)
    events = _finish(_worker(core.store.path, sim))
    assert len(sim.processed) == 1
    stop_dup_ids = {r.params["stop_dup_id"] for r in sim.requests}
    [chunk] = core.store.chunks(batch_id)
    assert stop_dup_ids == {str(chunk.stop_dup_id)}
    assert len(sim.requests) == 2
    assert sim.requests[0].params == sim.requests[1].params
    assert (chunk.state, chunk.attempts) == ("accepted", 2)
    assert chunk.eapi_batch_id == sim.processed[0].batch_id
    assert core.store.batch(batch_id).state is BatchState.SENT
    assert [e["kind"] for e in events] == ["chunk_done", "finished"]
    audit = [(e.event, e.detail_dict().get("outcome")) for e in core.store.audit_entries(batch_id)]
    assert ("attempt_finished", "interrupted") in audit
    assert [e for e, _ in audit].count("attempt_started") == 2


def test_past_the_dedup_window_the_chunk_is_unknown_and_never_resent(
    tmp_path: Path, sim: SimulatorServer
) -> None:
    """Restarted after the de-duplication window: outcome unknown, reported, no second POST."""
    core = make_core(tmp_path / "late.db")
    batch_id = _killed_mid_request(core, sim, "timeout")
    time.sleep(1.2)  # longer than the window the restarted process is given
    events = _finish(_worker(core.store.path, sim, "--dedup-window", "1"))
    assert len(sim.requests) == 1 and len(sim.processed) == 1
    [chunk] = core.store.chunks(batch_id)
    assert chunk.state == "unknown"
    assert core.store.batch(batch_id).state is BatchState.UNKNOWN
    unknown = [e for e in events if e["kind"] == "unknown"]
    assert len(unknown) == 1
    assert "outcome unknown — check the EAPI account before resending" in str(
        unknown[0]["description"]
    )
    assert events[-1]["state"] == "outcome_unknown"
    assert "outcome_unknown" in [e.event for e in core.store.audit_entries(batch_id)]


def test_a_sender_killed_on_this_host_is_replaced_without_waiting_for_its_lease(
    tmp_path: Path, sim: SimulatorServer
) -> None:
    """SIGKILLed while holding a 60 s lease: a new sender takes it at once and finishes the
    batch with the same stop_dup_id (one processed), instead of waiting a minute."""
    core = make_core(tmp_path / "takeover.db")
    batch_id = _killed_mid_request(core, sim, "latency", "--lease-seconds", "60")
    holder = core.store.lease_owner(time.time())
    assert holder is not None and parse_owner(holder) is not None  # unexpired, for ~60 s
    client = client_for(sim)
    sender = core.sender(client)
    started = time.monotonic()
    sender.run_once()
    took = time.monotonic() - started
    assert sender.holding_lease and took < 2.0, f"took {took:.2f} s"

    def step() -> bool:
        """One sender step; True once the batch is final."""
        sender.run_once()
        return core.store.batch(batch_id).state.final

    _until(step)
    sender.stop()
    client.close()
    assert core.store.batch(batch_id).state is BatchState.SENT
    assert len(sim.processed) == 1 and len(sim.requests) == 2
    assert [e.kind for e in core.notifier.events] == [
        ProgressKind.QUEUED,
        ProgressKind.CHUNK_DONE,
        ProgressKind.FINISHED,
    ]


def test_a_restarted_process_takes_over_from_a_killed_one_at_once(
    tmp_path: Path, sim: SimulatorServer
) -> None:
    """Both processes with a 60 s lease: the second finishes well inside its 10 s limit."""
    core = make_core(tmp_path / "restart.db")
    batch_id = _killed_mid_request(core, sim, "timeout", "--lease-seconds", "60")
    started = time.monotonic()
    events = _finish(_worker(core.store.path, sim, "--lease-seconds", "60", "--timeout", "10"))
    assert time.monotonic() - started < 10
    assert [e["kind"] for e in events] == ["chunk_done", "finished"]
    assert core.store.batch(batch_id).state is BatchState.SENT and len(sim.processed) == 1
