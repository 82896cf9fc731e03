"""Spreadsheets (issue 12): `smsbatch-bot check` on an .xlsx against its two floors.

    python -m bench.bench_spreadsheet [ROWS]

Writes the generated upload (`bench.intake_file`, ROWS = 100,000 rows) twice: as the CSV file
itself, and as an .xlsx written by xlsxwriter in which every digits-only cell is a number (as
Excel stores a typed-in phone number) and every other cell text. Then, each as its own child
process (through `bench.child_usage`, so each peak RSS is that process's own), alternately,
best of 3 wall times:
- `smsbatch-bot check FILE.xlsx` (the whole intake of the workbook);
- `python bench/calamine_baseline.py FILE.xlsx`: python-calamine alone reading the same sheet;
- `smsbatch-bot check FILE.csv`: the CSV intake of the same rows.
The target: the xlsx check takes at most 1.3x the sum of the other two.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import xlsxwriter

from bench.bench_intake import ChildRun, check_argv, run_child
from bench.intake_file import build_file

CALAMINE = Path(__file__).with_name("calamine_baseline.py")


def write_xlsx(path: Path, data: bytes) -> Path:
    """The CSV upload's rows as a workbook: digits-only cells as numbers, the rest as text."""
    rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("Contacts")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value.isdigit() and len(value) <= 15:
                sheet.write_number(r, c, int(value))
            elif value:
                sheet.write_string(r, c, value)
    book.close()
    return path


def _checked(run: ChildRun, rows: int, what: str) -> ChildRun:
    if run.returncode not in (0, 1) or f"Rows read:   {rows}\n" not in run.stdout:
        raise RuntimeError(f"{what} did not read {rows:,} rows: {run.stderr.strip()[:300]}")
    return run


def measure(rows: int = 100_000, repeat: int = 3) -> dict[str, Any]:
    """Wall time and peak RSS of the xlsx check, calamine alone and the CSV check."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = build_file(rows)
        csv_path = root / "upload.csv"
        csv_path.write_bytes(data)
        xlsx = write_xlsx(root / "upload.xlsx", data)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "LC_ALL": "C.UTF-8",
            "SMSBATCH_MAX_ROWS": str(max(rows, 100_000)),
            "SMSBATCH_MAX_FILE_BYTES": str(max(len(data), xlsx.stat().st_size) + 1),
        }
        runs: dict[str, list[ChildRun]] = {"xlsx": [], "calamine": [], "csv": []}
        for _ in range(repeat):
            runs["xlsx"].append(_checked(run_child(check_argv(xlsx), env, root), rows, "check"))
            reader = run_child([sys.executable, str(CALAMINE), str(xlsx)], env, root)
            if reader.returncode != 0 or reader.stdout.split()[:1] != [str(rows + 1)]:
                raise RuntimeError(f"the calamine baseline failed: {reader.stderr[-300:]}")
            runs["calamine"].append(reader)
            runs["csv"].append(_checked(run_child(check_argv(csv_path), env, root), rows, "csv"))
        figures: dict[str, Any] = {
            "rows": rows,
            "xlsx_mb": xlsx.stat().st_size / 1e6,
            "csv_mb": len(data) / 1e6,
        }
        for name, done in runs.items():
            figures[f"{name}_s"] = min(r.wall_s for r in done)
            figures[f"{name}_rss_mb"] = max(r.peak_rss_mb for r in done)
        figures["floor_s"] = figures["calamine_s"] + figures["csv_s"]
        figures["ratio"] = figures["xlsx_s"] / figures["floor_s"]
    return figures


def main(argv: list[str]) -> int:
    """Print one line per figure."""
    for name, value in measure(int(argv[0]) if argv else 100_000).items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"spreadsheet {name}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
