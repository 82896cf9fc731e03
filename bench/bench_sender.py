"""Sender (issue 4): approved single-chunk batches drained against the simulator, and the same
request bodies POSTed with a bare `requests.Session`.

    python -m bench.bench_sender [BATCHES] [LATENCY_MS ...]

For each simulator latency (default 0 ms and 20 ms, a more realistic network):
1. BATCHES (100) one-message batches are prepared and approved in a temporary SQLite file, and
   the real `Sender` drains them through one `EapiClient` into a fresh `SimulatorServer` on
   127.0.0.1. Time per submission is the interval between consecutive submissions arriving at
   the simulator, so it covers everything the sender does per batch (lease, integrity checks,
   the outbox row and audit entries committed with fsync, the POST, the committed answer, and
   finishing the batch), not only the call that POSTs.
2. The same form bodies, built with `bot.eapi.client.send_batch_params` as the sender builds
   them plus the credentials (checked equal to what the sender sent, stop_dup_id aside), are
   POSTed one after another with one `requests.Session` to another fresh simulator: the bare
   baseline, timed the same way.
Prints TCP connections opened (target 1), most requests in flight (must be 1), median and p95
per submission for both, and their ratio (issue 14: <= 1.5x at 0 ms, <= 1.1x at 20 ms).
"""

from __future__ import annotations

import itertools
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlencode

import requests

from bot.config import Secret, Settings
from bot.eapi.client import SEND_BATCH_PATH, BatchRow, EapiClient, send_batch_params
from bot.eapi.simulator.server import SimulatorServer
from bot.intake.pricing import PriceTable
from bot.model import Dca, SendOptions
from bot.sending.notify import LogNotifier
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from bot.service import BatchService, Origin
from bot.store.db import Store

APPROVER = "U0BENCHAPPROVER"
USERNAME = "bench"


def _text(n: int) -> str:
    return f"Bench message {n}"


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
        data = f"msisdn,message\n4474001{n:05d},{_text(n)}\n".encode()
        view = service.prepare(data, SendOptions(), origin)
        decision = service.approve(view.id, APPROVER, view.digest)
        if not decision.ok:
            raise SystemExit(f"approval failed: {decision.reason}")


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` of the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _cycle_times(server: SimulatorServer, started: float) -> list[float]:
    """Seconds from one submission's arrival to the next (the first from `started`)."""
    arrivals = [started, *(r.at for r in server.requests)]
    return [later - earlier for earlier, later in itertools.pairwise(arrivals)]


def _drain(
    count: int, latency: float, password: str
) -> tuple[dict[str, float], list[dict[str, str]]]:
    """Approve `count` batches and let the sender submit them; figures and the params it sent."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_path=Path(tmp) / "bench.db", approvers=(APPROVER,))
        store = Store.open(settings.db_path)
        _approve_all(store, settings, count)
        server = SimulatorServer(
            username=USERNAME, password=password, latency=latency, clock=time.perf_counter
        ).start()
        client = EapiClient(server.url, USERNAME, Secret(password), read_timeout=30)
        sender = Sender(
            store,
            client,
            LogNotifier(),
            RetryPolicy.from_settings(settings),
            dedup_window_seconds=settings.dedup_window_seconds,
        )
        started = time.perf_counter()
        while sender.run_once():
            pass
        total = time.perf_counter() - started
        sender.stop()
        client.close()
        server.stop()
        store.close()
    times = _cycle_times(server, started)
    figures = {
        "processed": len(server.processed),
        "connections_opened": server.connections_opened,
        "max_in_flight": server.max_in_flight,
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": percentile(times, 0.95) * 1000,
        "mean_ms": total / count * 1000,
    }
    return figures, [dict(r.params) for r in server.requests]


def bodies(count: int, password: str, max_parts: int) -> tuple[list[bytes], list[dict[str, str]]]:
    """The send_batch form bodies of the benchmark's batches, and their params (no password)."""
    forms, params = [], []
    for n in range(count):
        row = BatchRow(f"4474001{n:05d}", _text(n))
        fields = send_batch_params(
            [row], Dca.SEVEN_BIT, SendOptions(), stop_dup_id=n + 1, max_parts=max_parts
        )
        credentials = [("username", USERNAME), ("password", password)]
        forms.append(urlencode([*credentials, *fields.items()], encoding="iso-8859-1").encode())
        params.append({"username": USERNAME, **fields})
    return forms, params


def _same_bodies(ours: Sequence[Mapping[str, str]], sent: Sequence[Mapping[str, str]]) -> bool:
    """True when the baseline posts what the sender posted (each batch has its own stop_dup_id)."""

    def strip(params: Mapping[str, str]) -> dict[str, str]:
        return {k: v for k, v in params.items() if k != "stop_dup_id"}

    return len(ours) == len(sent) and all(
        strip(a) == strip(b) for a, b in zip(ours, sent, strict=True)
    )


def _bare(forms: list[bytes], latency: float, password: str) -> dict[str, float]:
    """POST the bodies with one requests.Session, one after another, and time them."""
    server = SimulatorServer(
        username=USERNAME, password=password, latency=latency, clock=time.perf_counter
    ).start()
    url = server.url + SEND_BATCH_PATH
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    with requests.Session() as session:
        started = time.perf_counter()
        for form in forms:
            answer = session.post(
                url, data=form, headers=headers, timeout=(10, 30), allow_redirects=False
            )
            if answer.status_code != 200 or not answer.content.startswith(b"0|"):
                raise RuntimeError(f"the bare POST was answered {answer.status_code}")
        total = time.perf_counter() - started
    server.stop()
    times = _cycle_times(server, started)
    return {
        "bare_processed": len(server.processed),
        "bare_connections_opened": server.connections_opened,
        "bare_median_ms": statistics.median(times) * 1000,
        "bare_p95_ms": percentile(times, 0.95) * 1000,
        "bare_mean_ms": total / len(forms) * 1000,
    }


def measure(count: int = 100, latency: float = 0.0) -> dict[str, float]:
    """The sender and the bare baseline at one simulator latency (seconds)."""
    password = secrets.token_hex(8)
    figures, sent = _drain(count, latency, password)
    forms, params = bodies(count, password, Settings().max_parts)
    if not _same_bodies(params, sent):
        raise RuntimeError("the baseline's bodies differ from what the sender sent")
    figures |= _bare(forms, latency, password)
    figures["ratio"] = figures["median_ms"] / figures["bare_median_ms"]
    figures["mean_ratio"] = figures["mean_ms"] / figures["bare_mean_ms"]
    return figures


def main(argv: list[str]) -> int:
    """Run the benchmark at each latency and print its figures; exit 1 if a must fails."""
    count = int(argv[0]) if argv else 100
    latencies = [float(ms) / 1000 for ms in argv[1:]] or [0.0, 0.02]
    healthy = True
    for latency in latencies:
        f = measure(count, latency)
        where = f"simulator latency {latency * 1000:g} ms"
        print(f"{where}: submissions processed {f['processed']:.0f} of {count}")
        print(f"{where}: tcp connections opened {f['connections_opened']:.0f} (target 1)")
        print(f"{where}: max requests in flight {f['max_in_flight']:.0f} (must be 1)")
        for who, prefix in (("sender", ""), ("bare requests.Session.post", "bare_")):
            print(
                f"{where}: {who} per submission median {f[prefix + 'median_ms']:.2f} ms, "
                f"p95 {f[prefix + 'p95_ms']:.2f} ms, mean {f[prefix + 'mean_ms']:.2f} ms"
            )
        print(f"{where}: ratio of medians {f['ratio']:.2f}x, of means {f['mean_ratio']:.2f}x")
        healthy &= f["processed"] == count and f["connections_opened"] == 1
        healthy &= f["max_in_flight"] == 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
