"""A big file's numbers parsed half in a forked child give the one-process result, whatever
happens to the child."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator

import pytest

from bot.intake import twocores
from bot.intake.numbers import BadNumber, Number, parse_number
from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.model import SendOptions

PARENT = os.getpid()


def _cells(count: int) -> list[str]:
    """Distinct number cells as people write them: valid, national, foreign, broken."""
    rng = random.Random(5)
    forms = (
        "+44 7400 {:06d}",
        "07400{:06d}",
        "33612{:06d}",
        "+1 212 736 {:04d}",
        "0049 1512 {:07d}",
        "12{:d}",
        "call me {:d}",
    )
    return [rng.choice(forms).format(n) for n in range(count)]  # distinct: n differs


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fork from 100 cells on (10,000 in use), on two cores as the CI machine has."""
    monkeypatch.setattr(twocores, "MIN_CELLS", 100)
    if not twocores._two_cores():
        pytest.skip("needs Linux and two cores")
    yield


def test_a_big_list_is_parsed_half_in_a_child_as_one_process_would() -> None:
    """Every cell gets what `parse_number` gives it, in both halves."""
    cells = _cells(600)
    parsed = twocores.parse_numbers(cells, "GB")
    assert parsed == {cell: parse_number(cell, "GB") for cell in cells}
    assert any(isinstance(p, Number) for p in parsed.values())
    assert any(isinstance(p, BadNumber) for p in parsed.values())


def test_the_second_half_is_the_childs_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child, not this process, parses the second half (each result says who made it)."""

    def signed(cells: list[str], region: str) -> list[twocores.Parsed]:
        return [BadNumber(f"parsed by {os.getpid()}") for _ in cells]

    monkeypatch.setattr(twocores, "_parse_list", signed)
    cells = _cells(400)
    parsed = twocores.parse_numbers(cells, "GB")
    makers = {parsed[cell].reason for cell in cells[200:]}  # type: ignore[union-attr]
    assert len(makers) == 1 and makers != {f"parsed by {PARENT}"}
    assert parsed[cells[0]] == parse_number(cells[0], "GB")


@pytest.mark.parametrize("fault", ["dies", "short answer", "hangs"])
def test_whatever_befalls_the_child_costs_only_time(
    fault: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A child that dies, answers short or never answers: its half is parsed here, and the
    result is still the one-process result."""
    parse_list = twocores._parse_list

    def faulty(cells: list[str], region: str) -> list[twocores.Parsed]:
        if os.getpid() == PARENT:  # the fallback here works as usual
            return parse_list(cells, region)
        if fault == "dies":
            os._exit(3)
        if fault == "hangs":
            os.read(os.pipe()[0], 1)  # blocks for good
        return parse_list(cells[1:], region)

    monkeypatch.setattr(twocores, "_parse_list", faulty)
    monkeypatch.setattr(twocores, "PATIENCE_FLOOR", 1.0)
    cells = _cells(300)
    with caplog.at_level(logging.WARNING, logger="bot.intake.twocores"):
        parsed = twocores.parse_numbers(cells, "GB")
    assert parsed == {cell: parse_number(cell, "GB") for cell in cells}
    assert "parsing its half here" in caplog.text


def test_a_plan_made_on_two_cores_is_the_plan_made_on_one() -> None:
    """Rejected rows, duplicates, flags and cost come out the same."""
    cells = _cells(500)
    rows = [f'"{cell}",Hello {n % 7}' for n, cell in enumerate(cells)]
    rows += rows[:20]  # exact duplicates
    data = ("msisdn,message\n" + "\n".join(rows) + "\n").encode()
    args = (data, SendOptions(), IntakeLimits(), PriceTable())
    one = plan_batch(*args)
    two = plan_batch(*args, two_cores=True)
    assert two == one
    assert one.rejected and one.duplicates and one.messages
