"""Writes contacts.xls beside this file: the Excel 97-2003 fixture of test_intake_spreadsheet.py.

Run once, by hand, and commit the .xls (xlwt is not a project dependency: it only writes the
old format, which no maintained writer does):

    .venv/bin/pip install xlwt==1.3.0 && .venv/bin/python tests/data/make_contacts_xls.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlwt  # type: ignore[import-not-found]


def main() -> None:
    """Write a hidden sheet first, then the contacts: numbers, text numbers, a date, blanks."""
    book = xlwt.Workbook()
    hidden = book.add_sheet("Old list")
    hidden.write(0, 0, "msisdn")
    hidden.write(1, 0, 447000000000)
    hidden.visibility = 1  # hidden: the reader must skip it
    sheet = book.add_sheet("Contacts")
    dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    header = ("Phone", "First Name", "Due", "Paid")
    rows = (
        (447911123456, "Ann", dt.date(2026, 3, 1), True),  # a number stored as a number
        ("07911123457", "Bob", dt.date(2026, 3, 2), False),  # text with a leading zero
        (447911123458, "", dt.date(2026, 3, 3), True),  # an empty first name
        (True, "Dan", dt.date(2026, 3, 4), True),  # a TRUE cell where the number goes
        (447911123460.5, "Eve", dt.date(2026, 3, 5), True),  # a number with decimals
    )
    for col, title in enumerate(header):
        sheet.write(1, col + 1, title)  # row 2, from column B: a leading empty row and column
    for row, values in enumerate(rows, start=2):
        for col, value in enumerate(values):
            if isinstance(value, dt.date):
                sheet.write(row, col + 1, value, dates)
            elif value != "":
                sheet.write(row, col + 1, value)
    book.save(str(Path(__file__).with_name("contacts.xls")))


if __name__ == "__main__":
    main()
