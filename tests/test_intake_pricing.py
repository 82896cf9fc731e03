"""The price table: documented TOML/JSON formats, most specific price first, clear errors."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.intake.pricing import PriceTable

TOML_TABLE = """
default = 1.5
routing_group_1 = 0.9

[countries.GB]
default = 1.0
routing_group_1 = 0.8
routing_group_3 = 1.2

[countries.us]
default = "0.5"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_no_table_means_one_credit_a_part() -> None:
    """Without SMSBATCH_PRICES every part costs one credit, whatever the destination."""
    table = PriceTable.load(None)
    assert table.is_default
    assert table.credits_per_part("GB", None) == Decimal(1)
    assert table.credits_per_part("BR", 3) == Decimal(1)


def test_toml_prices_are_looked_up_most_specific_first(tmp_path: Path) -> None:
    """Country+group, then country default, then table group, then table default."""
    table = PriceTable.load(_write(tmp_path, "prices.toml", TOML_TABLE))
    assert not table.is_default
    assert table.credits_per_part("GB", 1) == Decimal("0.8")
    assert table.credits_per_part("GB", 3) == Decimal("1.2")
    assert table.credits_per_part("GB", 2) == Decimal("1.0")
    assert table.credits_per_part("GB", None) == Decimal("1.0")
    assert table.credits_per_part("DE", 1) == Decimal("0.9")
    assert table.credits_per_part("DE", 2) == Decimal("1.5")
    assert table.credits_per_part("US", None) == Decimal("0.5")


def test_regions_sharing_a_calling_code_use_the_main_region(tmp_path: Path) -> None:
    """Guernsey is priced like GB and Canada like US unless they are listed themselves."""
    table = PriceTable.load(_write(tmp_path, "prices.toml", TOML_TABLE))
    assert table.credits_per_part("GG", 1) == Decimal("0.8")
    assert table.credits_per_part("CA", 2) == Decimal("0.5")


def test_json_table_has_the_same_shape(tmp_path: Path) -> None:
    """A JSON file with the same keys gives the same prices."""
    data = {"default": 2, "countries": {"DE": {"default": 1.25, "routing_group_2": 1.1}}}
    table = PriceTable.load(_write(tmp_path, "prices.json", json.dumps(data)))
    assert table.credits_per_part("DE", 2) == Decimal("1.1")
    assert table.credits_per_part("DE", 1) == Decimal("1.25")
    assert table.credits_per_part("FR", 1) == Decimal(2)


def test_floats_keep_their_written_value(tmp_path: Path) -> None:
    """0.1 credits is exactly 0.1, so three parts cost exactly 0.3."""
    table = PriceTable.load(_write(tmp_path, "p.toml", "default = 0.1\n"))
    assert table.credits_per_part("GB", None) * 3 == Decimal("0.3")


def test_a_file_without_extension_is_sniffed(tmp_path: Path) -> None:
    """A name without .toml/.json is read as JSON when it starts with '{', else TOML."""
    as_json = PriceTable.load(_write(tmp_path, "prices", '{"default": 3}'))
    as_toml = PriceTable.load(_write(tmp_path, "prices.conf", "default = 4"))
    assert as_json.credits_per_part("GB", None) == Decimal(3)
    assert as_toml.credits_per_part("GB", None) == Decimal(4)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Unknown keys, bad numbers and unknown countries are all named in one ConfigError."""
    text = """
default = -1
routing_group_4 = 1
[countries.XX]
default = 1
[countries.DE]
default = "cheap"
"""
    with pytest.raises(ConfigError) as caught:
        PriceTable.load(_write(tmp_path, "prices.toml", text))
    message = str(caught.value)
    assert "default: must be a number of credits >= 0, got -1" in message
    assert "routing_group_4: unknown key" in message
    assert "countries.XX: not an ISO region" in message
    assert "countries.DE.default: must be a number of credits >= 0, got 'cheap'" in message
    assert "SMSBATCH_PRICES" in message
    assert len(caught.value.problems) == 4


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("p.toml", "default = [", "is not valid TOML"),
        ("p.json", "{nope", "is not valid JSON"),
        ("p.json", "[1, 2]", "must hold a table"),
        ("p.toml", "countries = 3", "'countries' must be a table"),
        ("p.toml", "[countries]\nGB = 1", "countries.GB must be a table"),
        ("p.toml", "default = true", "got True"),
    ],
)
def test_malformed_files_are_refused_clearly(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    """Syntax errors and wrong shapes give a ConfigError naming the variable and the problem."""
    with pytest.raises(ConfigError, match="SMSBATCH_PRICES") as caught:
        PriceTable.load(_write(tmp_path, name, text))
    assert expected in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A path that cannot be read is named in the error."""
    with pytest.raises(ConfigError, match="cannot read"):
        PriceTable.load(tmp_path / "absent.toml")
