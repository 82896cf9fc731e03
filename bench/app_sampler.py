"""Run `smsbatch-bot` with a stack sampler, to see which threads hold the app's one GIL.

    python -m bench.app_sampler OUT.json [smsbatch-bot arguments]

A daemon thread looks at every other thread's stack every few milliseconds. A thread whose
innermost frame is a blocking call (waiting on a lock, a socket, a queue, sleeping) is counted
as waiting; any other is running or ready to run, i.e. holding or wanting the GIL, and the
sample is charged to its innermost smsbatch (bot/, handlers/) frame and innermost frame. On
exit the counts go to OUT.json, most-sampled first. For diagnosis (`bench_ack --sample-app`),
not part of `make bench`.
"""

from __future__ import annotations

import atexit
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

INTERVAL = 0.002
# Innermost frames that mean "blocked, not competing for the GIL".
WAITING = frozenset(
    {
        "wait",
        "_wait_for_tstate_lock",
        "select",
        "poll",
        "sleep",
        "accept",
        "recv",
        "recv_into",
        "readinto",
        "readline",
        "get",
        "_worker",
        "serve_forever",
        "handle_request",
        "acquire",
        "run",
        "loop",
    }
)
OURS = ("/bot/", "/handlers/")


def _where(frame: FrameType | None) -> tuple[str, str] | None:
    """(innermost smsbatch frame, innermost frame) of a running thread, None when it waits."""
    if frame is None or frame.f_code.co_name in WAITING:
        return None
    inner = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}"
    ours = "-"
    walk: FrameType | None = frame
    while walk is not None:
        if any(mark in walk.f_code.co_filename for mark in OURS):
            ours = f"{Path(walk.f_code.co_filename).name}:{walk.f_code.co_name}"
            break
        walk = walk.f_back
    return ours, inner


def start(out: Path) -> None:
    """Sample every thread until the process exits, then write the counts to `out`."""
    counts: Counter[str] = Counter()
    me = threading.get_ident()
    total = [0]

    def sample() -> None:
        while True:
            names = {
                t.ident: t.name.split("_")[0].rstrip("0123456789-") for t in threading.enumerate()
            }
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                where = _where(frame)
                if where is not None:
                    counts[f"{names.get(ident, '?')} | {where[0]} | {where[1]}"] += 1
            total[0] += 1
            time.sleep(INTERVAL)

    def dump() -> None:
        report = {"samples": total[0], "running": dict(counts.most_common(60))}
        out.write_text(json.dumps(report, indent=1))

    atexit.register(dump)
    threading.Thread(target=sample, name="sampler", daemon=True).start()


def main(argv: list[str]) -> int:
    """Start the sampler, then run the command line as `smsbatch-bot` would."""
    start(Path(argv[0]))
    from bot.cli.main import main as cli_main  # after the sampler: its imports are sampled too

    sys.argv = ["smsbatch-bot", *argv[1:]]
    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
