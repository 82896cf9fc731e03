"""More realistic files: a Google Sheets download and a file mixing every kind of row."""

from __future__ import annotations

from pathlib import Path

from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.model import BatchPlan, Dca, SendOptions

DATA = Path(__file__).parent / "data"


def _plan(name: str) -> BatchPlan:
    data = (DATA / name).read_bytes()
    return plan_batch(data, SendOptions(), IntakeLimits(), PriceTable())


def test_google_sheets_download() -> None:
    """Sheets: UTF-8 without BOM, LF, `Phone`/`Text` headers, international and national mixed."""
    plan = _plan("google_sheets_export.csv")
    assert (plan.text_encoding, plan.delimiter, plan.rows) == ("utf-8", ",", 4)
    assert plan.columns == (("msisdn", "Phone"), ("message", "Text"))
    assert [(m.msisdn, m.dca) for m in plan.messages] == [
        ("447400123456", Dca.SEVEN_BIT),
        ("447400123457", Dca.SEVEN_BIT),
        ("4915123456789", Dca.SEVEN_BIT),
        ("33612345678", Dca.SIXTEEN_BIT),
    ]
    assert plan.messages[1].text == "Reminder: bring ID; parking is free after 6pm"
    assert {c.country for c in plan.cost} == {"GB", "DE", "FR"}


def test_mixed_file_accounts_for_every_row() -> None:
    """Valid, duplicate, 16-bit, scientific, empty, over-long and bad-sender rows, each placed."""
    plan = _plan("mixed_valid_invalid.csv")
    assert plan.rows == 12  # the blank line 13 is not a row
    assert len(plan.messages) + len(plan.duplicates) + len(plan.rejected) == plan.rows
    assert [m.line for m in plan.messages] == [2, 4, 8, 9, 12, 14]
    assert [(d.line, d.first_line) for d in plan.duplicates] == [(3, 2)]
    assert [(r.line, r.column) for r in plan.rejected] == [
        (5, "msisdn"),
        (6, "msisdn"),
        (7, "message"),
        (10, "sender"),
        (11, "message"),
    ]
    assert "scientific notation" in plan.rejected[0].reason
    assert (
        "4 SMS parts" in plan.rejected[4].reason and "SMSBATCH_MAX_PARTS" in plan.rejected[4].reason
    )
    by_line = {m.line: m for m in plan.messages}
    assert by_line[8].dca is Dca.SIXTEEN_BIT and "€" in (by_line[8].encoding_reason or "")
    assert by_line[9].dca is Dca.SIXTEEN_BIT
    assert by_line[12].dca is Dca.SEVEN_BIT  # capital Ç is in the GSM alphabet
    assert by_line[2].flags and by_line[4].flags  # same number, different texts: both flagged
    assert by_line[2].overrides == (("sender", "ACME"),)
