"""Intake throughput: a 30,000-row varied upload through `plan_batch`.

    python -m bench.bench_intake [ROWS]

Builds the file in memory (UTF-8 with BOM, CRLF, numbers from ten countries in national,
international and spreadsheet-damaged forms, 7-bit and 16-bit texts of one to three parts, a
few duplicates and bad rows), times `plan_batch` (best of 3) and measures its peak Python memory
with tracemalloc in a separate run. Prints one line per figure.
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc

from bot.intake import IntakeLimits, plan_batch
from bot.model import BatchPlan, SendOptions
from bot.pricing import PriceTable

# (number as written, default-region-independent) — international forms from ten countries.
NUMBERS = (
    "+44 7400 {0:06d}",
    "07400 {0:06d}",
    "4474{0:08d}",
    "+49 1512 3{0:06d}",
    "+33 6 12 {0:06d}",
    "+39 312 {0:07d}",
    "+34 612 {0:06d}",
    "+31 6 12{0:06d}",
    "+1 201-555-{1:04d}",
    "+27 71 {0:07d}",
    "+61 412 {0:06d}",
    "+91 81234 {0:05d}",
)
TEXTS = (
    "Hi {name}, your appointment is on {day} at 10:00. Reply STOP to opt out.",
    "Dear {name}, your order #{n} has shipped and arrives {day}.",
    "Hallo {name}, Ihre Rechnung über 49,90 € ist bezahlt.",
    "Café Zoë: {name}, 10% off this week — see you soon!",
    "{name}, your code is {n}. It expires in 10 minutes.",
    "Reminder for {name}: " + "the meeting moved to the big room upstairs. " * 6,
    "Γεια σου {name}! ΔΦΓΛΩΠΨΣΘΞ",
    "{name} 😀 thanks for joining {{the club}}",
)
NAMES = ("Anna", "Ben", "Chloé", "Dan", "Élise", "Jörg", "María", "Zoë", "Ole", "Priya")
DAYS = ("Monday", "Tuesday", "Friday", "tomorrow")
BAD = ("4.47401E+11", "12345", "n/a", "")


def build_file(rows: int, seed: int = 7) -> bytes:
    """A realistic upload of `rows` data rows (deterministic for a seed)."""
    rng = random.Random(seed)
    lines = ["Phone Number,Message,Name"]
    for n in range(rows):
        if n % 97 == 0:
            number = rng.choice(BAD)
        else:
            number = rng.choice(NUMBERS).format(rng.randrange(10**5), rng.randrange(100, 200))
        name = rng.choice(NAMES)
        text = rng.choice(TEXTS).format(name=name, day=rng.choice(DAYS), n=n)
        if n % 50 == 1:  # an exact repeat of the previous row
            lines.append(lines[-1])
            continue
        lines.append(f'{number},"{text.replace(chr(34), chr(34) * 2)}",{name}')
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _plan(data: bytes) -> BatchPlan:
    limits = IntakeLimits(max_file_bytes=len(data) + 1, max_rows=len(data))
    return plan_batch(data, SendOptions(), limits, PriceTable())


def measure(rows: int = 30_000) -> dict[str, float]:
    """Time (best of 3) and peak memory of planning a `rows`-row file."""
    data = build_file(rows)
    best = float("inf")
    plan = None
    for _ in range(3):
        start = time.perf_counter()
        plan = _plan(data)
        best = min(best, time.perf_counter() - start)
    assert plan is not None
    tracemalloc.start()
    _plan(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": plan.rows,
        "file MB": len(data) / 1e6,
        "messages": len(plan.messages),
        "16-bit messages": sum(1 for m in plan.messages if m.dca.value == "16bit"),
        "parts": plan.parts,
        "rejected": len(plan.rejected),
        "duplicates": len(plan.duplicates),
        "best of 3 s": best,
        "rows/s": plan.rows / best,
        "peak memory MB": peak / 1e6,
    }


def main(argv: list[str]) -> int:
    """Print one line per figure."""
    rows = int(argv[0]) if argv else 30_000
    for name, value in measure(rows).items():
        shown = f"{value:,.0f}" if value >= 100 or float(value).is_integer() else f"{value:.2f}"
        print(f"intake {name}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
