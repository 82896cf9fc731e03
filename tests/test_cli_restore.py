"""`smsbatch-bot restore` in-process, from plain SQLite backups (the Litestream path is
tests/test_system_replication.py): what it refuses, what it puts in place, and what it prints."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.store.db import Store
from bot.store.home import check_home
from bot.store.restores import DEFAULT_MARGIN
from tests.core_helpers import csv_rows, make_core


def backup_of_a_busy_database(tmp_path: Path) -> tuple[Path, int]:
    """A `VACUUM INTO` backup taken with one batch approved; and the sequence it had."""
    core = make_core(tmp_path / "live.db")
    check_home(core.store)
    core.approved(csv_rows(2))
    backup = tmp_path / "backup.db"
    core.store._one(f"VACUUM INTO '{backup}'")
    [(seq,)] = sqlite3.connect(backup).execute("SELECT next_seq FROM stop_dup_sequence")
    core.store.close()
    return backup, int(seq)


def test_a_backup_file_is_restored_made_safe_and_accepted_by_the_sender(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0; the summary names the ids skipped and the unknown submission; the sender's
    guard accepts the result; no scratch file is left."""
    backup, seq = backup_of_a_busy_database(tmp_path)
    target = tmp_path / "new" / "smsbatch.db"
    assert main(["restore", "--from", str(backup), "--to", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"moved from {seq} to {seq + DEFAULT_MARGIN}" in out
    assert "1 submission(s) of batch(es) 1 had no recorded answer" in out
    assert sorted(p.name for p in target.parent.iterdir()) == ["smsbatch.db", "smsbatch.db.home"]
    restored = Store.open(target)
    check_home(restored)
    assert [c.state for c in restored.chunks(1)] == ["unknown"]
    restored.close()


def test_an_existing_target_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 naming the path; the database there is untouched."""
    backup, _ = backup_of_a_busy_database(tmp_path)
    target = tmp_path / "live.db"
    before = target.read_bytes()
    assert main(["restore", "--from", str(backup), "--to", str(target)]) == 2
    assert "exists: a restore never overwrites a database" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_a_backup_whose_audit_log_is_broken_is_not_put_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 naming the broken entry; nothing at the target, the copy kept for inspection."""
    backup, _ = backup_of_a_busy_database(tmp_path)
    raw = sqlite3.connect(backup, isolation_level=None)
    raw.execute("DROP TRIGGER audit_log_no_update")
    raw.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = 1")
    raw.close()
    target = tmp_path / "new.db"
    assert main(["restore", "--from", str(backup), "--to", str(target)]) == 1
    err = capsys.readouterr().err
    assert "audit log is BROKEN at entry 1" in err and len(err.strip().splitlines()) == 1
    assert not target.exists() and (tmp_path / "new.db.restoring").exists()


def test_a_replica_that_cannot_be_read_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Litestream finds no backup at the URL: exit 1, one line, nothing at the target."""
    target = tmp_path / "new.db"
    url = (tmp_path / "empty-replica").as_uri()
    assert main(["restore", "--from", url, "--to", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smsbatch-bot restore: litestream could not restore from file://")
    assert len(err.strip().splitlines()) == 1 and not target.exists()
