"""What Slack sends the app in the ack benchmark: signed slash commands, clicks and upload events.

Bodies are built as Slack builds them (form-encoded command, `payload=` JSON for a
block_actions click, JSON event callback) and signed with the app's signing secret, so each
request goes through Bolt's whole path: signature check, parsing, middleware, listener, ack.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
from slack_sdk.signature import SignatureVerifier

from tests.fake_slack import FakeSlack, Recorded

TEAM = "T0001"
CHANNEL = "C0CHANNEL"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Timed:
    """One request: when it was sent (perf_counter), how long its answer took, and its kind."""

    kind: str
    sent: float
    seconds: float


class SlackClient:
    """Posts signed requests to the app's /slack/events over one kept-alive connection."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = f"{url}/slack/events"
        self._verifier = SignatureVerifier(secret)
        self._session = requests.Session()

    def post(self, body: str, content_type: str, kind: str) -> Timed:
        """Sign and POST one body; timed from the send (after signing) to the complete answer."""
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self._verifier.generate_signature(timestamp=stamp, body=body),
        }
        data = body.encode()
        started = time.perf_counter()
        response = self._session.post(self.url, data=data, headers=headers, timeout=10)
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"a {kind} was answered HTTP {response.status_code}")
        return Timed(kind, started, seconds)

    def close(self) -> None:
        """Close the connection."""
        self._session.close()


def command(fake: FakeSlack, text: str, user: str, n: int) -> str:
    """A `/smsbatch` slash-command form body."""
    return urlencode(
        {
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "user_id": user,
            "command": "/smsbatch",
            "text": text,
            "response_url": f"{fake.url}/response/cmd-{n}",
            "trigger_id": f"trigger-cmd-{n}",
            "api_app_id": "A0APP",
        }
    )


def button_value(card: Recorded, action_id: str) -> str:
    """The value of one button on a posted card."""
    for block in card.blocks():
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise RuntimeError(f"the card has no {action_id} button")


def click(
    fake: FakeSlack, card: Recorded, action_id: str, user: str, n: int, value: str | None = None
) -> str:
    """A block_actions body: `user` clicks one button of a posted card (or one with `value`:
    a button the card gains later, such as Stop)."""
    ts = str(card.answer["ts"])
    message: dict[str, Any] = {"type": "message", "ts": ts, "text": card.body.get("text")}
    if card.body.get("thread_ts"):
        message["thread_ts"] = card.body["thread_ts"]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0APP",
        "token": "legacy",
        "team": {"id": TEAM, "domain": "example"},
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": card.body["channel"],
            "is_ephemeral": False,
        },
        "trigger_id": f"trigger-click-{n}",
        "channel": {"id": card.body["channel"], "name": "general"},
        "message": message,
        "response_url": f"{fake.url}/response/click-{n}",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "smsbatch_actions",
                "value": value if value is not None else button_value(card, action_id),
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }
    return "payload=" + quote(json.dumps(payload))


def home_opened(user: str, n: int) -> str:
    """An `app_home_opened` event callback: `user` opens the app's Home tab (JSON body)."""
    payload = {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": f"EvHOME{n:06d}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D{user[1:]}",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        },
    }
    return json.dumps(payload)


def upload_event(fake: FakeSlack, data: bytes, n: int) -> str:
    """A `message`/`file_share` event callback for a new upload of `data` (JSON body)."""
    file = fake.add_file(f"upload-{n}.csv", data)
    ts = f"{1_700_000_000 + n}.000100"
    event = fake.file_share_event(file, channel=CHANNEL, ts=ts)
    payload = {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": f"EvBENCH{n:06d}",
        "event_time": int(time.time()),
        "event": event,
    }
    return json.dumps(payload)


def cards(fake: FakeSlack) -> list[Recorded]:
    """Every preview card the app posted (messages with blocks that Slack accepted)."""
    # Blocks are only looked for, not parsed: this runs in polling loops in the bench process,
    # whose CPU time would otherwise inflate the latencies it measures.
    return [
        r for r in fake.calls("chat.postMessage") if r.body.get("blocks") and r.answer.get("ok")
    ]
