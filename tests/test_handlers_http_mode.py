"""HTTP mode end to end: the real `python -m bot`, waitress, signatures, /healthz, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from slack_sdk.signature import SignatureVerifier

from tests.fake_slack import FakeSlack, running_fake_slack

SECRET = "http-mode-signing-secret"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: nothing from the developer's shell or .env leaks in."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SMSBATCH_DB": str(tmp_path / "app.db"),
        "SMSBATCH_LOG_LEVEL": "INFO",
    }


@dataclass
class Running:
    """The app process and where it listens."""

    process: subprocess.Popen[str]
    url: str
    fake: FakeSlack


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """`python -m bot` in HTTP mode against the fake Slack and the in-process simulator."""
    with running_fake_slack() as fake:
        port = free_port()
        env = base_env(tmp_path) | {
            "SLACK_BOT_TOKEN": fake.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "PORT": str(port),
            "EAPI_URL": "simulator",
            "SMSBATCH_APPROVERS": "UAPPROVER",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(url, process)
            yield Running(process, url, fake)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def wait_until_serving(url: str, process: subprocess.Popen[str]) -> None:
    """Poll /healthz until the server answers (or the process dies)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the app exited early: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the app did not start serving within 20 s")


def signed_post(url: str, body: str, *, secret: str = SECRET) -> requests.Response:
    """POST a form body to /slack/events with Slack's signature headers."""
    stamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    return requests.post(f"{url}/slack/events", data=body.encode(), headers=headers, timeout=5)


def command_body(fake: FakeSlack, text: str) -> str:
    """A slash-command form body."""
    return urlencode(
        {
            "team_id": "T0001",
            "channel_id": "C0CHANNEL",
            "user_id": "UPREPARER",
            "command": "/smsbatch",
            "text": text,
            "response_url": f"{fake.url}/response/1",
            "trigger_id": "trigger-1",
            "api_app_id": "A0APP",
        }
    )


def test_a_signed_slash_command_is_answered_within_three_seconds(running: Running) -> None:
    """`/smsbatch help` over real HTTP: 200 with the help text, well inside Slack's 3 s."""
    started = time.monotonic()
    response = signed_post(running.url, command_body(running.fake, "help"))
    assert response.status_code == 200 and time.monotonic() - started < 3.0
    assert "/smsbatch" in response.text


def test_pasted_csv_over_http_produces_a_simulated_preview(running: Running) -> None:
    """The whole path in the real process: the card says it is a simulation."""
    body = command_body(running.fake, "msisdn,message\n447911123401,Hello &amp; bye")
    assert signed_post(running.url, body).status_code == 200
    card = running.fake.wait_for(
        lambda: [r for r in running.fake.calls("chat.postMessage") if r.blocks()], timeout=10
    )[0]
    assert card.body["text"].startswith("Batch 1: 1 recipient, 1 SMS, ~1 credits")
    assert card.body["text"].endswith("(simulation — nothing is sent)")


def test_a_bad_signature_is_refused_with_401(running: Running) -> None:
    """Bolt's verification rejects a body signed with another secret."""
    response = signed_post(running.url, command_body(running.fake, "help"), secret="wrong")
    assert response.status_code == 401


def test_healthz_answers_json_without_secrets(running: Running) -> None:
    """GET /healthz: database, sender heartbeat and queue as JSON; no token in it."""
    running.fake.wait_for(
        lambda: requests.get(f"{running.url}/healthz", timeout=2).status_code == 200, timeout=10
    )
    response = requests.get(f"{running.url}/healthz", timeout=2)
    report = response.json()
    assert report["ok"] is True and report["db_ok"] is True
    assert report["queue_length"] == 0 and report["heartbeat_age_seconds"] < 30
    assert report["simulated"] is True
    assert running.fake.token not in response.text and SECRET not in response.text


def test_sigterm_stops_the_app_cleanly(running: Running, tmp_path: Path) -> None:
    """SIGTERM: exit code 0, no traceback, the shutdown logged; `health` then fails at once,
    saying the sender released its lease (not "ok" for the next 30 s)."""
    running.fake.wait_for(
        lambda: requests.get(f"{running.url}/healthz", timeout=2).json()["ok"], timeout=10
    )
    running.process.send_signal(signal.SIGTERM)
    code = running.process.wait(15)
    output = running.process.stdout.read() if running.process.stdout else ""
    assert code == 0, output
    assert "Traceback" not in output and "stopped" in output
    assert running.fake.token not in output and SECRET not in output
    health = subprocess.run(
        [sys.executable, "-m", "bot", "health"],
        cwd=tmp_path,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert health.returncode == 1
    assert "the sender is not running: it released its lease at" in health.stderr
    assert len(health.stderr.strip().splitlines()) == 1


def test_missing_slack_settings_end_in_one_line_and_exit_2(tmp_path: Path) -> None:
    """Without SLACK_BOT_TOKEN the app names what is missing and exits 2, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is missing" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
