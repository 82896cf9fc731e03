"""`GET /eapi/push/reply` in the real process: forged pushes change nothing, a real one counts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.store import inbox, suppression
from bot.store.db import Store
from bot.store.suppression import Source
from tests.fake_slack import running_fake_slack
from tests.test_handlers_http_mode import SECRET, base_env, free_port, wait_until_serving

PUSH_SECRET = "push-secret-Qx81"
STOP = {"msg_id": "9001", "sender": "447911123402", "message": "STOP", "msisdn": "447860000000"}


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """`python -m bot` in HTTP mode with SMSBATCH_PUSH_SECRET, the in-process simulator."""
    with running_fake_slack() as fake:
        port = free_port()
        env = base_env(tmp_path) | {
            "SLACK_BOT_TOKEN": fake.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "PORT": str(port),
            "EAPI_URL": "simulator",
            "SMSBATCH_PUSH_SECRET": PUSH_SECRET,
            "SMSBATCH_INBOX_POLL_SECONDS": "0",
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
            yield url
        finally:
            process.kill()
            process.wait(10)


def test_forged_pushes_change_nothing_and_a_real_one_suppresses(
    app_url: str, tmp_path: Path
) -> None:
    """No or wrong `pass`: 403, no reply stored, nobody suppressed. The right one: 200 once."""
    push = f"{app_url}/eapi/push/reply"
    for forged in ({}, {"pass": ""}, {"pass": "wrong"}, {"pass": PUSH_SECRET + "x"}):
        answer = requests.get(push, params=STOP | forged, timeout=5)
        assert answer.status_code == 403
    store = Store.open(tmp_path / "app.db", create=False)
    try:
        assert inbox.replies(store) == [] and suppression.size(store) == 0
        for _ in range(2):  # BulkSMS may push the same reply again
            answer = requests.get(push, params=STOP | {"pass": PUSH_SECRET}, timeout=5)
            assert answer.status_code == 200 and answer.text.strip()
        assert [r.msg_id for r in inbox.replies(store)] == [9001]
        entry = suppression.entry(store, "447911123402")
        assert entry is not None and entry.source is Source.REPLY
        bad = requests.get(push, params={"pass": PUSH_SECRET, "sender": "1"}, timeout=5)
        assert bad.status_code == 400 and "msg_id" in bad.text
    finally:
        store.close()
