"""The floor of the spreadsheet benchmark (issue 12): python-calamine alone reading a sheet.

    python bench/calamine_baseline.py FILE.xlsx

Opens the workbook, reads the first sheet's rows as Python values and prints the row count;
nothing else. Imports nothing from smsbatch, so its time is a floor no product change can move.
"""

from __future__ import annotations

import sys

import python_calamine


def main(path: str) -> int:
    """Read every row of the first sheet; print how many there were."""
    with python_calamine.CalamineWorkbook.from_path(path) as book:
        rows = sum(1 for _ in book.get_sheet_by_index(0).iter_rows())
    print(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
