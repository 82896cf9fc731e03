"""Run one command and report its own wall time and rusage: a tiny `/usr/bin/time`.

    python -S bench/child_usage.py REPORT.json COMMAND [ARG ...]

The intake benchmark starts its children through this instead of directly: Linux carries the
peak RSS of the address space a process exec()s from into its ru_maxrss, so a child started
straight from the (large) benchmark process would report at least the benchmark's own peak.
Started from this small process, the figure is the command's own. Its CPU time includes the
processes it waited for (check's number-parsing child), and the peak RSS is the largest of
them. Exits with its exit code.
"""

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    """Spawn the command, wait for it with wait4, write the figures to REPORT.json."""
    report, command = argv[0], argv[1:]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    figures = {
        "wall_s": time.perf_counter() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_kib": usage.ru_maxrss,
    }
    with open(report, "w", encoding="utf-8") as handle:
        json.dump(figures, handle)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
