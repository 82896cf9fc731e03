"""`smsbatch-bot optout …` and `check`'s `suppressed`: the list in SMSBATCH_DB from a terminal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.store.db import Store


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty directory; only SMSBATCH_DB is set."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SMSBATCH_", "EAPI_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMSBATCH_DB", str(tmp_path / "list.db"))


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    """`optout list --format json`, parsed."""
    capsys.readouterr()
    assert main(["optout", "list", "--format", "json"]) == 0
    rows: list[dict[str, str]] = json.loads(capsys.readouterr().out)
    return rows


def test_add_normalises_and_list_shows_source(capsys: pytest.CaptureFixture[str]) -> None:
    """National and international spellings are one entry, source manual, audited once."""
    assert main(["optout", "add", "07700 900123", "+44 7700 900123", "07400123456"]) == 0
    out = capsys.readouterr().out
    assert "added 447700900123" in out and "added 447400123456" in out
    rows = listed(capsys)
    assert [(r["msisdn"], r["source"]) for r in rows] == [
        ("447400123456", "manual"),
        ("447700900123", "manual"),
    ]
    assert main(["audit", "--format", "json"]) == 0
    events = [e["event"] for e in json.loads(capsys.readouterr().out)]
    assert events == ["suppression_added", "suppression_added"]


def test_remove_and_bad_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """remove takes it off; a value that is no number is named on stderr, exit 1."""
    main(["optout", "add", "447400123456"])
    assert main(["optout", "remove", "447400123456", "n/a"]) == 1
    captured = capsys.readouterr()
    assert "removed 447400123456" in captured.out
    assert "'n/a' is not a number" in captured.err
    assert listed(capsys) == []


def test_import_reads_the_number_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A semicolon CSV with a `Phone number` column: every number added, source import."""
    path = tmp_path / "stops.csv"
    path.write_text("Name;Phone number\nAnn;07400 123456\nBob;+447400123457\nEve;nope\n")
    assert main(["optout", "import", str(path)]) == 1
    assert "2 added, 0 already listed, 1 not numbers" in capsys.readouterr().out
    rows = listed(capsys)
    assert {(r["msisdn"], r["source"], r["evidence"]) for r in rows} == {
        ("447400123456", "import", "stops.csv"),
        ("447400123457", "import", "stops.csv"),
    }


def test_list_without_a_database_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    """No database: one line naming SMSBATCH_DB, exit 2, nothing created."""
    assert main(["optout", "list"]) == 2
    assert "SMSBATCH_DB" in capsys.readouterr().err
    assert not Path("list.db").exists()


def test_check_counts_suppressed_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check's JSON: `suppressed` counts rows whose number is listed; they are not recipients."""
    batch = tmp_path / "batch.csv"
    batch.write_text("msisdn,message\n447400123456,Hi\n447400123457,Hi\n07400123456,Again\n")
    assert main(["check", str(batch), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["suppressed"] == 0  # no database yet
    main(["optout", "add", "447400123456"])
    capsys.readouterr()
    assert main(["check", str(batch), "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["recipients"], plan["suppressed"]) == (1, 2)
    assert plan["suppressed_rows"] == [
        {"line": 2, "msisdn": "447400123456"},
        {"line": 4, "msisdn": "447400123456"},
    ]
    store = Store.open(tmp_path / "list.db")
    try:
        assert [e.event for e in store.audit_entries()] == ["suppression_added"]
    finally:
        store.close()


def test_check_refuses_when_the_list_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged SMSBATCH_DB: exit 2 and one line, never a plan unchecked against the list."""
    (tmp_path / "list.db").write_bytes(b"this is not a database" * 100)
    batch = tmp_path / "batch.csv"
    batch.write_text("msisdn,message\n447400123456,Hi\n")
    assert main(["check", str(batch), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "the suppression list in" in err and "cannot be read" in err
    assert len(err.strip().splitlines()) == 1
