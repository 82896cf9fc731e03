"""The command line: every subcommand answers --help; a closed pipe ends quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import SUBCOMMANDS, main


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`smsbatch-bot NAME --help` prints usage and exits 0."""
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    assert f"smsbatch-bot {name}" in capsys.readouterr().out


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    """`check --format json | head -c 10`: no BrokenPipe traceback on stderr."""
    rows = "".join(f"4474001234{n:02d},message number {n}\n" for n in range(60))
    csv_file = tmp_path / "many.csv"
    csv_file.write_text("msisdn,message\n" + rows * 20)
    script = f"{sys.executable} -m bot check {csv_file} --format json | head -c 10 > /dev/null"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        check=False,
    )
    assert "Traceback" not in result.stderr


def test_an_unusable_database_ends_the_app_in_one_line(tmp_path: Path) -> None:
    """SMSBATCH_DB in a missing folder: one line naming the path, exit 2, no traceback."""
    env = {
        "PATH": "/usr/bin:/bin",
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_SIGNING_SECRET": "s",
        "SMSBATCH_DB": str(tmp_path / "missing" / "x.db"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"smsbatch-bot run: cannot open the database at {env['SMSBATCH_DB']}: "
        "unable to open database file"
    ]


def test_check_does_not_import_the_slack_libraries(tmp_path: Path) -> None:
    """`check` runs without loading slack_bolt, slack_sdk or the Slack adapter."""
    csv_file = tmp_path / "one.csv"
    csv_file.write_text("msisdn,message\n447400123456,Hello\n")
    probe = (
        "import sys, contextlib, io\n"
        "from bot.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['check', {str(csv_file)!r}])\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('slack_bolt', 'slack_sdk', 'handlers')]\n"
        "print(code, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "0 []"
