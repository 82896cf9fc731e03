"""Intake against a big suppression list (issue 11): `check` with 1,000,000 listed numbers.

    python -m bench.bench_suppression [ROWS] [LISTED]

Writes the generated upload (`bench.intake_file`) of ROWS (30,000) rows and two databases: one
with an empty suppression list, one with LISTED (1,000,000) numbers, a tenth of the upload's
own valid numbers among them. Then runs `smsbatch-bot check FILE` with SMSBATCH_DB pointing at
each, alternately, best of 3 wall times and the worst peak RSS of each (the child's own
`wait4` rusage, as `bench.bench_intake` takes it). Prints one line per figure.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_intake import check_argv, run_child
from bench.intake_file import write_file
from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.model import SendOptions
from bot.store.db import Store


def _listed_database(path: Path, upload: Path, listed: int) -> int:
    """A database whose list holds a tenth of the upload's numbers plus random ones up to
    `listed`; returns how many of the upload's numbers are listed."""
    Store.open(path).close()  # the schema, by the migrations
    plan = plan_batch(upload.read_bytes(), SendOptions(), IntakeLimits(), PriceTable())
    own = sorted({m.msisdn for m in plan.messages})[::10]
    rng = random.Random(11)
    numbers = set(own)
    while len(numbers) < listed:
        numbers.add(f"4479{rng.randrange(10**8):08d}")
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO suppression (msisdn, source, added_by, added_at) "
            "VALUES (?, 'import', 'bench', 0)",
            ((n,) for n in sorted(numbers)),
        )
    conn.close()
    return len(own)


def measure(rows: int = 30_000, listed: int = 1_000_000, repeat: int = 3) -> dict[str, Any]:
    """check's time and memory with an empty and with a full suppression list."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "LC_ALL": "C.UTF-8"}
        upload = write_file(root / "upload.csv", rows)
        empty, full = root / "empty.db", root / "full.db"
        Store.open(empty).close()
        own = _listed_database(full, upload, listed)
        runs: dict[str, list[Any]] = {"empty": [], "full": []}
        for _ in range(repeat):
            for name, db in (("empty", empty), ("full", full)):
                argv = [*check_argv(upload), "--format", "json"]
                run = run_child(argv, env | {"SMSBATCH_DB": str(db)}, root)
                if run.returncode != 0:
                    raise RuntimeError(f"check failed: {run.stderr.strip()[:300]}")
                runs[name].append((run, json.loads(run.stdout)["suppressed"]))
    best = {name: min(r.wall_s for r, _ in found) for name, found in runs.items()}
    rss = {name: max(r.peak_rss_mb for r, _ in found) for name, found in runs.items()}
    return {
        "rows": rows,
        "listed": listed,
        "own_listed": own,
        "suppressed_rows": runs["full"][0][1],
        "empty_s": best["empty"],
        "full_s": best["full"],
        "time_ratio": best["full"] / best["empty"],
        "empty_rss_mb": rss["empty"],
        "full_rss_mb": rss["full"],
        "rss_ratio": rss["full"] / rss["empty"],
    }


def main(argv: list[str]) -> int:
    """Print one line per figure."""
    rows = int(argv[0]) if argv else 30_000
    listed = int(argv[1]) if len(argv) > 1 else 1_000_000
    for name, value in measure(rows, listed).items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"suppression {name}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
