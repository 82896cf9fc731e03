"""Delivery reports (issue 10): reports of many batches polled and applied, and one big poll.

    python -m bench.bench_reports [BATCHES] [MESSAGES]

1. BATCHES (100) batches of MESSAGES (4,000) messages are prepared, approved and submitted by
   the real `Sender` to a `SimulatorServer` (one submission each) in a temporary SQLite file.
   The simulator's clock is then moved a day on, so every message has its final code, and the
   real `ReportPoller` runs on the sender's connection until no fetch is due: one get_report per
   submission over HTTP, parsed, matched and stored with its audit entry. Measured: the time of
   that phase, fetches made, messages changed, and the process's peak RSS before and after it.
2. One poll of a 30,000-message submission without the network: the answer body (header, blank
   line, 30,000 rows) is parsed (`parse_report`) and stored (`DeliveryStore.record_fetch`),
   best of three on fresh copies of the database. Target: under 1 s. Its Python peak memory is
   measured apart (tracemalloc slows what it traces), on one more fresh copy.
"""

from __future__ import annotations

import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bot.config import Secret, Settings
from bot.eapi.client import EapiClient
from bot.eapi.reports import parse_report
from bot.eapi.simulator.delivery import DEFAULT_MIX, DeliveryModel
from bot.eapi.simulator.server import SimulatorServer
from bot.intake.pricing import PriceTable
from bot.model import SendOptions
from bot.sending.notify import LogNotifier
from bot.sending.reports import ReportPoller
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from bot.service import BatchService, Origin
from bot.store.db import Store
from bot.store.reports import DeliveryStore, Schedule

APPROVER = "U0BENCHAPPROVER"
USERNAME, PASSWORD = "bench", "bench-reports-pw"
DAY = 86_400.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _csv(messages: int, offset: int = 0) -> bytes:
    rows = [f"4474{offset + n:08d},Report bench {n}" for n in range(messages)]
    return ("msisdn,message\n" + "\n".join(rows) + "\n").encode()


def _approve(store: Store, settings: Settings, batches: int, messages: int) -> None:
    service = BatchService(
        store,
        settings,
        PriceTable.load(None),
        is_approver=lambda user: user == APPROVER,
        notifier=LogNotifier(),
    )
    origin = Origin("U0BENCHPREPARER", "C0BENCH", source="cli")
    for n in range(batches):
        view = service.prepare(_csv(messages, n * messages), SendOptions(), origin)
        decision = service.approve(view.id, APPROVER, view.digest)
        if not decision.ok:
            raise SystemExit(f"approval failed: {decision.reason}")


def polled(batches: int = 100, messages: int = 4000) -> dict[str, float]:
    """Phase 1: submit, then poll every submission's report once and apply it."""
    now = [1_800_000_000.0]

    def clock() -> float:
        return now[0]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            db_path=Path(tmp) / "bench.db",
            approvers=(APPROVER,),
            chunk_size=max(messages, 1),
            max_rows=max(messages, 100_000),
        )
        store = Store.open(settings.db_path)
        _approve(store, settings, batches, messages)
        server = SimulatorServer(
            username=USERNAME,
            password=PASSWORD,
            clock=clock,
            delivery=DeliveryModel(DEFAULT_MIX),
            credits=10 * batches * messages,
        ).start()
        client = EapiClient(server.url, USERNAME, Secret(PASSWORD), read_timeout=60)
        poller = ReportPoller(store, client, LogNotifier(), (60.0, 3 * DAY), clock=clock)
        sender = Sender(
            store,
            client,
            LogNotifier(),
            RetryPolicy.from_settings(settings),
            dedup_window_seconds=settings.dedup_window_seconds,
            clock=clock,
            side_tasks=[poller],
        )
        while sender.run_once():  # submits every batch, then schedules their reports
            pass
        now[0] += DAY  # every path has ended; the 60 s fetch of each is due
        rss_before = _rss_mb()
        started = time.perf_counter()
        while sender.run_once():
            pass
        seconds = time.perf_counter() - started
        rss_after = _rss_mb()
        fetches = sum(1 for r in server.requests if r.path.endswith("/get_report/2/2.0"))
        changed = sum(
            1
            for b in range(1, batches + 1)
            for m in DeliveryStore(store).messages(b)
            if m.status_code is not None
        )
        submitted = len(server.processed)
        figures = {
            "seconds": seconds,
            "submitted": submitted,
            "fetches": fetches,
            "messages": changed,
            "rss_before_mb": rss_before,
            "rss_after_mb": rss_after,
            "max_in_flight": server.max_in_flight,
        }
        sender.stop()
        client.close()
        server.stop()
        store.close()
    return figures


def _report_body(messages: int) -> str:
    codes = (11, 11, 11, 11, 11, 11, 11, 11, 51, 0)
    rows = [f"4474{n:08d}|{codes[n % 10]}|" for n in range(messages)]
    return "0|Returns to follow\n\n" + "\n".join(rows) + "\n"


def _store_fetch(path: Path, body: str) -> None:
    store = Store.open(path)
    fetch = parse_report(body)
    assert fetch.rows is not None
    schedule = Schedule(1, 0, 4712345001, 0.0, 0, 60.0, 0, 0)
    DeliveryStore(store).record_fetch(
        schedule, fetch.rows, status_line=fetch.status_line, skipped=0, now=60.0,
        next_step=1, next_at=300.0,
    )  # fmt: skip
    store.close()


def _traced_peak_mb(source: Path, copy: Path, body: str) -> float:
    """Python's peak allocation while one big answer is parsed and stored (tracemalloc)."""
    shutil.copy(source, copy)
    tracemalloc.start()
    _store_fetch(copy, body)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024 / 1024


def big_poll(messages: int = 30_000, repeat: int = 3) -> dict[str, float]:
    """Phase 2: parse and store one 30,000-row answer (best of `repeat`, fresh copies)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            db_path=Path(tmp) / "big.db",
            approvers=(APPROVER,),
            chunk_size=messages,
            max_rows=max(messages, 100_000),
        )
        store = Store.open(settings.db_path)
        _approve(store, settings, 1, messages)
        with store.write() as tx:  # the sender's record of an accepted answer
            [chunk] = tx.chunks(1)
            tx.update_chunk(chunk.id, state="accepted", eapi_batch_id=4712345001, finished_at=0.0)
        store.close()
        body = _report_body(messages)
        parse_s, store_s = [], []
        for n in range(repeat):
            copy = Path(tmp) / f"copy{n}.db"
            shutil.copy(settings.db_path, copy)
            store = Store.open(copy)
            deliveries = DeliveryStore(store)
            schedule = Schedule(1, 0, 4712345001, 0.0, 0, 60.0, 0, 0)
            started = time.perf_counter()
            fetch = parse_report(body)
            parsed = time.perf_counter()
            assert fetch.rows is not None and len(fetch.rows) == messages
            deliveries.record_fetch(
                schedule,
                fetch.rows,
                status_line=fetch.status_line,
                skipped=0,
                now=60.0,
                next_step=1,
                next_at=300.0,
            )
            parse_s.append(parsed - started)
            store_s.append(time.perf_counter() - parsed)
            counts = deliveries.delivery_counts(1)
            assert counts.delivered == messages * 8 // 10, counts
            store.close()
        peak_mb = _traced_peak_mb(settings.db_path, Path(tmp) / "traced.db", body)
    return {
        "peak_mb": peak_mb,
        "parse_s": min(parse_s),
        "store_s": min(store_s),
        "total_s": min(p + s for p, s in zip(parse_s, store_s, strict=True)),
    }


def measure(batches: int = 100, messages: int = 4000, big: int = 30_000) -> dict[str, Any]:
    """Both phases' figures in one dictionary."""
    return {"polled": polled(batches, messages), "big": big_poll(big)}


def main(argv: list[str]) -> int:
    """Print the figures."""
    batches = int(argv[0]) if argv else 100
    messages = int(argv[1]) if len(argv) > 1 else 4000
    figures = measure(batches, messages)
    for phase, values in figures.items():
        for name, value in values.items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"{phase}.{name}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
