"""Workbooks written by real writers (openpyxl, xlsxwriter, odfpy, xlwt) plan exactly as a person
reading the sheet would expect: the cells as shown, the lines as numbered, the guards holding."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from bot.errors import IntakeError
from bot.intake import spreadsheet
from bot.intake.numbers import SCIENTIFIC_REASON
from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.intake.spreadsheet import EMPTY_CELL, HIDDEN_ROWS_NOTE, cell_text
from bot.model import BatchPlan, Dca, SendOptions

DATA = Path(__file__).parent / "data"


def _plan(data: bytes, template: str | None = None, **limits: int) -> BatchPlan:
    options = SendOptions(template=template)
    return plan_batch(data, options, IntakeLimits(**limits), PriceTable())


def _sent(plan: BatchPlan) -> list[tuple[int, str, str]]:
    return [(m.line, m.msisdn, m.text) for m in plan.messages]


def _rejected(plan: BatchPlan) -> list[tuple[int, str, str, str]]:
    return [(r.line, r.column, r.reason, r.value) for r in plan.rejected]


def _openpyxl_book() -> bytes:
    """A hidden sheet first, then a sheet that starts at C3 with typed cells and a merge."""
    book = openpyxl.Workbook()
    old = book.active
    assert old is not None
    old.title, old.sheet_state = "Old", "hidden"
    old["A1"], old["A2"] = "msisdn", 447000000001
    sheet = book.create_sheet("Contacts")
    sheet["C3"], sheet["D3"], sheet["E3"] = "Mobile", "Message", "Notes"
    rows = [
        (447911123456, "Number stored as a number", "x"),
        ("07911123457", "Text with a leading zero", None),
        (447911123458, "=A1", None),  # a formula openpyxl writes without a cached value
        (None, "No number", None),
        (True, "A TRUE cell", None),
        (447911123461, "Merged over two rows", None),
        (447911123462, None, None),  # merged: shows the text above
    ]
    for offset, (number, text, note) in enumerate(rows, start=4):
        sheet.cell(offset, 3, number)
        sheet.cell(offset, 4, text)
        sheet.cell(offset, 5, note)
    sheet.merge_cells("D9:D10")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_openpyxl_workbook_plans_as_the_sheet_shows() -> None:
    """Numbers lose no digit, text keeps its zero, formula/empty/TRUE cells are named, merges
    fill down, lines are the sheet's rows, and the hidden sheet before it is skipped."""
    plan = _plan(_openpyxl_book())
    assert plan.text_encoding == "xlsx"
    assert plan.rows == 7
    assert _sent(plan) == [
        (4, "447911123456", "Number stored as a number"),
        (5, "447911123457", "Text with a leading zero"),
        (9, "447911123461", "Merged over two rows"),
        (10, "447911123462", "Merged over two rows"),
    ]
    assert _rejected(plan) == [
        (6, "Message", f"message is empty {EMPTY_CELL}", ""),
        (7, "Mobile", f"the number is empty {EMPTY_CELL}", ""),
        (8, "Mobile", "the cell is TRUE (a yes/no cell), not a phone number", "TRUE"),
    ]
    assert plan.columns == (("msisdn", "Mobile"), ("message", "Message"))
    assert plan.ignored_columns == ("Notes",)
    assert "read the sheet “Contacts”, the first visible one" in plan.notes
    assert "skipped the sheet(s) “Old” (hidden) before it" in plan.notes
    assert HIDDEN_ROWS_NOTE in plan.notes


def _xlsxwriter_book() -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("Send")
    scientific = book.add_format({"num_format": "0.00E+00"})
    dates = book.add_format({"num_format": "dd/mm/yyyy"})
    stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    sheet.write_row(0, 0, ["phone", "name", "due", "amount"])
    sheet.write_number(1, 0, 447911123456, scientific)  # shown as 4.48E+11 in Excel
    sheet.write_row(1, 1, ["Ann"])
    sheet.write_datetime(1, 2, dt.datetime(2026, 3, 1), dates)
    sheet.write_number(1, 3, 0.1 + 0.2)
    sheet.write_formula(2, 0, "=A2+1", None, 447911123457)  # a formula with its cached value
    sheet.write_row(2, 1, ["Bob"])
    sheet.write_datetime(2, 2, dt.datetime(2026, 3, 2, 14, 30), stamp)
    sheet.write_number(2, 3, 12)
    sheet.write_number(3, 0, 1234567890123456789)  # 19 digits: lost in the file itself
    sheet.write_row(3, 1, ["Cy", "", 1])
    book.close()
    return out.getvalue()


def test_xlsxwriter_workbook_with_a_template() -> None:
    """A number formatted as scientific keeps its digits, a formula gives its cached value,
    dates are ISO, 0.1+0.2 reads 0.3, and a 19-digit number is refused as scientific."""
    plan = _plan(_xlsxwriter_book(), template="Hi ((name)), pay ((amount)) by ((due))")
    assert _sent(plan) == [
        (2, "447911123456", "Hi Ann, pay 0.3 by 2026-03-01"),
        (3, "447911123457", "Hi Bob, pay 12 by 2026-03-02 14:30"),
    ]
    assert _rejected(plan) == [(4, "phone", SCIENTIFIC_REASON, "1.23456789012346E+18")]
    assert plan.columns == (
        ("msisdn", "phone"),
        ("((name))", "name"),
        ("((amount))", "amount"),
        ("((due))", "due"),
    )
    assert plan.ignored_columns == ()


def test_an_error_cell_reads_empty_and_the_reason_says_it_may_be_one() -> None:
    """A cached #DIV/0! comes back empty from calamine; a cached formula text is used."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["msisdn", "message"])
    sheet.write_number(1, 0, 447911123456)
    sheet.write_formula(1, 1, "=1/0", None, "#DIV/0!")
    sheet.write_number(2, 0, 447911123457)
    sheet.write_formula(2, 1, '="Hi "&"there"', None, "Hi there")
    book.close()
    plan = _plan(out.getvalue())
    assert _sent(plan) == [(3, "447911123457", "Hi there")]
    assert _rejected(plan) == [(2, "message", f"message is empty {EMPTY_CELL}", "")]


def _ods_book() -> bytes:
    doc = OpenDocumentSpreadsheet()
    table = Table(name="Contacts")

    def cell(value: object) -> TableCell:
        if isinstance(value, float):
            return TableCell(valuetype="float", value=value)
        if isinstance(value, dt.date):
            made = TableCell(valuetype="date", datevalue=value.isoformat())
            made.addElement(P(text=value.isoformat()))
            return made
        made = TableCell(valuetype="string")
        if value:
            made.addElement(P(text=str(value)))
        return made

    rows: list[tuple[object, ...]] = [
        ("Number", "Name", "Day"),
        (447911123456.0, "Ann", dt.date(2026, 3, 1)),
        ("07911123457", "Zoë", dt.date(2026, 3, 2)),
        (447911123458.0, "", dt.date(2026, 3, 3)),
    ]
    for values in rows:
        row = TableRow()
        for value in values:
            row.addElement(cell(value))
        table.addElement(row)
    doc.spreadsheet.addElement(table)
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


def test_odfpy_workbook_with_a_template() -> None:
    """An .ods sheet: float numbers as digits, dates as ISO, an ë makes that message 16-bit,
    an empty name rejects its row with the missing field named."""
    plan = _plan(_ods_book(), template="Hello ((name)), see you on ((day))")
    assert plan.text_encoding == "ods"
    assert _sent(plan) == [
        (2, "447911123456", "Hello Ann, see you on 2026-03-01"),
        (3, "447911123457", "Hello Zoë, see you on 2026-03-02"),
    ]
    assert [m.dca for m in plan.messages] == [Dca.SEVEN_BIT, Dca.SIXTEEN_BIT]
    assert _rejected(plan) == [
        (4, "Name", f"missing name: the “Name” cell is empty {EMPTY_CELL}", ""),
    ]


def test_xls_fixture_written_by_xlwt() -> None:
    """contacts.xls (tests/data/make_contacts_xls.py): the hidden sheet is skipped, the sheet
    starts at B2, booleans fill a conditional, TRUE and decimals are refused as numbers."""
    plan = _plan(
        (DATA / "contacts.xls").read_bytes(),
        template="Hi ((first name)), due ((due))((paid?? - thanks!))",
    )
    assert plan.text_encoding == "xls"
    assert _sent(plan) == [
        (3, "447911123456", "Hi Ann, due 2026-03-01 - thanks!"),
        (4, "447911123457", "Hi Bob, due 2026-03-02"),
    ]
    assert _rejected(plan) == [
        (5, "First Name", f"missing first name: the “First Name” cell is empty {EMPTY_CELL}", ""),
        (6, "Phone", "the cell is TRUE (a yes/no cell), not a phone number", "TRUE"),
        (
            7,
            "Phone",
            "the cell is the number 447911123460.5, with decimals: not a phone number — check "
            "the column",
            "447911123460.5",
        ),
    ]
    assert "skipped the sheet(s) “Old list” (hidden) before it" in plan.notes


def test_a_sheet_of_numbers_alone_takes_a_template() -> None:
    """A one-column sheet of numbers (no header) with a template: every number gets it."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_column(0, 0, [447911123456, 447911123457])
    book.close()
    plan = _plan(out.getvalue(), template="Doors open at 7pm")
    assert _sent(plan) == [
        (1, "447911123456", "Doors open at 7pm"),
        (2, "447911123457", "Doors open at 7pm"),
    ]


def _big_book(rows: int) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "constant_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["msisdn", "name"])
    for i in range(1, rows + 1):
        sheet.write_number(i, 0, 447400000000 + i)
        sheet.write_string(i, 1, f"N{i}")
    book.close()
    return out.getvalue()


def test_a_100000_row_sheet_plans_every_row() -> None:
    """100,000 rows (the default limit) all become messages; one row more is refused."""
    plan = _plan(_big_book(100_000), template="Hi ((name))", chunk_size=30_000)
    assert (plan.rows, len(plan.messages), len(plan.rejected)) == (100_000, 100_000, 0)
    assert _sent(plan)[-1] == (100_001, "447400100000", "Hi N100000")
    with pytest.raises(IntakeError, match=r"more than 100 rows, the limit \(SMSBATCH_MAX_ROWS\)"):
        _plan(_big_book(101), template="Hi ((name))", max_rows=100)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (447911123456.0, "447911123456"),
        (447911123456, "447911123456"),
        (42.0, "42"),
        (-3.0, "-3"),
        (0.30000000000000004, "0.3"),
        (1e15, "1E+15"),
        (True, "TRUE"),
        (False, "FALSE"),
        (dt.date(2026, 3, 1), "2026-03-01"),
        (dt.datetime(2026, 3, 1, 14, 30), "2026-03-01 14:30"),
        (dt.datetime(2026, 3, 1, 14, 30, 5), "2026-03-01 14:30:05"),
        (dt.time(9, 5), "09:05"),
        (dt.timedelta(hours=1, minutes=30), "1:30:00"),
        ("", ""),
        (" 07911 ", " 07911 "),
    ],
)
def test_cell_text_is_what_a_person_sees(value: object, text: str) -> None:
    """Every calamine value type has one text form (spreadsheet module doc)."""
    assert cell_text(value) == text


def test_a_sheet_declaring_an_absurd_range_is_refused_before_it_is_loaded() -> None:
    """A1 and XFD1048576 filled (python-calamine#130) is refused, naming the range and limits."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"], sheet["B1"], sheet["XFD1048576"] = "msisdn", "message", "x"
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(IntakeError) as caught:
        _plan(out.getvalue())
    assert "declares a used range of A1:XFD1048576 (1,048,576 rows × 16,384 columns)" in str(
        caught.value
    )
    assert "at most 1,000 columns and 5,000,000 cells" in str(caught.value)


def _ods_with_repeats(rows: int, cols: int, *, value: bool) -> bytes:
    """A header, then one row repeated `rows` times holding a cell repeated `cols` times."""
    doc = OpenDocumentSpreadsheet()
    table = Table(name="Sheet1")
    header = TableRow()
    for text in ("msisdn", "message"):
        cell = TableCell(valuetype="string")
        cell.addElement(P(text=text))
        header.addElement(cell)
    table.addElement(header)
    data = TableRow()
    data.addElement(TableCell(valuetype="string"))
    data.firstChild.addElement(P(text="447911123456"))
    message = TableCell(valuetype="string")
    message.addElement(P(text="Hello"))
    data.addElement(message)
    table.addElement(data)
    repeated = TableRow(numberrowsrepeated=rows)
    if value:
        cell = TableCell(valuetype="string", numbercolumnsrepeated=cols)
        cell.addElement(P(text="x"))
    else:  # what LibreOffice writes below the data: empty cells, repeated
        cell = TableCell(numbercolumnsrepeated=cols)
    repeated.addElement(cell)
    table.addElement(repeated)
    doc.spreadsheet.addElement(table)
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


def test_an_ods_repeating_a_value_over_millions_of_cells_is_refused_before_loading() -> None:
    """1.5 KB that would make calamine build 99 million cells is refused, naming the range."""
    data = _ods_with_repeats(99_000, 1000, value=True)
    assert len(data) < 5000
    with pytest.raises(IntakeError) as caught:
        _plan(data)
    assert str(caught.value).startswith(
        "the sheet “Sheet1” spreads its data over 99,002 rows × 1,000 columns; at most 1,000 "
        "columns and 5,000,000 cells are read"
    )


def test_an_ods_with_libreoffices_empty_trailing_repeats_is_read() -> None:
    """A million empty repeated rows below the data (as LibreOffice saves) are not data."""
    plan = _plan(_ods_with_repeats(1_048_000, 1024, value=False))
    assert _sent(plan) == [(2, "447911123456", "Hello")]


def test_a_workbook_that_unpacks_too_big_is_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A zip whose members unpack past the limit (a zip bomb) is refused, naming the sizes."""
    monkeypatch.setattr(spreadsheet, "MAX_UNPACKED_BYTES", 1_000_000)
    out = io.BytesIO(_openpyxl_book())
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * 2_000_000)
    with pytest.raises(
        IntakeError, match=r"unpacks to 2,0\d\d,\d\d\d bytes, more than the 1,000,000"
    ):
        _plan(out.getvalue())


def test_a_password_protected_workbook_is_named_as_such() -> None:
    """Excel's encrypted xlsx is an OLE file holding an EncryptedPackage stream."""
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptedPackage".encode("utf-16-le")
    with pytest.raises(
        IntakeError, match="the workbook is password-protected; remove the password"
    ):
        _plan(data)


def test_an_xlsb_workbook_is_refused_naming_what_to_save_instead() -> None:
    """A binary workbook (xl/workbook.bin) is named, not called a damaged xlsx."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.bin", b"\x83\x01\x00")
    with pytest.raises(
        IntakeError, match=r"an Excel binary workbook \(\.xlsb\), which is not read"
    ):
        _plan(out.getvalue())


def test_a_truncated_workbook_is_refused_with_a_reason() -> None:
    """A workbook cut short (a failed download) is a clear refusal, never a traceback."""
    with pytest.raises(IntakeError, match="damaged"):
        _plan(_openpyxl_book()[:3000])


def test_a_workbook_without_the_number_column_names_what_it_has() -> None:
    """The column check is the CSV one: it names the headers found."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    book.add_worksheet().write_row(0, 0, ["Name", "Message"])
    book.close()
    with pytest.raises(
        IntakeError, match=re.escape("no msisdn column. Headers found: 'Name', 'Message'")
    ):
        _plan(out.getvalue())
