"""The README cannot drift: every command, variable and make target it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from bot.cli.main import SUBCOMMANDS
from bot.config import VARIABLES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _table_rows() -> list[tuple[str, str, str]]:
    table = README.split("<!-- variables:start -->")[1].split("<!-- variables:end -->")[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append((cells[0].strip("`"), cells[1], cells[2]))
    return rows


def test_first_lines_give_the_two_commands() -> None:
    """The README opens with `make run` and `make test`."""
    opening = "\n".join(README.splitlines()[:5])
    assert "make run" in opening
    assert "make test" in opening


def test_variable_table_matches_the_configuration_code() -> None:
    """The table lists exactly the variables the configuration reads, with their defaults."""
    rows = _table_rows()
    assert [name for name, _, _ in rows] == [v.name for v in VARIABLES]
    for (name, default, meaning), variable in zip(rows, VARIABLES, strict=True):
        assert default == variable.default, name
        assert meaning == variable.meaning, name


def test_every_variable_named_in_the_text_exists() -> None:
    """Any SLACK_/EAPI_/SMSBATCH_ name in the README is a real variable."""
    known = {v.name for v in VARIABLES}
    named = set(re.findall(r"\b((?:SLACK|EAPI|SMSBATCH)_[A-Z_]+)\b", README))
    assert named <= known, named - known


def test_every_subcommand_named_exists() -> None:
    """Every `smsbatch-bot WORD` in the README is a real subcommand."""
    named = set(re.findall(r"smsbatch-bot ([a-z]+)", README))
    assert named, "the README shows at least one subcommand"
    assert named <= set(SUBCOMMANDS), named - set(SUBCOMMANDS)


def test_every_make_target_named_exists() -> None:
    """Every `make TARGET` in the README is a target of the Makefile."""
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z]+):", makefile, re.MULTILINE))
    named = set(re.findall(r"`make ([a-z]+)`|^\s+make ([a-z]+)", README, re.MULTILINE))
    flat = {a or b for a, b in named}
    assert flat <= targets, flat - targets
