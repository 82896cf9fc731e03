"""`smsbatch-bot report BATCH`: every message's delivery state as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.eapi.reports import delivery_state
from bot.model import ReportRow
from bot.store.reports import DeliveryStore
from tests.core_helpers import make_core

DATA = b"msisdn,message\n447700900001,a\n447700900002,b\n447700900003,c\n"


@pytest.fixture
def reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """A database with one approved, accepted batch: line 2 delivered, line 3 failed."""
    db = tmp_path / "smsbatch.db"
    core = make_core(db)
    batch_id = core.approved(DATA)
    with core.store.write() as tx:  # the sender's answer, as it records one
        [chunk] = tx.chunks(batch_id)
        tx.update_chunk(chunk.id, state="accepted", eapi_batch_id=4712345001, finished_at=1.0)
    store = DeliveryStore(core.store)
    for msisdn, code in (("447700900001", 11), ("447700900002", 53)):
        store.record_push(4712345001, ReportRow(msisdn, code, delivery_state(code)), 2.0)
    core.store.close()
    monkeypatch.setenv("SMSBATCH_DB", str(db))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return db, batch_id


def test_json_has_counts_and_every_message(
    reported: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format json`: batch, counts and messages with line, msisdn, state and status_code."""
    _, batch_id = reported
    assert main(["report", str(batch_id), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["batch"] == batch_id
    assert out["counts"] == {"delivered": 1, "failed": 1, "pending": 1, "unknown": 0}
    assert out["messages"] == [
        {"line": 2, "msisdn": "447700900001", "state": "delivered", "status_code": 11},
        {"line": 3, "msisdn": "447700900002", "state": "failed", "status_code": 53},
        {"line": 4, "msisdn": "447700900003", "state": "pending", "status_code": None},
    ]


def test_csv_and_table_name_the_meaning(
    reported: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """CSV rows and the table carry each code's meaning; the table starts with the counts."""
    _, batch_id = reported
    assert main(["report", str(batch_id), "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["line", "msisdn", "state", "status_code", "meaning"]
    assert rows[2] == ["3", "447700900002", "failed", "53", "message expired"]
    assert main(["report", str(batch_id)]) == 0
    table = capsys.readouterr().out
    assert table.startswith(f"batch {batch_id}: 1 delivered, 1 failed, 1 pending, 0 unknown")
    assert "delivered to mobile" in table


def test_an_unknown_batch_exits_2_in_one_line(
    reported: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch number that does not exist: exit 2 and one line naming it."""
    assert main(["report", "999"]) == 2
    assert capsys.readouterr().err.strip() == "smsbatch-bot report: there is no batch 999"


def test_a_missing_database_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No database at SMSBATCH_DB: exit 2, and none is created."""
    monkeypatch.setenv("SMSBATCH_DB", str(tmp_path / "none.db"))
    monkeypatch.chdir(tmp_path)
    assert main(["report", "1"]) == 2
    assert not (tmp_path / "none.db").exists()
