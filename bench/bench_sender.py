"""Sender throughput: approved single-chunk batches drained against the simulator over localhost.

    python -m bench.bench_sender [BATCHES]

Prepares and approves BATCHES (default 100) one-message batches in a temporary SQLite file,
then lets the real `Sender` submit them to a `SimulatorServer` on 127.0.0.1 through one
`EapiClient`. Each submission's time covers everything the sender does for it: the lease check,
the integrity checks, the committed outbox row and audit entry, the POST, and the committed
answer with its audit entries (synchronous=FULL, so every commit is an fsync). Prints one line
per figure: TCP connections opened (target 1), most requests in flight (must be 1), time per
submission (median and p95, ms) and the total.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.config import Secret, Settings
from bot.eapi import EapiClient
from bot.model import SendOptions
from bot.notify import LogNotifier
from bot.pricing import PriceTable
from bot.retry import RetryPolicy
from bot.sender import Sender
from bot.service import BatchService, Origin
from bot.simulator import SimulatorServer
from bot.store import Store

APPROVER = "U0BENCHAPPROVER"


def _approve_all(store: Store, settings: Settings, count: int) -> None:
    service = BatchService(
        store,
        settings,
        PriceTable.load(None),
        is_approver=lambda user: user == APPROVER,
        notifier=LogNotifier(),
    )
    origin = Origin("U0BENCHPREPARER", "C0BENCH", source="cli")
    for n in range(count):
        data = f"msisdn,message\n4474001{n:05d},Bench message {n}\n".encode()
        view = service.prepare(data, SendOptions(), origin)
        decision = service.approve(view.id, APPROVER, view.digest)
        if not decision.ok:
            raise SystemExit(f"approval failed: {decision.reason}")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(count: int = 100) -> dict[str, float]:
    """Drain `count` approved batches and return the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_path=Path(tmp) / "bench.db", approvers=(APPROVER,))
        store = Store.open(settings.db_path)
        _approve_all(store, settings, count)
        password = secrets.token_hex(8)
        server = SimulatorServer(username="bench", password=password).start()
        client = EapiClient(server.url, "bench", Secret(password), read_timeout=30)
        sender = Sender(
            store,
            client,
            LogNotifier(),
            RetryPolicy.from_settings(settings),
            dedup_window_seconds=settings.dedup_window_seconds,
        )
        times: list[float] = []
        started = time.perf_counter()
        while True:
            before = len(server.requests)
            step = time.perf_counter()
            if not sender.run_once():
                break
            if len(server.requests) > before:
                times.append(time.perf_counter() - step)
        total = time.perf_counter() - started
        sender.stop()
        client.close()
        server.stop()
        processed, opened = len(server.processed), server.connections_opened
        in_flight = server.max_in_flight
        store.close()
    return {
        "batches": count,
        "processed": processed,
        "connections_opened": opened,
        "max_in_flight": in_flight,
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": _percentile(times, 0.95) * 1000,
        "total_s": total,
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print its figures."""
    count = int(argv[0]) if argv else 100
    figures = measure(count)
    print(f"submissions processed: {figures['processed']:.0f} of {count}")
    print(f"tcp connections opened: {figures['connections_opened']:.0f} (target 1)")
    print(f"max requests in flight: {figures['max_in_flight']:.0f} (must be 1)")
    print(f"time per submission: median {figures['median_ms']:.1f} ms")
    print(f"time per submission: p95 {figures['p95_ms']:.1f} ms")
    print(f"total: {figures['total_s']:.2f} s")
    healthy = figures["processed"] == count and figures["connections_opened"] == 1
    return 0 if healthy and figures["max_in_flight"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
