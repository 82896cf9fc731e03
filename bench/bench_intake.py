"""Intake (issues 3, 14): the whole `smsbatch-bot check` process against a bare baseline process.

    python -m bench.bench_intake [ROWS] [BIG_ROWS] [LIMIT_ROWS]

Writes the generated upload (`bench.intake_file`: ten countries in mixed formats, 10 % invalid
rows, 5 % 16-bit messages, some duplicates) of ROWS (30,000), LIMIT_ROWS (100,000, the default
SMSBATCH_MAX_ROWS) and BIG_ROWS (300,000) rows, then in the same run, each as its own child
process:
- `smsbatch-bot check FILE` (`--format table`, then `--format json` piped) and
  `python bench/intake_baseline.py FILE` alternately, best of 3 wall times; each child's wall
  time and peak RSS come from its own `wait4` rusage, taken by the small launcher
  `bench.child_usage` (per process, not summed, and not inflated by the benchmark's own memory,
  which Linux would carry into a child exec'd straight from it);
- the same for the LIMIT_ROWS file (table only) with SMSBATCH_MAX_FILE_BYTES raised to 32 MiB
  (the README's advice for files at the row limit): it must be accepted;
- `check` once on the big file, with SMSBATCH_MAX_ROWS / SMSBATCH_MAX_FILE_BYTES raised for it
  (the defaults, 100,000 rows and 10 MiB, would refuse it), and the baseline once for comparison;
- `check` once more in a wrapper that reports which slack_bolt / slack_sdk modules it loaded,
  and how long importing its own modules and those of the other commands took;
- `bench.intake_profile` on the small file: the share of `plan_batch` spent in phonenumbers.
Prints one line per figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.intake_file import build_file, write_file

__all__ = ["ChildRun", "build_file", "measure", "run_child"]

BASELINE = Path(__file__).with_name("intake_baseline.py")
USAGE = Path(__file__).with_name("child_usage.py")
SLACK_PACKAGES = ("slack_bolt", "slack_sdk")
# Runs `check` as the console script does, after timing the imports it needs (bot.cli.main and
# bot.cli.check) apart from the ones `build_parser` adds (the other command modules); then
# reports those times and the Slack modules it loaded, as one JSON line on stderr.
_WRAPPER = f"""
import json, sys, time
started = time.perf_counter()
import bot.cli.main, bot.cli.check
own = time.perf_counter() - started
bot.cli.main.build_parser()
others = time.perf_counter() - started - own
sys.argv = ["smsbatch-bot", "check", sys.argv[1]]
code = bot.cli.main.main()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {SLACK_PACKAGES!r})
report = {{"own_import_s": own, "parser_import_s": others, "slack_modules": loaded}}
print("IMPORTS " + json.dumps(report), file=sys.stderr)
raise SystemExit(code)
"""


@dataclass(frozen=True, slots=True)
class ChildRun:
    """One child process: wall time, CPU time, its own peak RSS, exit code and output."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_child(argv: list[str], env: dict[str, str], cwd: Path) -> ChildRun:
    """Run one process to the end, through `child_usage` so that its rusage is its own."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(tmp) / "usage.json"
        launcher = [sys.executable, "-S", str(USAGE), str(report), *argv]
        process = subprocess.run(
            launcher,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            check=False,
        )
        usage = json.loads(report.read_text())
        out.seek(0)
        err.seek(0)
        return ChildRun(
            wall_s=usage["wall_s"],
            cpu_s=usage["cpu_s"],
            peak_rss_mb=usage["peak_rss_kib"] / 1024,
            returncode=process.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def check_argv(path: Path, output: str = "table") -> list[str]:
    """The installed console script, as a person runs it (else `python -m bot`)."""
    script = Path(sys.executable).with_name("smsbatch-bot")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    return [*head, "check", str(path), "--format", output]


def _checked(run: ChildRun, rows: int, output: str = "table") -> ChildRun:
    """The run, after making sure `check` read every row (and did not refuse the file)."""
    # Piped JSON is compact and starts with the row count (bot.cli.check).
    mark = f"Rows read:   {rows}\n" if output == "table" else f'{{"rows":{rows},'
    found = mark in run.stdout if output == "table" else run.stdout.startswith(mark)
    if run.returncode != 0 or not found:
        raise RuntimeError(f"check did not plan {rows:,} rows: {run.stderr.strip()[:300]}")
    return run


def _best_of(
    path: Path,
    rows: int,
    env: dict[str, str],
    cwd: Path,
    repeat: int,
    outputs: tuple[str, ...] = ("table", "json"),
) -> dict[str, Any]:
    """Alternate check and baseline runs (fair under a changing load); keep the best times.

    The table run's figures are `check_*`, the JSON run's `check_json_*`.
    """
    checks: dict[str, list[ChildRun]] = {output: [] for output in outputs}
    baselines = []
    for _ in range(repeat):
        for output, runs in checks.items():
            runs.append(_checked(run_child(check_argv(path, output), env, cwd), rows, output))
        baselines.append(run_child([sys.executable, str(BASELINE), str(path)], env, cwd))
        if baselines[-1].returncode != 0:
            raise RuntimeError(f"the baseline failed: {baselines[-1].stderr.strip()[:300]}")
    figures = {
        "baseline_s": min(r.wall_s for r in baselines),
        "baseline_cpu_s": min(r.cpu_s for r in baselines),
        "baseline_rss_mb": max(r.peak_rss_mb for r in baselines),
    }
    for output, runs in checks.items():
        name = "check" if output == "table" else f"check_{output}"
        figures |= {
            f"{name}_s": min(r.wall_s for r in runs),
            f"{name}_cpu_s": min(r.cpu_s for r in runs),
            f"{name}_rss_mb": max(r.peak_rss_mb for r in runs),
        }
    return figures


def _slack_imports(path: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Which Slack modules `check` loads, and the import time of what it needs and does not."""
    run = run_child([sys.executable, "-c", _WRAPPER, str(path)], env, cwd)
    marker = [line for line in run.stderr.splitlines() if line.startswith("IMPORTS ")]
    if run.returncode != 0 or not marker:
        raise RuntimeError(f"the import check failed: {run.stderr.strip()[-300:]}")
    report: dict[str, Any] = json.loads(marker[0].removeprefix("IMPORTS "))
    return report


def _share(path: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The phonenumbers share of planning the file, from `bench.intake_profile` in a child."""
    argv = [sys.executable, "-m", "bench.intake_profile", str(path)]
    run = run_child(argv, env | {"PYTHONPATH": str(BASELINE.parent.parent)}, cwd)
    if run.returncode != 0:
        raise RuntimeError(f"the profile failed: {run.stderr.strip()[-300:]}")
    figures: dict[str, Any] = json.loads(run.stdout)
    return figures


def _at_limit(rows: int, env: dict[str, str], root: Path, repeat: int) -> dict[str, Any]:
    """`check` of a file of `rows` rows, the size limit raised to 32 MiB (it must be accepted)."""
    path = write_file(root / "limit.csv", rows)
    env = env | {"SMSBATCH_MAX_FILE_BYTES": str(32 * 1024**2)}
    figures = _best_of(path, rows, env, root, repeat, outputs=("table",))
    limit = {f"limit_{name}": value for name, value in figures.items()}
    return limit | {
        "limit_rows": rows,
        "limit_file_mb": path.stat().st_size / 1e6,
        "limit_ratio": figures["check_s"] / figures["baseline_s"],
    }


def measure(
    rows: int = 30_000,
    big_rows: int = 300_000,
    repeat: int = 3,
    profile: bool = True,
    limit_rows: int = 100_000,
) -> dict[str, Any]:
    """Every intake figure of issues 3 and 14 (`big_rows=0` / `limit_rows=0` skip those files)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # No SMSBATCH_ variable: the default settings, but for the size limit of the larger files.
        env = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "LC_ALL": "C.UTF-8"}
        small = write_file(root / "upload.csv", rows)
        figures: dict[str, Any] = {"rows": rows, "file_mb": small.stat().st_size / 1e6}
        figures |= _best_of(small, rows, env, root, repeat)
        figures["ratio"] = figures["check_s"] / figures["baseline_s"]
        figures["json_ratio"] = figures["check_json_s"] / figures["baseline_s"]
        figures |= _slack_imports(small, env, root)
        if profile:
            figures |= _share(small, env, root)
        if limit_rows:
            figures |= _at_limit(limit_rows, env, root, repeat)
        if big_rows:
            big = write_file(root / "big.csv", big_rows)
            limits = {
                "SMSBATCH_MAX_ROWS": str(big_rows),
                "SMSBATCH_MAX_FILE_BYTES": str(big.stat().st_size + 1),
            }
            run = _checked(run_child(check_argv(big), env | limits, root), big_rows)
            base = run_child([sys.executable, str(BASELINE), str(big)], env, root)
            figures |= {
                "big_rows": big_rows,
                "big_check_s": run.wall_s,
                "big_check_rss_mb": run.peak_rss_mb,
                "big_baseline_s": base.wall_s,
                "big_scaling": run.wall_s / figures["check_s"],
            }
    return figures


def main(argv: list[str]) -> int:
    """Print one line per figure."""
    rows = int(argv[0]) if argv else 30_000
    big_rows = int(argv[1]) if len(argv) > 1 else 10 * rows
    limit_rows = int(argv[2]) if len(argv) > 2 else 100_000
    for name, value in measure(rows, big_rows, limit_rows=limit_rows).items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, list):
            value = f"{len(value)}: " + " ".join(value[:8])
        print(f"intake {name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
