"""Upload bytes: encodings found without guessing, and non-CSV files refused with a clear reason."""

from __future__ import annotations

import pytest

from bot.errors import IntakeError
from bot.intake.plan import IntakeLimits, plan_batch, plan_text
from bot.intake.pricing import PriceTable
from bot.model import BatchPlan, SendOptions

CSV = "msisdn,message\r\n447400123456,Zoë paid 5 €\r\n"


def _plan(data: bytes, **limits: int) -> BatchPlan:
    return plan_batch(data, SendOptions(), IntakeLimits(**limits), PriceTable())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xef\xbb\xbf" + CSV.encode("utf-8"), "utf-8-sig"),
        (CSV.encode("utf-16"), "utf-16"),
        (b"\xfe\xff" + CSV.encode("utf-16-be"), "utf-16"),
        (CSV.encode("utf-8"), "utf-8"),
        (CSV.encode("cp1252"), "cp1252"),
        (CSV.encode("utf-16-le"), "utf-16-le"),
        (CSV.encode("utf-16-be"), "utf-16-be"),
    ],
    ids=["utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "utf-8", "cp1252", "le", "be"],
)
def test_every_encoding_reads_the_same_text(data: bytes, encoding: str) -> None:
    """BOM, UTF-8, BOM-less UTF-16 and Windows-1252 all give the exact text, and say which."""
    plan = _plan(data)
    assert plan.text_encoding == encoding
    assert [m.text for m in plan.messages] == ["Zoë paid 5 €"]


def test_cp1252_is_flagged_in_the_notes() -> None:
    """A file read as Windows-1252 says so, so that a person checks the accents."""
    plan = _plan(CSV.encode("cp1252"))
    assert any("Windows-1252" in note for note in plan.notes)


def test_cp1252_smart_quotes_are_not_latin1_controls() -> None:
    """Byte 0x92 is a right single quote (cp1252), not a C1 control (latin-1)."""
    plan = _plan(b"msisdn,message\n447400123456,it\x92s here\n")
    assert plan.messages[0].text == "it’s here"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\r\n\r\n  ", "the file is empty"),
        (b"<!DOCTYPE html><html><head><title>Slack</title>", "looks like an HTML page"),
        (b"\n  <html lang='en'><body>Sign in</body></html>", "perhaps Slack's login page"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "a PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "File > Save As > CSV UTF-8"),
        (
            b"PK\x03\x04\x14\x00\x00\x00xl/workbook.xml",
            "an Excel workbook (.xlsx) but it is damaged",
        ),
        (b"PK\x03\x04\x14\x00\x00\x00notes.txt", "a ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "the xls file cannot be read"),
        (b"msisdn,message\n447400123456,a\x00b\n", "NUL bytes (line 2)"),
        (b"msisdn,message\n\x81\x8d\x8f\x90\x9d", "neither UTF-8 nor Windows-1252"),
        (b"\x01\x02\x03\x04msisdn,message\n", "looks like a binary file"),
    ],
)
def test_non_csv_uploads_are_refused_with_what_to_do(data: bytes, expected: str) -> None:
    """HTML, images, documents, archives, workbooks, NULs and empty files never parse as CSV."""
    with pytest.raises(IntakeError) as caught:
        _plan(data)
    assert expected in str(caught.value)


def test_utf16_html_page_is_refused() -> None:
    """An HTML page stays an HTML page whatever its encoding."""
    with pytest.raises(IntakeError, match="HTML page"):
        _plan("<!DOCTYPE html><html></html>".encode("utf-16"))


def test_broken_utf8_after_a_bom_is_refused() -> None:
    """A file that claims UTF-8 with a BOM must be UTF-8 all through."""
    with pytest.raises(IntakeError, match="says it is UTF-8"):
        _plan(b"\xef\xbb\xbfmsisdn,message\n447400123456,\xff\n")


def test_over_the_size_limit_is_refused_up_front() -> None:
    """A file over SMSBATCH_MAX_FILE_BYTES is refused, naming the limit and the variable."""
    data = CSV.encode("utf-8")
    with pytest.raises(IntakeError) as caught:
        _plan(data, max_file_bytes=len(data) - 1)
    assert f"the limit is {len(data) - 1:,} bytes (SMSBATCH_MAX_FILE_BYTES)" in str(caught.value)
    assert _plan(data, max_file_bytes=len(data)).rows == 1


def test_pasted_text_has_the_same_rules() -> None:
    """Pasted CSV is planned like a file; empty or oversized pastes are refused."""
    limits, prices = IntakeLimits(), PriceTable()
    plan = plan_text("\ufeff" + CSV, SendOptions(), limits, prices)
    assert [m.msisdn for m in plan.messages] == ["447400123456"]
    with pytest.raises(IntakeError, match="empty"):
        plan_text(" \n ", SendOptions(), limits, prices)
    with pytest.raises(IntakeError, match="SMSBATCH_MAX_FILE_BYTES"):
        plan_text(CSV, SendOptions(), IntakeLimits(max_file_bytes=10), prices)
    with pytest.raises(IntakeError, match="NUL"):
        plan_text("msisdn,message\n1,\x00", SendOptions(), limits, prices)
