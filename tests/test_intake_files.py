"""Realistic exports (tests/data): what each one plans to, row by row."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from bot.errors import IntakeError
from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.model import BatchPlan, Dca, SendOptions

DATA = Path(__file__).parent / "data"


def _plan(name: str, country: str = "GB") -> BatchPlan:
    data = (DATA / name).read_bytes()
    return plan_batch(data, SendOptions(), IntakeLimits(default_country=country), PriceTable())


def test_excel_utf8_bom_comma_file() -> None:
    """Excel 'CSV UTF-8': BOM, CRLF, a duplicate, a French number, a trailing empty row."""
    plan = _plan("excel_utf8_bom.csv")
    assert (plan.text_encoding, plan.delimiter, plan.rows) == ("utf-8-sig", ",", 6)
    assert plan.columns == (("msisdn", "Phone Number"), ("message", "Message"))
    assert plan.ignored_columns == ("Name",)
    assert [(m.line, m.msisdn, m.dca) for m in plan.messages] == [
        (2, "447400123456", Dca.SEVEN_BIT),
        (3, "447400123457", Dca.SEVEN_BIT),
        (4, "447400123458", Dca.SEVEN_BIT),
        (5, "447400123459", Dca.SIXTEEN_BIT),
        (7, "33612345678", Dca.SIXTEEN_BIT),
    ]
    assert [(d.line, d.first_line) for d in plan.duplicates] == [(6, 2)]
    assert plan.messages[0].text.startswith("Hi Anna, your table")
    assert {c.country: c.messages for c in plan.cost} == {"GB": 4, "FR": 1}


def test_excel_german_cp1252_semicolon_file() -> None:
    """Excel 'CSV' on German Windows: cp1252, ';', a quoted ';', € and ë, a short number."""
    plan = _plan("excel_de_cp1252_semicolon.csv", country="DE")
    assert (plan.text_encoding, plan.delimiter) == ("cp1252", ";")
    assert plan.columns == (("msisdn", "Handy"), ("message", "Nachricht"))
    texts = [m.text for m in plan.messages]
    assert texts == [
        "Hallo Jörg, Ihr Termin ist am 12.03. um 10:00 Uhr.",
        "Hallo Zoë, Ihre Rechnung über 49,90 € ist bezahlt.",
        "Guten Tag; bitte rufen Sie uns an.",
    ]
    assert [m.dca for m in plan.messages] == [Dca.SEVEN_BIT, Dca.SIXTEEN_BIT, Dca.SEVEN_BIT]
    assert plan.messages[1].encoding_reason == (
        "character 9: 'ë' (U+00EB) is not in the GSM 7-bit alphabet"
    )
    assert [(r.line, r.column, r.value) for r in plan.rejected] == [(5, "Handy", "0151 2345")]


def test_excel_unicode_text_utf16_tab_file() -> None:
    """Excel 'Unicode Text': UTF-16 with BOM, tabs, Greek capitals as 7-bit, an emoji."""
    plan = _plan("excel_unicode_text_utf16.csv")
    assert (plan.text_encoding, plan.delimiter) == ("utf-16", "\t")
    assert [(m.dca, m.parts) for m in plan.messages] == [
        (Dca.SEVEN_BIT, 1),
        (Dca.SIXTEEN_BIT, 1),
        (Dca.SIXTEEN_BIT, 1),
    ]
    assert plan.messages[0].text == "Greek capitals ΔΦΓΛΩΠΨΣΘΞ travel as 7-bit"
    assert plan.messages[2].text == "Tab\tinside a quoted cell"


def test_excel_scientific_notation_file() -> None:
    """A number Excel showed as 4.47401E+11 is rejected; a float's '.0' is harmless."""
    plan = _plan("excel_scientific.csv")
    assert [r.line for r in plan.rejected] == [2]
    assert "scientific notation" in plan.rejected[0].reason
    assert [m.msisdn for m in plan.messages] == ["447400123463", "447400123464"]


def test_multiline_quoted_file() -> None:
    """Quoted messages over several lines keep their line breaks and quotes; rows number 2..4."""
    plan = _plan("multiline_quoted.csv")
    assert [m.line for m in plan.messages] == [2, 3, 4]
    assert plan.messages[0].text == 'Line one\nLine two, with a comma\nand "quotes"'
    assert plan.messages[2].text == "Dear customer,\n\nyour order #1234 has shipped."


def test_pipe_delimited_file_with_per_row_columns() -> None:
    """'|' file with sender and routing_group columns: blank means none, 7 is rejected."""
    plan = _plan("pipe_delimited.csv")
    assert plan.delimiter == "|"
    assert [m.overrides for m in plan.messages] == [
        (("sender", "MyShop"), ("routing_group", "1")),
        (("routing_group", "3"),),
    ]
    assert [(r.line, r.column) for r in plan.rejected] == [(4, "routing_group")]
    assert plan.ignored_columns == ("notes",)


def test_headerless_two_column_file() -> None:
    """Bare number,text lines: both rows are messages, numbered from line 1."""
    plan = _plan("headerless_two_columns.csv")
    assert [(m.line, m.msisdn, m.text) for m in plan.messages] == [
        (1, "447400123471", "Hello from a file without a header"),
        (2, "447400123472", "Second, with a comma"),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("slack_login_page.csv", "looks like an HTML page — perhaps Slack's login page"),
        ("screenshot_png_renamed.csv", "this is a PNG image, not a CSV file"),
    ],
)
def test_files_that_are_not_csv_are_refused(name: str, expected: str) -> None:
    """A login page saved as .csv and a renamed screenshot are refused, never parsed."""
    with pytest.raises(IntakeError) as caught:
        _plan(name)
    assert expected in str(caught.value)


def test_planning_leaves_the_garbage_collector_as_it_found_it() -> None:
    """The GC paused for a plan is on again afterwards, also after a refused file; off stays off."""
    data = (DATA / "excel_utf8_bom.csv").read_bytes()
    assert gc.isenabled()
    assert plan_batch(data, SendOptions(), IntakeLimits(), PriceTable()).rows == 6
    assert gc.isenabled()
    with pytest.raises(IntakeError):
        plan_batch(b"\x89PNG\r\n\x1a\n", SendOptions(), IntakeLimits(), PriceTable())
    assert gc.isenabled()
    gc.disable()
    try:
        plan_batch(data, SendOptions(), IntakeLimits(), PriceTable())
        assert not gc.isenabled()
    finally:
        gc.enable()
