"""`smsbatch-bot check`: the preview in the terminal, its JSON, and its exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.intake_file import build_file
from bot.cli.check import _message_json, _message_text, write_json
from bot.cli.main import main
from bot.config import Settings
from bot.intake.plan import IntakeLimits, plan_batch, plan_text
from bot.intake.pricing import PriceTable
from bot.model import BatchPlan, SendOptions

DATA = Path(__file__).parent / "data"
GOOD = "msisdn,message\n447400123456,Hello\n447400123456,Hello\n4.47E+11,Hi\n447400123457,Zoë\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test runs in an empty directory with no smsbatch or EAPI variables set."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SMSBATCH_", "EAPI_", "SLACK_")):
            monkeypatch.delenv(name)


def _csv(tmp_path: Path, text: str, name: str = "batch.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_json_has_the_interface_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One JSON object with rows, recipients, duplicates, parts, credits, rejected, messages."""
    code, plan = _json(capsys, _csv(tmp_path, GOOD))
    assert code == 0
    assert (plan["rows"], plan["recipients"], plan["duplicates"]) == (4, 2, 1)
    assert (plan["parts"], plan["credits"]) == (2, 2)
    assert plan["rejected"] == [
        {
            "line": 4,
            "column": "msisdn",
            "reason": "Excel turned this number into scientific notation; its digits are lost "
            "— format the column as Text and export again",
            "value": "4.47E+11",
        }
    ]
    assert [
        {k: m[k] for k in ("line", "msisdn", "text", "dca", "parts")} for m in plan["messages"]
    ] == [
        {"line": 2, "msisdn": "447400123456", "text": "Hello", "dca": "7bit", "parts": 1},
        {"line": 5, "msisdn": "447400123457", "text": "Zoë", "dca": "16bit", "parts": 1},
    ]
    assert plan["encoding"] == {"7bit": 1, "16bit": 1}
    assert plan["cost"] == [{"country": "GB", "messages": 2, "parts": 2, "credits": 2}]
    assert [c["dca"] for c in plan["chunks"]] == ["7bit", "16bit"]
    assert plan["text_encoding"] == "utf-8"


def test_prices_and_routing_group_reach_the_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMSBATCH_PRICES and --routing-group price the batch; fractional credits stay exact."""
    prices = tmp_path / "prices.toml"
    prices.write_text("[countries.GB]\ndefault = 1\nrouting_group_1 = 0.35\n")
    monkeypatch.setenv("SMSBATCH_PRICES", str(prices))
    code, plan = _json(capsys, _csv(tmp_path, GOOD), "--routing-group", "1", "--sender", "MyShop")
    assert code == 0
    assert plan["credits"] == 0.7
    assert plan["options"] == {"sender": "MyShop", "routing_group": 1}


def test_table_shows_counts_rejects_and_the_exact_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table names counts, the first 20 rejected rows and the first 5 messages as sent."""
    text = "msisdn,message\n" + "".join(f"bad{n},x\n" for n in range(25))
    text += "".join(f'4474001234{n:02d},"Message {n}\nline two"\n' for n in range(7))
    code = main(["check", _csv(tmp_path, text)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Recipients:  7 (7-bit 7, 16-bit 0)" in out
    assert "Rejected rows (first 20 of 25):" in out
    assert "line 21, msisdn:" in out and "line 22, msisdn:" not in out
    assert "First 5 messages, exactly as they will go out:" in out
    assert "  line 27 -> 447400123400 (7bit, 1 part):\n    | Message 0\n    | line two" in out
    assert "Message 5" not in out


def test_nothing_sendable_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A readable file whose every row is rejected exits 1 and says nothing can be sent."""
    code = main(["check", _csv(tmp_path, "msisdn,message\n12345,Hi\n")])
    assert code == 1
    assert "Nothing can be sent." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["{data}/slack_login_page.csv"], "looks like an HTML page"),
        (["{data}/screenshot_png_renamed.csv"], "PNG image"),
        (["{tmp}/absent.csv"], "absent.csv: no such file"),
        (["{tmp}"], "is a directory"),
        (["{good}", "--routing-group", "5"], "routing group must be 1, 2 or 3, got 5"),
        (["{good}", "--sender", "Far too long sender"], "sender 'Far too long sender'"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    """Non-CSV files, missing files and bad options exit 2 with a one-line reason on stderr."""
    good = _csv(tmp_path, GOOD)
    args = [a.format(data=DATA, tmp=tmp_path, good=good) for a in argv]
    code = main(["check", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("smsbatch-bot check: ")
    assert reason in captured.err
    assert captured.err.count("\n") == 1


def test_over_the_size_limit_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMSBATCH_MAX_FILE_BYTES applies to the command too, naming the variable."""
    monkeypatch.setenv("SMSBATCH_MAX_FILE_BYTES", "20")
    assert main(["check", _csv(tmp_path, GOOD)]) == 2
    assert "SMSBATCH_MAX_FILE_BYTES" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["msisdn,message\n", "msisdn,message\r\n\r\n,\n  \n"])
def test_a_header_without_rows_has_nothing_to_send_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """A readable file with a header and no rows is "none sendable" (1), not unusable (2)."""
    code = main(["check", _csv(tmp_path, text), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 1
    plan = json.loads(captured.out)
    assert (plan["rows"], plan["recipients"], plan["messages"], plan["rejected"]) == (0, 0, [], [])
    assert captured.err.count("\n") == 1 and "no rows below it" in captured.err


def test_a_file_over_the_size_limit_is_named_with_its_real_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only limit + 1 bytes are read, yet the refusal states the file's real size."""
    monkeypatch.setenv("SMSBATCH_MAX_FILE_BYTES", "20")
    path = _csv(tmp_path, GOOD)
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert f"the file is {len(GOOD.encode())} bytes; the limit is 20 bytes" in err
    assert "21 bytes" not in err


def test_the_table_never_writes_control_characters_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rejected cell holding ESC or other controls is shown escaped, not sent to the tty."""
    text = 'msisdn,message\n447400123456,"\x1b[2Jgone\x07"\n447400123457,ok\n'
    assert main(["check", _csv(tmp_path, text)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "[\\x1b[2Jgone\\x07]" in out


def test_a_bad_price_table_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed SMSBATCH_PRICES ends in one configuration line and exit 2, no traceback."""
    prices = tmp_path / "prices.toml"
    prices.write_text("default = 'free'\n")
    monkeypatch.setenv("SMSBATCH_PRICES", str(prices))
    assert main(["check", _csv(tmp_path, GOOD)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("smsbatch-bot check: configuration: SMSBATCH_PRICES")
    assert "Traceback" not in err


def test_reads_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """'-' reads the CSV from standard input."""
    stdin = io.TextIOWrapper(io.BytesIO(GOOD.encode("utf-8")))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, plan = _json(capsys, "-")
    assert code == 0
    assert plan["recipients"] == 2


def test_console_entry_point_runs_without_slack_settings(tmp_path: Path) -> None:
    """`python -m bot check` works as a separate process with no Slack or EAPI settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SMSBATCH_", "EAPI_", "SLACK_"))
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "check",
            str(DATA / "excel_utf8_bom.csv"),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["recipients"] == 5


def test_piped_json_is_compact_and_the_same_object_as_the_terminal_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Piped, the JSON is one line written in pieces; it parses to what a terminal is shown."""
    rows = [f"+4474001{n:05d},Hello {n}" for n in range(2500)]
    rows[1200] = "not a number,Hi"
    rows[2300] = rows[2299]  # a duplicate past the second piece
    path = _csv(tmp_path, "msisdn,message\n" + "\n".join(rows) + "\n")
    code, plan = _json(capsys, path)
    assert code == 0
    piped = _piped_output(path)
    assert piped.count("\n") == 1 and json.loads(piped) == plan
    pretty = io.StringIO()
    write_json(_planned(path), pretty, pretty=True)
    assert json.loads(pretty.getvalue()) == plan and pretty.getvalue().count("\n") > 2500
    assert [m["line"] for m in plan["messages"]] == [
        n + 2 for n in range(2500) if n not in (1200, 2300)
    ]
    assert plan["rejected"][0]["line"] == 1202 and plan["duplicate_rows"][0]["line"] == 2302
    assert len(plan["messages"]) == plan["recipients"] == 2498


def _piped_output(path: str) -> str:
    """`check --format json` as a process whose stdout is a pipe."""
    argv = [sys.executable, "-m", "bot", "check", path, "--format", "json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSBATCH_")}
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout


def _planned(path: str) -> BatchPlan:
    """The plan `check` prints for the file, with the default settings."""
    data = Path(path).read_bytes()
    return plan_batch(data, SendOptions(), IntakeLimits(), PriceTable(), allow_empty=True)


def test_a_typical_file_of_the_row_limit_needs_the_size_limit_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMSBATCH_MAX_ROWS rows of the benchmark's typical mix: refused by the 10 MiB default,
    naming the limit; checked whole once SMSBATCH_MAX_FILE_BYTES is raised as the README says."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    rows = Settings().max_rows
    path = tmp_path / "limit.csv"
    path.write_bytes(build_file(rows))
    assert main(["check", str(path)]) == 2
    assert "SMSBATCH_MAX_FILE_BYTES" in capsys.readouterr().err
    monkeypatch.setenv("SMSBATCH_MAX_FILE_BYTES", "33554432")
    assert main(["check", str(path)]) == 0
    assert f"Rows read:   {rows}\n" in capsys.readouterr().out


def test_each_message_is_written_as_json_dumps_writes_it() -> None:
    """The compact writer's hand-joined message objects are exactly what `json.dumps` gives,
    for every kind of message: quotes, control characters, emoji, 16-bit reasons, overrides,
    flags."""
    text = (
        "msisdn,message,sender,routing_group\n"
        '447400123456,"Say ""hi"" \\ to Zoë 😀",Acme,2\n'
        "447400123457,Price [incl. VAT] ~ {portal},,\n"
        '447400123458,"two\nlines — ok",,\n'
        "7400123459,Is this caf? open,,\n"
        "447400123459,Other text,,\n"
    )
    plan = plan_text(text, SendOptions(), IntakeLimits(), PriceTable())
    assert len(plan.messages) == 5
    assert any(m.flags for m in plan.messages) and any(m.overrides for m in plan.messages)
    assert any(m.encoding_reason for m in plan.messages)
    for message in plan.messages:
        expected = json.dumps(_message_json(message), ensure_ascii=False, separators=(",", ":"))
        assert _message_text(message) == expected
