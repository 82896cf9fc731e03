"""A sender in its own process, for crash tests: `python -m tests.sender_worker DB URL [...]`.

It runs the real `Sender` thread (lease, keeper, recovery) against an EAPI at URL, prints each
progress report as one JSON line on stdout, and exits 0 once it holds the lease and no approved
batch is left (exit 3 if that takes longer than --timeout seconds). Tests kill it with SIGKILL
mid-request and start another one on the same database.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from bot.config import Secret
from bot.eapi.client import EapiClient
from bot.model import Progress
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from bot.store.db import Store
from tests.eapi_fixtures import SIM_PASSWORD, SIM_USERNAME


class PrintingNotifier:
    """Writes each progress report to stdout as a JSON line, flushed at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def notify(self, event: Progress) -> None:
        """Print the report."""
        line = json.dumps(
            {
                "kind": event.kind.value,
                "batch_id": event.batch_id,
                "chunk_index": event.chunk_index,
                "status_code": event.status_code,
                "state": None if event.state is None else event.state.value,
                "description": event.description,
            }
        )
        with self._lock:
            print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run a sender until the queue is empty."""
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("url")
    parser.add_argument("--read-timeout", type=float, default=60.0)
    parser.add_argument("--lease-seconds", type=float, default=1.0)
    parser.add_argument("--dedup-window", type=float, default=7200.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    store = Store.open(args.db)
    client = EapiClient(
        args.url,
        SIM_USERNAME,
        Secret(SIM_PASSWORD),
        connect_timeout=2.0,
        read_timeout=args.read_timeout,
    )
    sender = Sender(
        store,
        client,
        PrintingNotifier(),
        RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
        dedup_window_seconds=args.dedup_window,
        lease_seconds=args.lease_seconds,
        heartbeat_seconds=min(5.0, args.lease_seconds / 3),
        idle_seconds=0.05,
    )
    sender.start()
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            if sender.holding_lease and store.head_batch_id() is None and not store.open_attempts():
                return 0
            time.sleep(0.05)
        return 3
    finally:
        sender.stop()
        client.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
