"""The upload checker's worker has a memory cap: a file that needs more fails that upload with
a clear message, and the worker (and the app) carry on. Workbooks are read in that worker."""

from __future__ import annotations

import io
import os
import re
import resource
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

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
from bot.model import SendOptions
from tests.core_helpers import csv_rows

DATA = Path(__file__).parent / "data"
LIMIT = 1536 * 1024**2
TIGHT = b"plan this with little memory left: "
ARGS = (SendOptions(template="Hi ((first name))"), IntakeLimits(), PriceTable())


def _address_space() -> int:
    """This process's current virtual size, from /proc (bytes)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def tight_or_plan(
    data: bytes, kind: str, options: SendOptions, limits: IntakeLimits, prices: PriceTable
) -> PlannedBatch | tuple[int, int]:
    """In the worker: report its RLIMIT_AS for b"limit?"; for TIGHT data, plan the rest with
    only 32 MB more address space than the worker has now; else plan normally."""
    if data == b"limit?":
        return resource.getrlimit(resource.RLIMIT_AS)
    if not data.startswith(TIGHT):
        return plan_in_worker(data, kind, options, limits, prices)
    rest = data.removeprefix(TIGHT)  # copied before the cap: only the check itself is tight
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + 32 * 1024**2, hard))
    try:
        return plan_in_worker(rest, kind, options, limits, prices)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def pool() -> Iterator[PoolPlanner]:
    """One capped worker for the module's tests."""
    planner = PoolPlanner(work=tight_or_plan, memory_limit=LIMIT)
    yield planner
    planner.close()


def test_the_worker_runs_under_its_memory_cap(pool: PoolPlanner) -> None:
    """The cap is set in the worker (RLIMIT_AS), not in the app's own process."""
    soft, _ = pool(b"limit?", "bytes", *ARGS)  # type: ignore[misc]
    assert soft == LIMIT
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != LIMIT


def test_running_out_of_memory_fails_that_upload_clearly_and_the_next_one_works(
    pool: PoolPlanner,
) -> None:
    """A check that needs more memory than the worker may use is an IntakeError saying so."""
    big = csv_rows(100_000)
    options = SendOptions()
    with pytest.raises(IntakeError, match="needed more memory than the upload checker may use"):
        pool(TIGHT + big, "bytes", options, ARGS[1], ARGS[2])
    small = csv_rows(3)
    expected = plan_in_process(small, "bytes", options, ARGS[1], ARGS[2])
    assert pool(small, "bytes", options, ARGS[1], ARGS[2]).plan_json == expected.plan_json


def test_a_workbook_is_read_in_the_worker_exactly_as_here(pool: PoolPlanner) -> None:
    """contacts.xls planned in the worker gives the plan made in this process."""
    data = (DATA / "contacts.xls").read_bytes()
    here = plan_in_process(data, "bytes", *ARGS)
    there = pool(data, "bytes", *ARGS)
    assert (there.plan_json, there.digest) == (here.plan_json, here.digest)
    assert [m.text for m in there.decoded().messages] == ["Hi Ann", "Hi Bob"]


def _lying_xlsx() -> bytes:
    """Cells at A1 and ALL90000 (90 million in range) under a `<dimension>` that says A1:B2,
    so that only calamine itself finds out how big the sheet is."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"], sheet["B1"], sheet["A2"], sheet["B2"] = "msisdn", "message", 447911123456, "Hi"
    sheet["ALL90000"] = "x"
    written = io.BytesIO()
    book.save(written)
    source, out = zipfile.ZipFile(written), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:B2"/>', body)
            target.writestr(info, body)
    return out.getvalue()


def test_a_workbook_that_blows_up_calamine_costs_only_that_upload(pool: PoolPlanner) -> None:
    """5 KB that makes calamine allocate ~3 GB: the capped worker dies (Rust aborts), the
    upload gets the checker's error, and the next upload is checked by a fresh worker."""
    data = _lying_xlsx()
    assert len(data) < 10_000
    with pytest.raises(PlannerUnavailable, match="stopped unexpectedly during the check"):
        pool(data, "bytes", SendOptions(), ARGS[1], ARGS[2])
    small = csv_rows(2)
    expected = plan_in_process(small, "bytes", SendOptions(), ARGS[1], ARGS[2])
    assert pool(small, "bytes", SendOptions(), ARGS[1], ARGS[2]).plan_json == expected.plan_json
