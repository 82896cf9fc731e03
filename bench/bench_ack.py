"""Ack latency of the real process in HTTP mode, idle and while a 30,000-row upload is checked.

`python -m bench.bench_ack` starts `python -m bot` (waitress, HTTP mode) against the local fake
Slack Web API and the in-process EAPI simulator, then POSTs signed `/smsbatch help` commands and
times each answer: first with nothing else going on, then while the app downloads and plans a
30,000-row CSV upload. Slack's limit is 3 s; the target is well under it either way.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_intake import build_file
from tests.fake_slack import FakeSlack, running_fake_slack
from tests.test_http_mode import (
    SECRET,
    base_env,
    command_body,
    free_port,
    signed_post,
    wait_until_serving,
)

COMMANDS = 40
UPLOAD_ROWS = 30_000


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _time_commands(url: str, fake: FakeSlack, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = signed_post(url, command_body(fake, "help"))
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"a command was answered {response.status_code}")
    return latencies


def _upload_event(fake: FakeSlack, data: bytes) -> dict[str, Any]:
    file = fake.add_file("big.csv", data)
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "C0CHANNEL",
        "channel_type": "channel",
        "user": file.user,
        "ts": "1700000000.000100",
        "text": "",
        "upload": True,
        "files": [fake.file_object(file)],
    }
    return {
        "token": "legacy",
        "team_id": "T0001",
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": "EvBENCH",
        "event_time": int(time.time()),
        "event": event,
    }


def _post_event(url: str, payload: dict[str, Any]) -> float:
    import requests
    from slack_sdk.signature import SignatureVerifier

    body = json.dumps(payload)
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
            timestamp=stamp, body=body
        ),
    }
    started = time.perf_counter()
    response = requests.post(f"{url}/slack/events", data=body.encode(), headers=headers, timeout=5)
    if response.status_code != 200:
        raise RuntimeError(f"the upload event was answered {response.status_code}")
    return time.perf_counter() - started


def measure() -> dict[str, float]:
    """Run the app and return the ack latencies in milliseconds."""
    with tempfile.TemporaryDirectory() as tmp, running_fake_slack() as fake:
        port = free_port()
        env = base_env(Path(tmp)) | {
            "SLACK_BOT_TOKEN": fake.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "PORT": str(port),
            "EAPI_URL": "simulator",
            "SMSBATCH_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1"],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(url, process)
            idle = _time_commands(url, fake, COMMANDS)
            upload_ack = _post_event(url, _upload_event(fake, build_file(UPLOAD_ROWS)))
            busy = _time_commands(url, fake, COMMANDS)
            card = fake.wait_for(
                lambda: [r for r in fake.calls("chat.postMessage") if r.blocks()], timeout=120
            )
            if not card:
                raise RuntimeError("the 30,000-row upload produced no preview")
        finally:
            process.terminate()
            process.wait(15)
    return {
        "idle_median_ms": statistics.median(idle) * 1000,
        "idle_p95_ms": _percentile(idle, 0.95) * 1000,
        "upload_event_ack_ms": upload_ack * 1000,
        "busy_median_ms": statistics.median(busy) * 1000,
        "busy_max_ms": max(busy) * 1000,
    }


def main(argv: list[str]) -> int:
    """Print each figure on its own line."""
    for name, value in measure().items():
        print(f"ack {name}: {value:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
