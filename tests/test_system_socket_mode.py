"""Socket Mode end to end: the real `python -m bot` (the default mode) over a real WebSocket.

The app gets its `ws://` URL from the fake Slack's `apps.connections.open` (called with the
app-level token), connects to tests/fake_socket_mode.py with slack_sdk's built-in client, and is
driven only by envelopes — the slash command, the Approve click, file_share events — exactly as
Slack would drive it. Every envelope must be acknowledged within Slack's 3 seconds.
"""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fake_slack import TEAM, FakeSlack, Recorded, running_fake_slack
from tests.fake_socket_mode import FakeSocketMode
from tests.test_handlers_http_mode import base_env, free_port
from tests.test_system_blackbox import RESULT, Proc, buttons, find_button, wait

CHANNEL = "C0SOCKET"
PREPARER = "UPREPARER"
APPROVER = "UAPPROVER"
ACK_LIMIT = 3.0  # seconds: Slack shows the user an error (or retries) after this
PASTE = "msisdn,message\n447911123401,Hello"
CSV = b"msisdn,message\n447911123401,Hello one\n447911123402,Hello two\n"
CARD_TEXT = re.compile(r"Batch (\d+): (\d+) recipients?, (\d+) SMS, ~(\d+) credits")


@dataclass
class SocketApp:
    """The app process, the fake Web API and the fake WebSocket endpoint it is connected to."""

    proc: Proc
    fake: FakeSlack
    link: FakeSocketMode
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def deliver(self, kind: str, payload: dict[str, Any], **extra: Any) -> str:
        """Push one envelope; returns its envelope_id."""
        envelope_id = f"env-{next(self._ids):04d}-{kind}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            **extra,
        }
        self.link.push(envelope)
        return envelope_id

    def command(self, text: str, user: str = PREPARER) -> str:
        """`/smsbatch TEXT` typed in the channel."""
        payload = {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "example",
            "channel_id": CHANNEL,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/smsbatch",
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": f"{self.fake.url}/response/command-{next(self._ids)}",
            "trigger_id": f"trigger-{next(self._ids)}",
        }
        return self.deliver("slash_commands", payload)

    def click(self, card: Recorded, word: str, user: str) -> str:
        """Click the card's button labelled `word`, as `user` (an `interactive` envelope)."""
        block, button = find_button(card, word)
        ts = str(card.answer["ts"])
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0APP",
            "token": "legacy",
            "team": {"id": TEAM, "domain": "example"},
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
            "trigger_id": f"trigger-{next(self._ids)}",
            "channel": {"id": CHANNEL, "name": "general"},
            "message": {"type": "message", "ts": ts, "thread_ts": card.body.get("thread_ts")},
            "response_url": f"{self.fake.url}/response/action-{next(self._ids)}",
            "actions": [
                {
                    "action_id": button["action_id"],
                    "block_id": block["block_id"],
                    "value": button["value"],
                    "type": "button",
                    "text": button["text"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.deliver("interactive", payload)

    def event(self, event: dict[str, Any], event_id: str, retry_attempt: int = 0) -> str:
        """One Events API delivery; a retry carries the same event and event_id."""
        payload = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
        reason = "timeout" if retry_attempt else ""
        return self.deliver("events_api", payload, retry_attempt=retry_attempt, retry_reason=reason)

    def cards(self) -> list[Recorded]:
        """Every preview card (a chat.postMessage with blocks) the app posted."""
        return [r for r in self.fake.calls("chat.postMessage") if r.blocks()]

    def thread_texts(self, ts: str) -> list[str]:
        """Texts of plain messages the app posted in the thread of `ts`."""
        return [
            str(r.body.get("text"))
            for r in self.fake.calls("chat.postMessage")
            if r.body.get("thread_ts") == ts and not r.blocks()
        ]

    def assert_acked_in_time(self, envelope_id: str) -> dict[str, Any] | None:
        """The envelope got exactly one ack, within 3 s; returns the ack's payload."""
        delay = self.link.ack_delay(envelope_id, timeout=ACK_LIMIT)
        assert delay < ACK_LIMIT, f"{envelope_id} acked after {delay:.2f} s"
        time.sleep(0.05)  # a second ack for the same envelope would be here by now
        acks = self.link.acks_for(envelope_id)
        assert len(acks) == 1, acks
        return acks[0].payload

    def sigterm(self) -> tuple[int, str]:
        """SIGTERM; the exit code (within 15 s) and everything the process printed."""
        self.proc.popen.send_signal(signal.SIGTERM)
        code = self.proc.popen.wait(15)
        time.sleep(0.1)  # let the reader thread take the last lines
        return code, self.proc.output

    def assert_clean_exit(self) -> None:
        """SIGTERM ends the app with 0, no traceback or error line, the stop logged, no token."""
        code, output = self.sigterm()
        assert code == 0, output
        assert "Traceback" not in output and "level=error" not in output, output
        assert "Socket Mode: connected" in output and "stopped" in output, output
        for token in (self.fake.token, self.fake.app_token):
            assert token not in output


def socket_env(tmp_path: Path, fake: FakeSlack) -> dict[str, str]:
    """A clean environment for Socket Mode against the fake Slack and the simulator."""
    return base_env(tmp_path) | {
        "SLACK_APP_TOKEN": fake.app_token,
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_API_URL": fake.api_url,
        "EAPI_URL": "simulator",
        "SMSBATCH_APPROVERS": APPROVER,
    }


@pytest.fixture
def app(tmp_path: Path) -> Iterator[SocketApp]:
    """`python -m bot` (no subcommand) with SLACK_APP_TOKEN set, connected to the fakes."""
    with running_fake_slack() as fake:
        link = FakeSocketMode().start()
        fake.socket_url = link.url
        proc = Proc([sys.executable, "-m", "bot"], socket_env(tmp_path, fake), tmp_path)
        try:
            wait(
                lambda: link.connected() or proc.popen.poll() is not None,
                20,
                "the app's WebSocket connection",
            )
            assert proc.popen.poll() is None, f"the app exited: {proc.output}"
            yield SocketApp(proc, fake, link)
        finally:
            proc.stop()
            link.stop()
        assert fake.problems == [] and link.problems == [], (fake.problems, link.problems)


def test_the_app_reconnects_when_slack_asks_it_to(app: SocketApp) -> None:
    """apps.connections.open with the xapp- token; pongs answer pings; a `disconnect`
    envelope (refresh_requested) -> a new URL, a new connection, and commands still acked."""
    app.link.ping(b"are-you-there")
    app.fake.wait_for(lambda: b"are-you-there" in app.link.pongs, 3, "the pong")
    app.link.push({"type": "disconnect", "reason": "refresh_requested", "debug_info": {}})
    opened = app.fake.wait_calls("apps.connections.open", 2, timeout=5)
    assert [r.headers["authorization"] for r in opened] == [f"Bearer {app.fake.app_token}"] * 2
    # slack_sdk drops the old socket only when its 3 s receive timeout ends; wait for that.
    app.fake.wait_for(
        lambda: [link.open for link in app.link.links] == [False, True], 6, "the switch"
    )
    assert [link.path.split("?")[0] for link in app.link.links] == ["/link", "/link"]

    ack = app.assert_acked_in_time(app.command("help"))
    assert ack is not None and "/smsbatch" in ack["text"]
    app.assert_clean_exit()


def test_an_app_token_slack_refuses_ends_in_one_line_and_exit_2(tmp_path: Path) -> None:
    """apps.connections.open says invalid_auth: exit 2, a last line naming SLACK_APP_TOKEN
    and what to use instead; no traceback, no token."""
    with running_fake_slack(app_token="xapp-1-A0APP-1-the-right-one") as fake:
        env = socket_env(tmp_path, fake) | {"SLACK_APP_TOKEN": "xapp-1-A0APP-1-revoked"}
        result = subprocess.run(
            [sys.executable, "-m", "bot"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("smsbatch-bot run: configuration: Slack did not accept SLACK_APP_TOKEN")
    assert "invalid_auth" in last and "connections:write" in last
    assert "Traceback" not in result.stderr
    assert "revoked" not in result.stderr and fake.token not in result.stderr


def test_an_unreachable_websocket_is_not_reported_as_connected(tmp_path: Path) -> None:
    """apps.connections.open names a port nobody listens on: the app says it is not connected
    yet (never "connected"), keeps running, and SIGTERM still ends it with 0."""
    with running_fake_slack() as fake:
        fake.socket_url = f"ws://127.0.0.1:{free_port()}/link"
        proc = Proc([sys.executable, "-m", "bot"], socket_env(tmp_path, fake), tmp_path)
        try:
            wait(lambda: "Socket Mode" in proc.output, 20, "the Socket Mode log line")
            assert proc.popen.poll() is None, proc.output
            proc.popen.send_signal(signal.SIGTERM)
            code = proc.popen.wait(15)
        finally:
            proc.stop()
    time.sleep(0.1)  # let the reader thread take the last lines
    assert code == 0, proc.output
    assert "Socket Mode: not connected yet" in proc.output
    assert "Socket Mode: connected" not in proc.output and "Traceback" not in proc.output


def test_pasted_csv_and_approval_over_socket_mode(app: SocketApp) -> None:
    """/smsbatch with pasted CSV -> acked at once, card with Approve/Cancel; the approver's
    click -> acked, `status 0 ... batch_id N` in the card's thread; SIGTERM -> exit 0."""
    command = app.command(PASTE)
    ack = app.assert_acked_in_time(command)
    assert ack is not None and "Checking 2 lines of pasted CSV" in ack["text"]

    card = app.fake.wait_for(app.cards, timeout=10, what="the preview card")[0]
    assert card.body["channel"] == CHANNEL
    found = CARD_TEXT.match(card.body["text"])
    assert found is not None, card.body["text"]
    assert found.groups()[1:] == ("1", "1", "1")  # recipients, SMS, credits
    labels = buttons(card)
    assert any("Approve" in label for label in labels), labels
    assert any("Cancel" in label for label in labels), labels

    click = app.click(card, "Approve", APPROVER)
    app.assert_acked_in_time(click)
    ts = str(card.answer["ts"])
    results = app.fake.wait_for(
        lambda: [t for t in app.thread_texts(ts) if RESULT.search(t)], 15, "the EAPI result"
    )
    assert len(results) == 1 and re.search(r"status 0\b.*batch_id \d+", results[0])
    assert app.link.unacked() == []
    app.assert_clean_exit()


def test_a_redelivered_file_share_event_yields_one_preview(app: SocketApp) -> None:
    """file_share, file_shared and a retry of the file_share (retry_attempt 1): all three
    acked within 3 s, one download, one preview card in the upload's thread."""
    file = app.fake.add_file("contacts.csv", CSV)
    ts = "1699999999.000100"
    share = app.fake.file_share_event(file, channel=CHANNEL, ts=ts)
    shared = app.fake.file_shared_event(file, channel=CHANNEL, ts=ts)
    first = app.event(share, "Ev0SHARE")
    also = app.event(shared, "Ev0SHARED")
    retry = app.event(share, "Ev0SHARE", retry_attempt=1)
    for envelope in (first, also, retry):
        app.assert_acked_in_time(envelope)

    card = app.fake.wait_for(app.cards, timeout=10, what="the preview card")[0]
    assert card.body["thread_ts"] == ts and card.body["channel"] == CHANNEL
    assert card.body["text"].startswith("Batch 1: 2 recipients, 2 SMS, ~2 credits")
    time.sleep(0.5)  # a second preview would be posted by now
    assert len(app.cards()) == 1
    downloads = [r for r in app.fake.requests if r.path.startswith("/files-pri/")]
    assert len(downloads) == 1
    app.assert_clean_exit()
