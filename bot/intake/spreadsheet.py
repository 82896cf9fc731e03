"""Workbooks (xlsx, xlsm, xls, ods) to a `Table`, with python-calamine, guarded.

Which sheet: the first visible one (a hidden sheet is skipped and the notes say so). Which cells:
calamine skips leading empty rows and columns; line numbers are the rows the spreadsheet shows.
Merged cells are filled from their top-left cell, as a person sees them.

A cell becomes the text a person sees (`cell_text`):
- a whole number stored as a number is its digits: 447911123456.0 -> `447911123456` (never
  `4479111234560`, never scientific); numbers of 1e15 and more have lost digits in the file
  itself and are written as Excel shows them (`1.23456789012346E+18`), which the number check
  refuses with that reason; other numbers get at most 15 significant digits (`0.3`, not
  `0.30000000000000004`);
- TRUE/FALSE as Excel writes them, dates as ISO text (`2026-03-01`, `2026-03-01 14:30`), times
  as `14:30`, durations as `1:30:00`;
- empty, error and uncalculated formula cells all come back empty (calamine cannot tell them
  apart), so the reasons that name an empty cell add "(or a formula or error cell)".
A TRUE/FALSE cell or a number with decimals in the number column is refused with that reason.

Guards (calamine has no lazy loading, and a crafted file could exhaust memory, §D.3): the upload
size is checked by the caller first; a zip-based workbook that unpacks to more than
`MAX_UNPACKED_BYTES` is refused unread; an xlsx sheet whose declared range (`<dimension>`), or
an ods sheet whose repeated rows and cells (`number-rows-repeated`…), span more than
`MAX_COLUMNS` columns or `MAX_CELLS` cells is refused before calamine loads it; the whole
reading runs in the intake's worker process (`bot.intake.planner`, memory-capped), so a crash
or an allocation failure there costs only that upload. An .xls has no such pre-check: it is not
compressed, so the upload size limit bounds it. A password-protected workbook is named as such.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import python_calamine as calamine

from bot.errors import IntakeError
from bot.intake.csvread import (
    Columns,
    Record,
    Table,
    check_row_count,
    headerless_columns,
    headerless_note,
    is_headerless,
    map_columns,
)

MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 1000
MAX_CELLS = 5_000_000
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")  # the stream of a protected xlsx
_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?\"")
_SAVE_AS = "save the sheet as CSV UTF-8 and upload that"
# What a damaged zip can raise while its directory or a member is read.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError, KeyError)
HIDDEN_ROWS_NOTE = (
    "hidden rows cannot be seen by the spreadsheet reader: any row hidden in the sheet is "
    "read and sent like the others"
)
EMPTY_CELL = "(or a formula or error cell)"


def workbook_kind(data: bytes) -> str | None:
    """The kind of workbook the bytes are, by content: "xlsx" (and xlsm), "xlsb", "ods" or
    "xls"; None for anything else."""
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                if "xl/workbook.xml" in names:
                    return "xlsx"
                if "xl/workbook.bin" in names:
                    return "xlsb"
                if "mimetype" in names and archive.read("mimetype").strip() == _ODS_MIME:
                    return "ods"
        except _ZIP_ERRORS:
            return None
        return None
    return "xls" if data.startswith(_OLE) else None


def read_workbook(
    data: bytes, kind: str, max_rows: int, *, allow_empty: bool = False, need_message: bool = True
) -> Table:
    """The first visible sheet of a workbook as a `Table`; IntakeError when it cannot be used."""
    if kind == "xlsb":  # calamine reads it, but no guard here can see inside its records
        raise IntakeError(
            "this is an Excel binary workbook (.xlsb), which is not read; save it as .xlsx, "
            "or " + _SAVE_AS
        )
    if kind == "xls" and _ENCRYPTED in data:
        raise IntakeError(f"the workbook is password-protected; remove the password or {_SAVE_AS}")
    try:
        if kind != "xls":
            _check_unpacked(data)
        if kind == "ods":
            _check_ods_extent(data)
        with calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
            index, notes = _first_visible(book)
            if kind == "xlsx":
                _check_dimension(data, index, book.sheet_names[index])
            sheet = book.get_sheet_by_index(index)
            merged = list(sheet.merged_cell_ranges or []) if kind != "ods" else []
            rows = _Rows(sheet.iter_rows(), sheet.start[1] if sheet.start else 0, merged)
            return _table(rows, notes, max_rows, allow_empty, need_message)
    except calamine.PasswordError as exc:
        raise IntakeError(
            f"the workbook is password-protected; remove the password or {_SAVE_AS}"
        ) from exc
    except (calamine.CalamineError, calamine.ZipError, calamine.XmlError, *_ZIP_ERRORS) as exc:
        raise _unreadable(kind, exc) from exc
    except BaseException as exc:
        # A panic inside calamine's Rust code arrives as pyo3's PanicException, which derives
        # from BaseException; it means this file, not the app, is broken.
        if type(exc).__name__ != "PanicException":
            raise
        raise _unreadable(kind, exc) from exc


def _unreadable(kind: str, exc: BaseException) -> IntakeError:
    return IntakeError(
        f"the {kind} file cannot be read ({_first_line(exc)}); it may be damaged — {_SAVE_AS}"
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _check_unpacked(data: bytes) -> None:
    """Refuse a zip whose members unpack to more than MAX_UNPACKED_BYTES (a zip bomb)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        size = sum(info.file_size for info in archive.infolist())
    if size > MAX_UNPACKED_BYTES:
        raise IntakeError(
            f"the workbook unpacks to {size:,} bytes, more than the {MAX_UNPACKED_BYTES:,} "
            f"that are read; it is damaged or built to exhaust memory — {_SAVE_AS}"
        )


def _first_visible(book: calamine.CalamineWorkbook) -> tuple[int, list[str]]:
    """The index of the first visible worksheet, and notes on the sheets skipped before it."""
    skipped: list[str] = []
    for index, meta in enumerate(book.sheets_metadata):
        visible = meta.visible == calamine.SheetVisibleEnum.Visible
        if visible and meta.typ == calamine.SheetTypeEnum.WorkSheet:
            notes = [f"read the sheet “{meta.name}”, the first visible one"]
            if skipped:
                notes.append(f"skipped the sheet(s) {', '.join(skipped)} before it")
            if len(book.sheet_names) > len(skipped) + 1:
                notes.append("only the first visible sheet is read; later sheets are not")
            return index, [*notes, HIDDEN_ROWS_NOTE]
        why = "hidden" if not visible else "not a worksheet"
        skipped.append(f"“{meta.name}” ({why})")
    raise IntakeError("the workbook has no visible worksheet to read; show one, or " + _SAVE_AS)


def _check_dimension(data: bytes, index: int, name: str) -> None:
    """Refuse an xlsx sheet whose declared used range is absurd, before calamine loads it."""
    part = _sheet_part(data, index)
    if part is None:
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(part) as stream:
        head = stream.read(8192)
    match = _DIMENSION.search(head)
    if match is None or match.group(3) is None:
        return
    first_col, first_row, last_col, last_row = (g.decode("ascii") for g in match.groups())
    rows = int(last_row) - int(first_row) + 1
    cols = _column_number(last_col) - _column_number(first_col) + 1
    if cols > MAX_COLUMNS or rows * cols > MAX_CELLS:
        used = f"{first_col}{first_row}:{last_col}{last_row}"
        raise IntakeError(
            f"the sheet “{name}” declares a used range of {used} ({rows:,} rows × {cols:,} "
            f"columns); at most {MAX_COLUMNS:,} columns and {MAX_CELLS:,} cells are read — "
            "delete the empty rows and columns below and right of the data, or " + _SAVE_AS
        )


_ODS_TAG = re.compile(rb"<table:(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^>]*)>")
_ODS_ROWS = re.compile(rb'table:number-rows-repeated="(\d+)"')
_ODS_COLS = re.compile(rb'table:number-columns-repeated="(\d+)"')
_ODS_NAME = re.compile(rb'table:name="([^"]*)"')


def _check_ods_extent(data: bytes) -> None:
    """Refuse an ods whose repeated rows and cells spread data over an absurd range.

    An ods states repeats instead of writing cells (`number-rows-repeated="99000"` around a
    cell with `number-columns-repeated="1000"`): 1.5 KB can ask calamine, which parses every
    sheet when it opens the file, for 99 million cells. The range counted is calamine's: up to
    the last row and column holding a value (empty repeats, such as LibreOffice's trailing
    rows, do not count).
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        content = archive.read("content.xml")
    name, rows, cols = b"", 0, 0
    row_start = row_span = next_row = col = 0
    for match in _ODS_TAG.finditer(content):
        tag, attributes = match.group(1), match.group(2)
        if tag == b"table":
            _refuse_extent(name.decode("utf-8", "replace"), rows, cols)
            found = _ODS_NAME.search(attributes)
            name, rows, cols = (found.group(1) if found else b""), 0, 0
            row_start = row_span = next_row = 0
        elif tag == b"table-row":
            repeat = _ODS_ROWS.search(attributes)
            row_start, row_span = next_row, int(repeat.group(1)) if repeat else 1
            next_row, col = next_row + row_span, 0
        else:
            repeat = _ODS_COLS.search(attributes)
            span = int(repeat.group(1)) if repeat else 1
            if tag == b"table-cell" and b"office:value-type=" in attributes:
                rows, cols = max(rows, row_start + row_span), max(cols, col + span)
            col += span
    _refuse_extent(name.decode("utf-8", "replace"), rows, cols)


def _refuse_extent(name: str, rows: int, cols: int) -> None:
    if cols > MAX_COLUMNS or rows * cols > MAX_CELLS:
        raise IntakeError(
            f"the sheet “{name}” spreads its data over {rows:,} rows × {cols:,} columns; at "
            f"most {MAX_COLUMNS:,} columns and {MAX_CELLS:,} cells are read — delete the "
            "repeated rows and columns, or " + _SAVE_AS
        )


def _sheet_part(data: bytes, index: int) -> str | None:
    """The zip member of the workbook's `index`-th sheet (workbook.xml order, via its rels)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        workbook = archive.read("xl/workbook.xml").decode("utf-8", "replace")
        try:
            rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
        except KeyError:
            return None
        names = set(archive.namelist())
    sheets = re.findall(r"<(?:\w+:)?sheet\b[^>]*>", workbook)
    if index >= len(sheets):
        return None
    rid = re.search(r"\br:id=\"([^\"]+)\"", sheets[index])
    if rid is None:
        return None
    for rel in re.findall(r"<Relationship\b[^>]*>", rels):
        if f'Id="{rid.group(1)}"' in rel:
            target = re.search(r"Target=\"([^\"]+)\"", rel)
            if target is None:
                return None
            path = target.group(1).lstrip("/")
            path = path if path.startswith("xl/") else "xl/" + path
            return path if path in names else None
    return None


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def cell_text(value: object) -> str:
    """A cell's value as the text a person sees (module doc)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: a bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        spec = "minutes" if value.second == 0 and value.microsecond == 0 else "seconds"
        return value.isoformat(sep=" ", timespec=spec)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def _float_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g").replace("e+", "E+").replace("e-", "E-")


def not_a_number(value: object) -> str | None:
    """Why a typed cell in the number column cannot be a phone number, or None."""
    if isinstance(value, bool):
        return f"the cell is {cell_text(value)} (a yes/no cell), not a phone number"
    if isinstance(value, float) and not value.is_integer():
        return (
            f"the cell is the number {cell_text(value)}, with decimals: not a phone number — "
            "check the column"
        )
    return None


class _Rows:
    """A sheet's rows from the top (0-based sheet row, values), merged ranges filled in.

    calamine's `iter_rows` starts at the sheet's first row but at its first used column, so
    merged ranges (absolute positions) are shifted by `first_col`.
    """

    def __init__(
        self,
        rows: Iterator[list[Any]],
        first_col: int,
        merged: list[tuple[tuple[int, int], tuple[int, int]]],
    ) -> None:
        self._rows = rows
        self._first_col = first_col
        self._merged = sorted(merged)

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        """Each row with its 0-based number; a merged range's cells hold its top-left value."""
        active: list[tuple[int, int, int, Any]] = []  # (last row, first col, last col, value)
        pending = list(self._merged)
        for number, row in enumerate(self._rows):
            while pending and pending[0][0][0] <= number:
                (_, left), (bottom, right) = pending.pop(0)
                c0, c1 = left - self._first_col, right - self._first_col
                value = row[c0] if 0 <= c0 < len(row) else ""
                active.append((bottom, c0, c1, value))
            active = [span for span in active if span[0] >= number]
            for _, c0, c1, value in active:
                for c in range(max(c0, 0), min(c1 + 1, len(row))):
                    row[c] = value
            yield number, row


def _table(
    rows: _Rows, notes: list[str], max_rows: int, allow_empty: bool, need_message: bool
) -> Table:
    """Header, columns and records from the sheet's rows; blank rows are skipped.

    Stops reading one record past `max_rows`, which is then refused.
    """
    header: list[str] | None = None
    columns: Columns | None = None
    headerless = False
    records: list[Record] = []
    not_numbers: dict[tuple[int, int], str] = {}
    for number, row in rows:
        # Most cells are text already: skip cell_text's type tests for them (100,000 rows).
        cells = tuple([v if type(v) is str else cell_text(v) for v in row])
        if not any(cells) or not any(c.strip() for c in cells):
            continue
        if columns is None:
            header = [c.strip() for c in cells]
            headerless = is_headerless(header, need_message)
            columns = (
                headerless_columns(len(header))
                if headerless
                else map_columns(header, need_message=need_message)
            )
            if not headerless:
                continue
        line = number + 1
        records.append(Record(line, cells))
        problem = _not_a_number_at(row, columns.index["msisdn"])
        if problem is not None:
            not_numbers[(line, columns.index["msisdn"])] = problem
        if len(records) > max_rows:
            break
    if columns is None:
        raise IntakeError("the sheet is empty: it has no rows to read")
    if headerless:
        notes.append(headerless_note(len(header or ())))
    check_row_count(len(records), max_rows, allow_empty, notes)
    return Table("", columns, tuple(records), headerless, tuple(notes), True, not_numbers)


def _not_a_number_at(row: list[Any], index: int) -> str | None:
    value = row[index] if index < len(row) else ""
    return not_a_number(value) if type(value) in (bool, float) else None
