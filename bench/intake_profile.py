"""Where `plan_batch` spends its time: the share inside phonenumbers (issue 3).

    python -m bench.intake_profile FILE.csv [--top N] [--baseline]

Run in a fresh process, so phonenumbers starts cold as it does in `smsbatch-bot check`.
Two estimates, because each is biased a different way:
- sampled: a thread looks at the planning thread's stack every 0.5 ms (the GIL switch interval
  is lowered to match) and counts the samples with a phonenumbers frame on the stack. Almost no
  overhead, so the share is close to the real one; it is measured first, on the cold run.
- cProfile: the cumulative time of phonenumbers functions entered from outside phonenumbers,
  over the total. cProfile's per-call overhead weighs most on call-heavy code like
  phonenumbers, so this share runs high; `--top` prints the hottest functions too.
`--baseline` profiles `bench.intake_baseline.run` instead, for comparison. Prints one JSON object.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from bench import intake_baseline
from bot.intake.plan import IntakeLimits, plan_batch
from bot.intake.pricing import PriceTable
from bot.model import SendOptions

PACKAGE_MARK = "/phonenumbers/"
SAMPLE_EVERY = 0.0005


def _plan(data: bytes) -> Callable[[], object]:
    limits = IntakeLimits(max_file_bytes=len(data) + 1, max_rows=10**7)
    return lambda: plan_batch(data, SendOptions(), limits, PriceTable())


def _inside(frame: FrameType | None) -> bool:
    while frame is not None:
        if PACKAGE_MARK in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def sampled_share(work: Callable[[], object]) -> tuple[float, float, int]:
    """(seconds, share of samples inside phonenumbers, samples) of one run of `work`."""
    target = threading.get_ident()
    done = threading.Event()
    counts = [0, 0]

    def sample() -> None:
        while not done.is_set():
            frame = sys._current_frames().get(target)
            counts[0] += 1
            counts[1] += _inside(frame)
            time.sleep(SAMPLE_EVERY)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(SAMPLE_EVERY)
    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        sys.setswitchinterval(previous)
    return elapsed, counts[1] / max(counts[0], 1), counts[0]


def _in_package(func: tuple[str, int, str]) -> bool:
    return PACKAGE_MARK in func[0]


def profiled_share(work: Callable[[], object], top: int) -> dict[str, Any]:
    """cProfile of one run of `work`: total, time entered into phonenumbers, hottest functions."""
    profile = cProfile.Profile()
    profile.runcall(work)
    stats = pstats.Stats(profile)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(ct for (_, _, _, ct, _) in table.values())
    entered = 0.0
    for func, (_, _, _, _, callers) in table.items():
        if _in_package(func):
            entered += sum(edge[3] for caller, edge in callers.items() if not _in_package(caller))
    hottest = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "profiled_s": total,
        "phonenumbers_s": entered,
        "share": entered / total,
        "hottest_self_s": [
            f"{Path(f[0]).name}:{f[1]}:{f[2]} {row[2]:.3f}" for f, row in hottest if top
        ],
    }


def measure(data: bytes, top: int = 0, baseline: bool = False) -> dict[str, Any]:
    """Both estimates for one file (the sampled one first, on the cold run)."""
    work = (lambda: intake_baseline.run(data)) if baseline else _plan(data)
    seconds, share, samples = sampled_share(work)
    return {"sampled_s": seconds, "sampled_share": share, "samples": samples} | profiled_share(
        work, top
    )


def main(argv: list[str]) -> int:
    """Profile planning the file named in argv; print the figures as JSON."""
    top = int(argv[argv.index("--top") + 1]) if "--top" in argv else 0
    print(json.dumps(measure(Path(argv[0]).read_bytes(), top, "--baseline" in argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
