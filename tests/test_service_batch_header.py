"""A batch read without its messages (header and summary columns) says exactly what the full
read says; cards and status lines never decode the plan; the sender checks it once per batch."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from bot.codec import plan_digest, plan_to_json
from bot.eapi.client import EapiClient
from bot.eapi.simulator.server import SimulatorServer
from bot.errors import IntakeError, StoreError
from bot.intake.plan import IntakeLimits, plan_text
from bot.intake.pricing import PriceTable
from bot.intake.summary import KEPT, summarise, summary_columns, summary_from_columns
from bot.model import BatchState, SendOptions, TestMode
from bot.sending.sender import Sender
from bot.service import Origin
from bot.store.db import Store
from bot.store.migrations import migrations
from bot.store.records import BatchHeader
from handlers.builders.blocks import REJECTED_SHOWN, SAMPLES, CardContext, card, fallback
from tests.core_helpers import APPROVER, CHANNEL, PREPARER, Core, FakeClock, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator
from tests.test_intake_props import NUMBERS, TEXTS

DATA = Path(__file__).parent / "data"


def _many() -> bytes:
    """More of every listed thing than a summary keeps: 16-bit reasons, flags, rejected rows,
    duplicates, an override column and an ignored one."""
    rows = ["msisdn,message,sender,notes"]
    for i in range(KEPT + 3):
        rows.append(f"4474001000{i:02d},Price €{i},Shop,n{i}")  # 16-bit, with its reason
        rows.append(f"4474001000{i:02d},Again {i},,")  # same number, other text: flagged
        rows.append(f"12345,bad {i},,")  # rejected
        rows.append(f"4474001000{i:02d},Again {i},,")  # an exact duplicate
    return ("\n".join(rows) + "\n").encode("utf-8")


def _inputs() -> Iterator[tuple[str, bytes]]:
    for path in sorted(DATA.glob("*.csv")):
        yield path.name, path.read_bytes()
    yield "many", _many()
    yield "one", csv_rows(1)


@pytest.fixture
def core(tmp_path: Path) -> Core:
    """A service on a temporary database."""
    return make_core(tmp_path / "header.db")


def assert_header_matches(store: Store, batch_id: int) -> None:
    """The header read equals the full read, field for field, and its summary the plan's."""
    full, header = store.batch(batch_id), store.batch_header(batch_id)
    for f in fields(BatchHeader):
        if f.name != "summary":
            assert getattr(header, f.name) == getattr(full, f.name), f.name
    assert header.summary == summarise(full.plan)
    assert store.rejected_rows(batch_id) == list(full.plan.rejected)


def test_the_header_read_says_what_the_full_read_says(core: Core) -> None:
    """For every kind of input, and after options change, approval and cancel, the header
    (from columns) equals the full read (from the plan)."""
    prepared = []
    for name, data in _inputs():
        try:
            view = core.service.prepare(
                data, SendOptions(sender="Acme"), Origin(PREPARER, CHANNEL, source="upload")
            )
        except IntakeError:
            assert name in ("screenshot_png_renamed.csv", "slack_login_page.csv")
            continue
        prepared.append(view.id)
        assert_header_matches(core.store, view.id)
        assert view.summary == core.store.batch_header(view.id).summary
    assert len(prepared) == 11
    first, second, third = prepared[:3]
    core.service.change_options(first, SendOptions(test_mode=TestMode.SUCCEED), PREPARER)
    assert core.store.batch_header(first).summary.options.test_mode is TestMode.SUCCEED
    assert core.service.approve(second, APPROVER, core.service.get(second).digest).ok
    assert core.service.cancel(third, PREPARER).ok
    for batch_id in (first, second, third):
        assert_header_matches(core.store, batch_id)
    assert core.store.recent(20) == [core.store.batch_header(b) for b in reversed(prepared)]


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(NUMBERS, TEXTS), max_size=30))
def test_a_summary_survives_its_columns(rows: list[tuple[str, str]]) -> None:
    """Any plan's summary comes back from its stored columns equal, field for field."""
    out = io.StringIO()
    csv.writer(out).writerows([("msisdn", "message"), *rows])
    try:
        plan = plan_text(out.getvalue(), SendOptions(sender="Acme"), IntakeLimits(), PriceTable())
    except IntakeError:
        return
    summary = summarise(plan)
    assert summary_from_columns(summary_columns(summary), plan.options) == summary


def test_the_card_keeps_what_it_shows() -> None:
    """A summary keeps at least as many samples and rejected rows as a card shows."""
    assert max(SAMPLES, REJECTED_SHOWN) <= KEPT


def test_cards_and_status_lines_never_decode_the_plan(core: Core) -> None:
    """With the stored plan made unreadable, a batch still reads, renders and lists as before;
    only its messages cannot be had."""
    batch_id = core.prepare(_many())
    before = card(core.service.get(batch_id), CardContext())
    raw = sqlite3.connect(core.store.path, isolation_level=None)
    raw.execute("UPDATE batch_content SET plan = 'not json' WHERE batch_id = ?", [batch_id])
    view = core.service.get(batch_id)
    assert card(view, CardContext()) == before
    assert [fallback(v) for v in core.service.recent()] == [before.text]
    assert core.service.rejected_csv(batch_id).count(b"\n") == KEPT + 3 + 1
    with pytest.raises(ValueError):
        view.plan  # noqa: B018 - the plan is decoded here, and only here


def test_a_view_reads_its_own_plan_or_says_it_changed(core: Core) -> None:
    """`plan` is the stored plan of the view's digest; after an options change, a view read
    before it refuses to give the new messages as its own."""
    batch_id = core.prepare()
    view = core.service.get(batch_id)
    assert view.plan == core.store.batch(batch_id).plan
    stale = core.service.get(batch_id)
    core.service.change_options(batch_id, SendOptions(sender="Other"), PREPARER)
    with pytest.raises(StoreError, match="re-planned"):
        stale.plan  # noqa: B018


def test_upgrading_fills_the_summary_of_every_stored_batch(tmp_path: Path) -> None:
    """A database made before 0004 gets each batch's summary from its plan; a batch whose plan
    cannot be decoded does not stop the upgrade and reads as damaged."""
    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="0004_batch_summaries")
    plan = plan_text(_many().decode(), SendOptions(sender="Acme"), IntakeLimits(), PriceTable())
    insert = (
        "INSERT INTO batches (id, state, plan, options, source, source_kind, digest, "
        "prepared_by, channel_id, created_at) VALUES (?, 'pending', ?, ?, x'00', 'text', "
        "'d', 'U1', 'C1', 1.0)"
    )
    old.execute(insert, [1, plan_to_json(plan), '{"sender": "Acme", "test_mode": "off"}'])
    old.execute(insert, [2, "{}", "{}"])
    old.conn.commit()
    old.close()
    store = Store.open(path)
    assert_header_matches(store, 1)
    with pytest.raises(StoreError, match="batch 2 is damaged"):
        store.batch_header(2)
    store.close()


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


def _run(steps: int, sender: Sender) -> None:
    """Let the sender take `steps` steps (each an attempt, a check or a finish)."""
    for _ in range(steps):
        sender.run_once()


def test_the_sender_checks_a_batch_once_and_again_after_a_takeover(
    tmp_path: Path, sim: SimulatorServer, client: EapiClient
) -> None:
    """Three chunks go out after one check of the messages against the approved digest; a
    sender taking over later checks again and sends nothing of a plan changed meanwhile."""
    clock = FakeClock()
    core = make_core(tmp_path / "once.db", clock=clock, chunk_size=2)
    checked: list[bytes] = []

    def digest(plan_json: bytes) -> str:
        checked.append(plan_json)
        return plan_digest(plan_json)

    batch_id = core.approved(csv_rows(5))
    first = core.sender(client, plan_digest=digest)
    _run(4, first)
    assert [c.state for c in core.store.chunks(batch_id)] == ["accepted"] * 3
    assert len(checked) == 1
    assert core.store.batch_header(batch_id).state is BatchState.SENT

    later = core.approved(csv_rows(5, "Later {i}"))
    first.run_once()  # chunk 1 of the later batch: checked once more (another batch)
    first.stop()
    raw = sqlite3.connect(core.store.path, isolation_level=None)
    raw.execute(
        "UPDATE batch_content SET plan = replace(plan, 'Later 3', 'Pay now') WHERE batch_id = ?",
        [later],
    )
    second = core.sender(client, plan_digest=digest, owner="second")
    _run(3, second)
    assert len(checked) == 3
    assert [c.state for c in core.store.chunks(later)] == ["accepted", "failed", "failed"]
    assert len(sim.processed) == 4
    assert core.store.batch_header(later).state is BatchState.PARTLY_SENT
