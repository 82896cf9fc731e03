"""Delivery-report rows in SQLite: matching by source_id or by number, one audit entry a fetch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.eapi.reports import delivery_state
from bot.model import DeliveryCounts, DeliveryState, ReportRow
from bot.store import suppression
from bot.store.reports import DeliveryStore, Schedule
from bot.store.suppression import Source
from tests.core_helpers import Core, make_core

TWICE = b"msisdn,message\n447700900001,first\n447700900002,other\n447700900001,second\n"
EAPI_BATCH = 4712345001


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    """An approved batch of three messages (one number twice), accepted as EAPI_BATCH."""
    made = make_core(tmp_path / "smsbatch.db")
    batch_id = made.approved(TWICE)
    with made.store.write() as tx:  # the sender's record of an accepted answer
        [chunk] = tx.chunks(batch_id)
        tx.update_chunk(chunk.id, state="accepted", eapi_batch_id=EAPI_BATCH, finished_at=0.0)
    yield made
    made.store.close()


def _row(msisdn: str, code: int, source_id: str | None = None) -> ReportRow:
    return ReportRow(msisdn, code, delivery_state(code), source_id)


def _codes(store: DeliveryStore) -> list[tuple[int, int | None]]:
    return [(m.line, m.status_code) for m in store.messages(1)]


def test_approval_records_each_message_with_the_source_id_it_was_sent_with(core: Core) -> None:
    """Three pending rows; the repeated number's rows carry L2 and L4, the other none."""
    rows = core.store._connection().execute(
        "SELECT line, msisdn, source_id, state FROM report_messages ORDER BY line"
    )
    assert [tuple(r) for r in rows] == [
        (2, "447700900001", "L2", "pending"),
        (3, "447700900002", None, "pending"),
        (4, "447700900001", "L4", "pending"),
    ]


def test_an_echoed_source_id_finds_its_own_row(core: Core) -> None:
    """A report for L4 changes line 4 only, even though line 2 has the same number."""
    store = DeliveryStore(core.store)
    store.record_push(EAPI_BATCH, _row("447700900001", 53, "L4"), 1.0)
    assert _codes(store) == [(2, None), (3, None), (4, 53)]


def test_without_a_source_id_a_repeated_number_fills_its_rows_in_order(core: Core) -> None:
    """Unechoed reports go to that number's rows in line order: the counts stay exact."""
    store = DeliveryStore(core.store)
    store.record_push(EAPI_BATCH, _row("447700900001", 11), 1.0)
    store.record_push(EAPI_BATCH, _row("447700900001", 51), 2.0)
    assert _codes(store) == [(2, 11), (3, None), (4, 51)]
    assert store.delivery_counts(1) == DeliveryCounts(delivered=1, failed=1, pending=1)


def test_one_fetch_is_one_audit_entry_with_its_counts(core: Core) -> None:
    """A fetch of three rows writes one `report_fetched` entry: rows by state, changes, line."""
    store = DeliveryStore(core.store)
    schedule = Schedule(1, 0, EAPI_BATCH, 0.0, 0, 60.0, 0, 0)
    rows = [_row("447700900001", 11, "L2"), _row("447700900002", 0), _row("447700900001", 63, "L4")]
    news = store.record_fetch(
        schedule,
        rows,
        status_line="0|Returns to follow",
        skipped=1,
        now=60.0,
        next_step=1,
        next_at=300.0,
    )
    assert news.changed == 3 and news.announce and not news.final
    [entry] = [e for e in core.store.audit_entries(1) if e.event == "report_fetched"]
    detail = json.loads(entry.detail)
    assert detail["rows_by_state"] == {"delivered": 1, "pending": 2}
    assert detail["changed"] == 3 and detail["skipped"] == 1
    assert detail["status_line"] == "0|Returns to follow"
    assert detail["batch_counts"] == {"delivered": 1, "failed": 0, "pending": 2, "unknown": 0}
    assert [m.state for m in store.messages(1)] == [
        DeliveryState.DELIVERED,
        DeliveryState.PENDING,
        DeliveryState.PENDING,
    ]


def test_a_blocked_report_puts_the_number_on_the_suppression_list(core: Core) -> None:
    """Status 32 (blocked) lists the number, source `report`, in the report's own transaction;
    a repeat changes nothing and other codes list nobody."""
    store = DeliveryStore(core.store)
    store.record_push(EAPI_BATCH, _row("447700900002", 11), 1.0)
    assert suppression.entry(core.store, "447700900002") is None
    store.record_push(EAPI_BATCH, _row("447700900001", 32, "L2"), 2.0)
    store.record_push(EAPI_BATCH, _row("447700900001", 32, "L4"), 3.0)
    entry = suppression.entry(core.store, "447700900001")
    assert entry is not None and entry.source is Source.REPORT
    assert entry.evidence == "batch 1, submission 1, status 32"
    added = [e for e in core.store.audit_entries() if e.event == "suppression_added"]
    assert len(added) == 1
