"""Replica lag (issue 15): how long after a commit the change is in a Litestream `file://` replica.

    python -m bench.bench_replica [ROUNDS]

A temporary smsbatch database is replicated by the app's own `Replicator` (the generated
configuration, Litestream's default 1 s sync interval). Each round commits one small write
(an event claim, as a Slack delivery makes) at a random moment and times how long until a new
level-0 LTX file lands in the replica (polled every 10 ms); the last write is then read back with
`litestream restore`, to show the replica really holds it. Prints median, p95 and worst lag.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.cli.replicate import Replicator, litestream_binary
from bot.store.db import Store


def _ltx_files(replica: Path) -> int:
    """LTX files of level 0: one per sync that carried changes (compactions write level 1+)."""
    return sum(1 for _ in (replica / "ltx" / "0").glob("*.ltx"))


def measure(rounds: int = 20) -> dict[str, float]:
    """Lag figures in seconds over `rounds` commits."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        store = Store.open(root / "app.db")
        replicator = Replicator(store.path, (root / "replica").as_uri())
        replicator.start()
        lags = []
        try:
            time.sleep(2.5)  # the first snapshot
            for n in range(rounds):
                time.sleep(random.uniform(0.2, 1.2))  # sample the phase of the sync
                before = _ltx_files(root / "replica")
                store.claim_event(f"Ev{n}", time.time())
                started = time.monotonic()
                while _ltx_files(root / "replica") == before:
                    time.sleep(0.01)
                lags.append(time.monotonic() - started)
            restored = root / "check.db"
            replica_url = (root / "replica").as_uri()
            argv = [str(litestream_binary()), "restore", "-o", str(restored), replica_url]
            subprocess.run(argv, check=True, capture_output=True)
            back = Store.open(restored)
            assert not back.claim_event(f"Ev{rounds - 1}", 0.0), (
                "the last write is not in the replica"
            )
            back.close()
        finally:
            store.close()
            replicator.stop()
    lags.sort()
    return {
        "median": statistics.median(lags),
        "p95": lags[max(0, round(0.95 * len(lags)) - 1)],
        "max": lags[-1],
    }


def main() -> None:
    """Print the figures."""
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    figures = measure(rounds)
    print(
        f"replica lag over {rounds} commits (file:// replica, sync-interval 1 s): "
        f"median {figures['median']:.2f} s, p95 {figures['p95']:.2f} s, max {figures['max']:.2f} s"
    )


if __name__ == "__main__":
    main()
