"""The audit log: append-only, hash-chained, verifiable, exportable; and `smsbatch-bot audit`."""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import audit as cmd_audit
from bot.store.audit import (
    COLUMNS,
    AuditEntry,
    AuditEvent,
    entry_hash,
    seal,
    to_csv,
    to_json,
    verify,
)
from bot.store.migrations import GENESIS_HASH
from tests.core_helpers import APPROVER, PREPARER, make_core


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with a prepared, an approved and a cancelled batch (a dozen entries)."""
    core = make_core(tmp_path / "audit.db")
    core.prepare()
    core.approved()
    cancelled = core.prepare()
    core.service.cancel(cancelled, PREPARER)
    core.service.approve(cancelled, APPROVER, "stale")
    core.store.close()
    return tmp_path / "audit.db"


def _copy_without_triggers(db: Path, tmp_path: Path) -> sqlite3.Connection:
    copy = tmp_path / "tampered.db"
    shutil.copy(db, copy)
    raw = sqlite3.connect(copy, isolation_level=None)
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_chained"):
        raw.execute(f"DROP TRIGGER {name}")
    return raw


def _entries(path: Path) -> list[AuditEntry]:
    raw = sqlite3.connect(path)
    return [AuditEntry(*row) for row in raw.execute("SELECT * FROM audit_log ORDER BY id")]


def test_every_decision_is_on_record_and_the_chain_is_intact(db: Path) -> None:
    """Prepare, approve, cancel and a refused approval each leave an entry; verify passes."""
    entries = _entries(db)
    events = [e.event for e in entries]
    assert events == [
        "batch_prepared",
        "batch_prepared",
        "approved",
        "batch_prepared",
        "cancelled",
        "approval_refused",
    ]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    result = verify(entries)
    assert result.ok and result.entries == 6 and result.last_hash == entries[-1].hash
    refused = entries[-1].detail_dict()
    assert "already cancelled by <@U0PREPARER>" in refused["reason"]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET actor = 'U0MALLORY' WHERE id = 2",
        "UPDATE audit_log SET detail = '{}'",
        "DELETE FROM audit_log WHERE id = 3",
        "DELETE FROM audit_log",
    ],
)
def test_editing_or_deleting_entries_with_raw_sql_fails(db: Path, sql: str) -> None:
    """The triggers refuse every UPDATE and DELETE on audit_log."""
    raw = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(sql)
    assert verify(_entries(db)).ok


def test_an_insert_that_does_not_extend_the_chain_is_refused(db: Path) -> None:
    """A forged entry with the wrong prev_hash (or id) cannot be appended even with raw SQL."""
    raw = sqlite3.connect(db, isolation_level=None)
    last = _entries(db)[-1]
    forged = seal(last, at=0.0, event=AuditEvent.APPROVED, actor="U0MALLORY")
    for bad in (replace(forged, prev_hash="f" * 64), replace(forged, id=forged.id + 5)):
        with pytest.raises(sqlite3.IntegrityError, match="extend the hash chain"):
            raw.execute(
                "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(vars_of(bad))
            )


def test_entries_written_in_one_transaction_chain_to_each_other(tmp_path: Path) -> None:
    """Three entries in one write transaction (a sender's answer) each extend the one before;
    a later transaction extends the last of them, and the whole chain verifies."""
    core = make_core(tmp_path / "chain.db")
    batch_id = core.prepare()
    with core.store.write() as tx:
        first, second, third = (
            tx.audit(AuditEvent.CHUNK_DONE, at=1.0, actor="sender", batch_id=batch_id)
            for _ in range(3)
        )
    with core.store.write() as tx:
        fourth = tx.audit(AuditEvent.BATCH_FINISHED, at=2.0, actor="sender", batch_id=batch_id)
    assert (second.prev_hash, third.prev_hash, fourth.prev_hash) == (
        first.hash,
        second.hash,
        third.hash,
    )
    entries = core.store.audit_entries()
    assert entries[-4:] == [first, second, third, fourth]
    assert verify(entries).ok


def vars_of(entry: AuditEntry) -> tuple[object, ...]:
    """The entry's columns in table order."""
    return (
        entry.id,
        entry.at,
        entry.event,
        entry.batch_id,
        entry.chunk_index,
        entry.actor,
        entry.channel_id,
        entry.detail,
        entry.prev_hash,
        entry.hash,
    )


def test_an_edited_entry_in_a_copy_is_named_by_verify(db: Path, tmp_path: Path) -> None:
    """Changing one entry's content (triggers dropped in a copy) breaks the chain at it."""
    raw = _copy_without_triggers(db, tmp_path)
    raw.execute("UPDATE audit_log SET actor = 'U0MALLORY' WHERE id = 3")
    result = verify(_entries(tmp_path / "tampered.db"))
    assert not result.ok
    assert result.broken_id == 3
    assert "changed" in (result.reason or "")


def test_a_rehashed_edit_is_still_caught_at_the_next_entry(db: Path, tmp_path: Path) -> None:
    """Recomputing the edited entry's own hash breaks the link from the entry after it."""
    raw = _copy_without_triggers(db, tmp_path)
    entry = _entries(tmp_path / "tampered.db")[1]
    edited = replace(entry, actor="U0MALLORY")
    new_hash = entry_hash(*vars_of(edited)[:-1])
    raw.execute("UPDATE audit_log SET actor = ?, hash = ? WHERE id = 2", ["U0MALLORY", new_hash])
    result = verify(_entries(tmp_path / "tampered.db"))
    assert (result.ok, result.broken_id) == (False, 3)
    assert "prev_hash" in (result.reason or "")


def test_a_deleted_entry_in_a_copy_is_named_by_verify(db: Path, tmp_path: Path) -> None:
    """Removing an entry from the middle shows at the entry that followed it."""
    raw = _copy_without_triggers(db, tmp_path)
    raw.execute("DELETE FROM audit_log WHERE id = 4")
    result = verify(_entries(tmp_path / "tampered.db"))
    assert (result.ok, result.broken_id) == (False, 5)
    assert "removed or inserted" in (result.reason or "")


@pytest.mark.parametrize("column", range(9))
def test_the_hash_covers_every_other_column(column: int) -> None:
    """Changing any single column (id … prev_hash) changes the entry's hash."""
    entry = seal(
        None,
        at=1.5,
        event=AuditEvent.APPROVED,
        actor="U1",
        batch_id=7,
        chunk_index=0,
        channel_id="C1",
        detail={"k": "v"},
    )
    fields = list(vars_of(entry)[:-1])
    assert entry_hash(*fields) == entry.hash
    original = fields[column]
    fields[column] = (original + 1) if isinstance(original, int) else f"{original}x"
    assert entry_hash(*fields) != entry.hash


@pytest.mark.parametrize("cell", ["=HYPERLINK(1)", "+447400123456", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_export_neutralises_spreadsheet_formulas(cell: str) -> None:
    """Cells starting with = + - @ tab or CR are prefixed with an apostrophe."""
    entry = seal(None, at=0.0, event=AuditEvent.UPLOAD_REFUSED, actor=cell, detail={})
    rows = list(csv.reader(io.StringIO(to_csv([entry]))))
    assert rows[1][5] == "'" + cell


def test_json_export_is_one_array_with_parsed_details(db: Path) -> None:
    """`to_json` gives a JSON array of objects whose detail is an object."""
    items = json.loads(to_json(_entries(db)))
    assert isinstance(items, list) and len(items) == 6
    assert items[2]["event"] == "approved"
    assert items[2]["detail"]["prepared_by"] == PREPARER


def _run(db: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setenv("SMSBATCH_DB", str(db))
    monkeypatch.chdir(db.parent)  # no stray .env is read
    parser = argparse.ArgumentParser()
    cmd_audit.add_arguments(parser)
    return cmd_audit.run(parser.parse_args(list(argv)))


def test_cli_verify_exits_0_when_intact(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit --verify` prints the entry count and last hash and exits 0."""
    assert _run(db, monkeypatch, "--verify") == 0
    out = capsys.readouterr().out
    assert "intact: 6 entries" in out and _entries(db)[-1].hash in out


def test_cli_verify_exits_1_naming_the_broken_entry(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit --verify` on a tampered copy exits 1 and names the first broken entry."""
    raw = _copy_without_triggers(db, tmp_path)
    raw.execute('UPDATE audit_log SET detail = \'{"reason":"nothing to see"}\' WHERE id = 5')
    raw.close()
    assert _run(tmp_path / "tampered.db", monkeypatch, "--verify") == 1
    out = capsys.readouterr().out
    assert "BROKEN at entry 5" in out
    assert len(out.strip().splitlines()) == 1


def test_cli_json_for_one_batch(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit --batch 2 --format json` prints one array of that batch's entries only."""
    assert _run(db, monkeypatch, "--batch", "2", "--format", "json") == 0
    items = json.loads(capsys.readouterr().out)
    assert [i["event"] for i in items] == ["batch_prepared", "approved"]
    assert {i["batch_id"] for i in items} == {2}


def test_cli_csv_and_table_list_every_entry(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CSV has a header and one row per entry; the table has a header and one line each."""
    assert _run(db, monkeypatch, "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["id", "at", "event"] and len(rows) == 7
    assert _run(db, monkeypatch) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["id", "at", "event"] and len(lines) == 7


def test_cli_on_a_missing_database_exits_2_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong SMSBATCH_DB is a one-line error with exit 2, and no file is created."""
    missing = tmp_path / "missing.db"
    assert _run(missing, monkeypatch, "--verify") == 2
    err = capsys.readouterr().err
    assert "no database at" in err and str(missing) in err and len(err.strip().splitlines()) == 1
    assert not missing.exists()


def test_the_hash_covers_every_column_but_itself_in_table_order() -> None:
    """`hashed()` is the table's columns, in order, without `hash`: verify and insert agree."""
    entry = AuditEntry(7, "2026-01-01T00:00:00Z", "approved", 3, None, "U1", "C1", "{}", "p", "h")
    assert entry.hashed() == tuple(getattr(entry, name) for name in COLUMNS if name != "hash")
