"""`make bench`: run every benchmark and print one table (figure, target, measured, machine)."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable

from bench import bench_ack, bench_intake, bench_sender

Row = tuple[str, str, str]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores {cpu}, Python {platform.python_version()}, {sys.platform}"


def _intake() -> list[Row]:
    f = bench_intake.measure(30_000)
    return [
        ("intake: 30,000-row CSV, best of 3", "< 5 s", f"{f['best of 3 s']:.2f} s"),
        ("intake: rows per second", "> 6,000", f"{f['rows/s']:,.0f}"),
        ("intake: peak memory (tracemalloc)", "< 200 MB", f"{f['peak memory MB']:.0f} MB"),
    ]


def _sender() -> list[Row]:
    f = bench_sender.measure(100)
    return [
        ("sender: 100 batches, TCP connections opened", "1", f"{f['connections_opened']:.0f}"),
        ("sender: most requests in flight", "1 (must)", f"{f['max_in_flight']:.0f}"),
        ("sender: submissions processed", "100", f"{f['processed']:.0f}"),
        ("sender: time per submission, median", "< 50 ms", f"{f['median_ms']:.1f} ms"),
        ("sender: time per submission, p95", "< 100 ms", f"{f['p95_ms']:.1f} ms"),
    ]


def _ack() -> list[Row]:
    f = bench_ack.measure()
    return [
        ("ack: /smsbatch over HTTP, idle, median", "< 100 ms", f"{f['idle_median_ms']:.0f} ms"),
        ("ack: /smsbatch over HTTP, idle, p95", "< 200 ms", f"{f['idle_p95_ms']:.0f} ms"),
        ("ack: upload event (30,000 rows)", "< 1,000 ms", f"{f['upload_event_ack_ms']:.0f} ms"),
        ("ack: during that intake, median", "< 500 ms", f"{f['busy_median_ms']:.0f} ms"),
        ("ack: during that intake, max", "< 3,000 ms", f"{f['busy_max_ms']:.0f} ms"),
    ]


def main() -> int:
    """Run the benchmarks one after another and print the table."""
    suites: list[Callable[[], list[Row]]] = [_intake, _sender, _ack]
    rows = [row for suite in suites for row in suite()]
    machine = _machine()
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'target':<11}  {'measured':<10}  machine")
    for figure, target, measured in rows:
        print(f"{figure:<{width}}  {target:<11}  {measured:<10}  {machine}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
