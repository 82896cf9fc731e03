"""`smsbatch-bot check` on workbooks and with `--template`: the same plan the Slack app makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from bot.cli.main import main
from tests.test_cli_check import clean_env  # noqa: F401 (the autouse fixture: an empty env)
from tests.test_intake_spreadsheet import _ods_book

DATA = Path(__file__).parent / "data"


def _xlsx(path: Path) -> str:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["Phone", "Name", "Message"])
    sheet.write_row(1, 0, [447911123456, "Ann", "Plain hello"])
    sheet.write_row(2, 0, [447911123457, "", "Hi ((name))"])
    book.close()
    return str(path)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_check_reads_an_xlsx_and_its_message_column_placeholders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A workbook's message column may hold placeholders; an empty value rejects its row."""
    code, plan = _json(capsys, _xlsx(tmp_path / "list.xlsx"))
    assert code == 0
    assert [(m["line"], m["msisdn"], m["text"]) for m in plan["messages"]] == [
        (2, "447911123456", "Plain hello")
    ]
    assert plan["rejected"] == [
        {
            "line": 3,
            "column": "Name",
            "reason": "missing name: the “Name” cell is empty (or a formula or error cell)",
            "value": "",
        }
    ]
    assert plan["text_encoding"] == "xlsx" and plan["template"] is None


def test_check_template_fills_every_row_and_lists_unused_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--template` replaces the message column, which is then listed as unused."""
    path = tmp_path / "people.csv"
    path.write_text("msisdn,first name,message\n447400123456,Ann,old\n447400123457,Bob,old\n")
    code, plan = _json(capsys, str(path), "--template", "Hi ((First_Name))!")
    assert code == 0
    assert [m["text"] for m in plan["messages"]] == ["Hi Ann!", "Hi Bob!"]
    assert plan["template"] == "Hi ((First_Name))!"
    assert plan["columns"] == {"msisdn": "msisdn", "((First_Name))": "first name"}
    assert plan["ignored_columns"] == ["message"]


def test_check_table_shows_the_workbook_and_the_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table says the file was read as a workbook, and prints the template once."""
    code = main(["check", str(DATA / "contacts.xls"), "--template", "Hi ((first name))"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"File:        {DATA / 'contacts.xls'} (xls workbook)" in out
    assert "Template:    Hi ((first name))" in out
    assert "Note:        hidden rows cannot be seen by the spreadsheet reader" in out


def test_a_missing_template_column_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A placeholder without a column makes the input unusable: exit 2, one line."""
    code = main(["check", _xlsx(tmp_path / "list.xlsx"), "--template", "Hi ((nickname))"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "missing a column called ‘nickname’. Its columns are ‘Phone’, ‘Name’ and" in err


def test_check_runs_as_a_process_on_an_ods(tmp_path: Path) -> None:
    """`python -m bot check FILE.ods` works from outside, as an operator runs it."""
    path = tmp_path / "list.ods"
    path.write_bytes(_ods_book())
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check", str(path), "--template", "Hi ((name))"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "Recipients:  2 (7-bit 1, 16-bit 1)" in done.stdout
