"""The upload checker's worker process: the same plans as in-process, the same refusals, and a
worker that dies costs one upload an error message, never a hang or the next upload."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.codec import plan_digest, plan_to_json
from bot.errors import IntakeError
from bot.intake.plan import IntakeLimits
from bot.intake.planner import (
    PlannedBatch,
    PlannerUnavailable,
    PoolPlanner,
    plan_in_process,
    plan_in_worker,
)
from bot.intake.pricing import PriceTable
from bot.model import SendOptions, TestMode
from bot.service import BatchService, Origin
from tests.core_helpers import CHANNEL, PREPARER, make_core
from tests.test_service_batch_header import _many

DATA = Path(__file__).parent / "data"
LIMITS = IntakeLimits(max_parts=5, chunk_size=3)
PRICES = PriceTable.from_mapping({"default": 1, "countries": {"GB": {"default": "0.75"}}})
OPTIONS = SendOptions(sender="Acme", routing_group=2, test_mode=TestMode.SUCCEED)
CRASH = b"crash the worker"
SMALL = b"msisdn,message\n447400123456,Hi\n"
ARGS = (OPTIONS, LIMITS, PRICES)


def crash_or_plan(
    data: bytes, kind: str, options: SendOptions, limits: IntakeLimits, prices: PriceTable
) -> PlannedBatch:
    """The worker's job, except that it kills its own process when given CRASH."""
    if data == CRASH:
        os.kill(os.getpid(), signal.SIGKILL)
    return plan_in_worker(data, kind, options, limits, prices)


@pytest.fixture(scope="module")
def pool() -> Iterator[PoolPlanner]:
    """One worker process for the module's tests (spawned once: a start takes ~0.5 s)."""
    planner = PoolPlanner(work=crash_or_plan)
    yield planner
    planner.close()


def _inputs() -> list[tuple[bytes, str]]:
    files = [(p.read_bytes(), "bytes") for p in sorted(DATA.glob("*.csv"))]
    pasted = "msisdn,message\n447400123456,Zoë & <@U1>\n447400123456,Zoë & <@U1>\n"
    return [*files, (_many(), "bytes"), (pasted.encode(), "text")]


def test_the_worker_plans_exactly_as_this_process_does(pool: PoolPlanner) -> None:
    """Every input gives the same JSON, digest, summary and rejected rows, and the same plan
    once decoded; what cannot be read is refused with the same IntakeError message."""
    refused = 0
    for data, kind in _inputs():
        try:
            here = plan_in_process(data, kind, OPTIONS, LIMITS, PRICES)
        except IntakeError as exc:
            with pytest.raises(IntakeError) as there:
                pool(data, kind, OPTIONS, LIMITS, PRICES)
            assert type(there.value) is IntakeError and str(there.value) == str(exc)
            refused += 1
            continue
        there = pool(data, kind, OPTIONS, LIMITS, PRICES)
        assert there.plan is None  # its objects are not sent back, only the JSON
        assert (there.plan_json, there.digest, there.summary, there.rejected_json) == (
            here.plan_json,
            here.digest,
            here.summary,
            here.rejected_json,
        )
        assert there.decoded() == here.plan
    assert refused == 2


def test_an_intake_error_pickles_with_its_message() -> None:
    """IntakeError crosses a process boundary as itself, message unchanged."""
    error = IntakeError("line 3: the file is HTML (a sign-in page?), not CSV")
    back = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(back) is IntakeError and str(back) == str(error)


def test_a_stored_plan_is_checked_in_the_worker(pool: PoolPlanner) -> None:
    """The worker's digest of a stored plan is the approved one; a damaged plan raises."""
    planned = plan_in_process(_many(), "bytes", OPTIONS, LIMITS, PRICES)
    stored = planned.plan_json.encode("utf-8")
    assert pool.digest(stored) == planned.digest == plan_digest(stored)
    with pytest.raises(ValueError):
        pool.digest(b"not json")


def test_a_worker_killed_mid_check_fails_that_upload_and_the_next_one_works(
    pool: PoolPlanner,
) -> None:
    """A worker killed during a check gives a clear error (not a hang); a new worker takes
    the next upload."""
    with pytest.raises(PlannerUnavailable, match="stopped unexpectedly") as failed:
        pool(CRASH, "bytes", OPTIONS, LIMITS, PRICES)
    assert isinstance(failed.value, IntakeError)  # shown to the user like any refusal
    data = (DATA / "mixed_valid_invalid.csv").read_bytes()
    expected = plan_in_process(data, "bytes", OPTIONS, LIMITS, PRICES)
    assert pool(data, "bytes", OPTIONS, LIMITS, PRICES).plan_json == expected.plan_json


def test_a_worker_that_died_while_idle_is_replaced_unnoticed(pool: PoolPlanner) -> None:
    """A worker killed between uploads (say, by the OOM killer) costs no upload an error."""
    stored = plan_to_json(plan_in_process(_many(), "bytes", *ARGS).decoded()).encode()
    pool.digest(stored)  # a worker is running, idle
    workers = multiprocessing.active_children()  # this module's pool is the only one running
    assert len(workers) == 1 and workers[0].pid is not None
    os.kill(workers[0].pid, signal.SIGKILL)
    workers[0].join(10)
    data = (DATA / "pipe_delimited.csv").read_bytes()
    expected = plan_in_process(data, "bytes", OPTIONS, LIMITS, PRICES)
    assert pool(data, "bytes", OPTIONS, LIMITS, PRICES).plan_json == expected.plan_json


def test_the_service_with_a_worker_prepares_as_before(tmp_path: Path, pool: PoolPlanner) -> None:
    """Prepared through the worker, a batch keeps the same plan and digest as in-process, and
    a refused upload is audited with the refusal's message."""
    core = make_core(tmp_path / "pool.db")
    service = BatchService(
        core.store,
        core.settings,
        core.service.prices,
        is_approver=lambda user: True,
        notifier=core.notifier,
        planner=pool,
    )
    origin = Origin(PREPARER, CHANNEL, source="upload")
    local = core.service.prepare(_many(), OPTIONS, origin)
    remote = service.prepare(_many(), OPTIONS, origin)
    assert remote.plan == local.plan and remote.summary == local.summary
    a, b = core.store.batch(local.id), core.store.batch(remote.id)
    assert (a.plan, a.digest, a.summary) == (b.plan, b.digest, b.summary)
    assert service.get(remote.id).plan == a.plan
    html = b"<!DOCTYPE html><html><body>Sign in</body></html>"
    with pytest.raises(IntakeError, match="HTML") as refused:
        service.prepare(html, SendOptions(), origin)
    [entry] = [e for e in core.store.audit_entries() if e.event == "upload_refused"]
    assert entry.detail_dict()["reason"] == str(refused.value)


def test_closing_stops_the_worker() -> None:
    """After `close` its worker process is gone, and the planner takes no more work."""
    before = set(multiprocessing.active_children())
    planner = PoolPlanner()
    assert planner(SMALL, "bytes", *ARGS).summary.recipients == 1
    workers = set(multiprocessing.active_children()) - before
    assert len(workers) == 1
    planner.close()
    assert not any(w.is_alive() for w in workers)
    with pytest.raises(RuntimeError):
        planner(SMALL, "bytes", *ARGS)


OWNER = f"""
import multiprocessing, time
from bot.intake.plan import IntakeLimits
from bot.model import SendOptions
from bot.intake.planner import PoolPlanner
from bot.intake.pricing import PriceTable

planner = PoolPlanner()
planner({SMALL!r}, "bytes", SendOptions(), IntakeLimits(), PriceTable())
print(multiprocessing.active_children()[0].pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    """True when the process has ended (a zombie waiting to be reaped counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_the_worker_ends_when_the_app_is_killed() -> None:
    """An app killed outright (SIGKILL, the OOM killer) leaves no worker process behind."""
    root = str(Path(__file__).resolve().parent.parent)
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER],
        env=os.environ | {"PYTHONPATH": root},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert owner.stdout is not None
    worker = int(owner.stdout.readline())
    owner.kill()
    owner.wait(10)
    deadline = time.monotonic() + 10
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    ended = _gone(worker)
    if not ended:
        os.kill(worker, signal.SIGKILL)  # do not leave the orphan behind a failed test
    assert ended
