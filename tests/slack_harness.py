"""The real app around a fake Slack, the EAPI simulator and a temporary SQLite database.

`running_harness(tmp_path)` builds exactly what bot.cli.run builds — store, EAPI client, sender
thread (with its delivery-report poller), BatchService, SlackSide, Bolt app — but with
WebClient(base_url=fake) and the simulator on 127.0.0.1. Requests are signed with the signing
secret and dispatched through Bolt, as Slack's HTTP deliveries would be.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from bot.cli.run import add_inbox
from bot.config import Settings, settings_from_env
from bot.consent import ConsentService
from bot.eapi.client import EapiClient
from bot.eapi.simulator.server import SimulatorServer
from bot.intake.pricing import PriceTable
from bot.sending.inbox import InboxTask
from bot.sending.reports import ReportPoller
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from bot.service import BatchService
from bot.store.db import Store
from handlers.app import create_app
from handlers.plumbing.slackio import make_web_client
from handlers.services import Services, SlackSide
from tests.eapi_fixtures import SIM_PASSWORD, SIM_USERNAME, client_for, running_simulator
from tests.fake_slack import TEAM, FakeSlack, Recorded, running_fake_slack

SIGNING_SECRET = "test-signing-secret-8f7c"
PREPARER = "UPREPARER"
APPROVER = "UAPPROVER"
SECOND_APPROVER = "USECOND"
GROUP = "STEAM"
GROUP_MEMBER = "UGROUPIE"
OUTSIDER = "UOUTSIDER"
CHANNEL = "C0CHANNEL"


@dataclass
class Harness:
    """The running app and its fakes, with helpers to dispatch signed Slack requests."""

    fake: FakeSlack
    sim: SimulatorServer
    settings: Settings
    store: Store
    service: BatchService
    sender: Sender
    services: Services
    app: App
    clients: list[EapiClient] = field(default_factory=list)
    consent: ConsentService | None = None
    inbox: InboxTask | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def signed(self, body: str, content_type: str, **extra: str) -> BoltRequest:
        """A BoltRequest with a valid signature over exactly `body`."""
        stamp = str(int(time.time()))
        signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
        headers = {
            "content-type": [content_type],
            "x-slack-signature": [signature],
            "x-slack-request-timestamp": [stamp],
            **{k: [v] for k, v in extra.items()},
        }
        return BoltRequest(body=body, headers=headers)

    def command(self, text: str, user: str = PREPARER, channel: str = CHANNEL) -> BoltResponse:
        """Dispatch `/smsbatch TEXT` (Slack escapes &, < and > in the text)."""
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return self.raw_command(escaped, user, channel)

    def raw_command(self, text: str, user: str = PREPARER, channel: str = CHANNEL) -> BoltResponse:
        """Dispatch `/smsbatch` with text exactly as Slack would deliver it."""
        n = next(self._ids)
        form = {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/smsbatch",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": f"{self.fake.url}/response/command-{n}",
            "trigger_id": f"trigger-{n}",
        }
        body = urlencode(form)
        return self.app.dispatch(self.signed(body, "application/x-www-form-urlencoded"))

    def event(
        self, event: dict[str, Any], event_id: str | None = None, retry: int = 0
    ) -> BoltResponse:
        """Dispatch an Events API delivery (optionally marked as Slack's retry number `retry`)."""
        payload = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "event": event,
        }
        extra = {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        body = json.dumps(payload)
        return self.app.dispatch(self.signed(body, "application/json", **(extra if retry else {})))

    def interaction(self, payload: dict[str, Any]) -> BoltResponse:
        """Dispatch an interactivity payload (form-encoded `payload=`)."""
        body = "payload=" + quote(json.dumps(payload))
        return self.app.dispatch(self.signed(body, "application/x-www-form-urlencoded"))

    def click(self, action_id: str, value: str, user: str, card: Recorded) -> BoltResponse:
        """Click a button on a posted card (`card` is the recorded chat.postMessage)."""
        n = next(self._ids)
        ts = self.ts_of(card)
        message = {"type": "message", "ts": ts, "text": card.body.get("text")}
        if card.body.get("thread_ts"):
            message["thread_ts"] = card.body["thread_ts"]
        return self.interaction(
            {
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
                "trigger_id": f"trigger-{n}",
                "channel": {"id": card.body["channel"], "name": "general"},
                "message": message,
                "response_url": f"{self.fake.url}/response/action-{n}",
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "smsbatch_actions",
                        "value": value,
                        "type": "button",
                        "action_ts": str(time.time()),
                    }
                ],
            }
        )

    def submit_view(self, view: dict[str, Any], values: dict[str, Any], user: str) -> BoltResponse:
        """Submit a modal that the app opened (`view` as sent to views.open) with `values`."""
        submitted = {**view, "id": "V0001", "state": {"values": values}}
        return self.interaction(
            {
                "type": "view_submission",
                "team": {"id": TEAM, "domain": "example"},
                "user": {"id": user, "username": user.lower(), "team_id": TEAM},
                "api_app_id": "A0APP",
                "token": "legacy",
                "trigger_id": f"trigger-{next(self._ids)}",
                "view": submitted,
            }
        )

    def ts_of(self, post: Recorded) -> str:
        """The ts the fake gave a recorded chat.postMessage."""
        return str(post.answer["ts"])

    def cards(self) -> list[Recorded]:
        """Every preview card Slack accepted (messages that carry blocks)."""
        return [r for r in self.fake.calls("chat.postMessage") if r.blocks() and r.answer.get("ok")]

    def wait_card(self, count: int = 1) -> Recorded:
        """Wait for the `count`-th card and return it."""
        found = self.fake.wait_for(lambda: len(self.cards()) >= count, what=f"{count} card(s)")
        assert found
        return self.cards()[count - 1]

    def thread_texts(self, thread_ts: str) -> list[str]:
        """Texts of plain messages the app posted in one thread."""
        return [
            str(r.body.get("text"))
            for r in self.fake.calls("chat.postMessage")
            if r.body.get("thread_ts") == thread_ts and not r.blocks()
        ]

    def responses(self) -> list[Recorded]:
        """Everything sent to response_url sinks (respond())."""
        return [r for r in self.fake.requests if r.path.startswith("/response/")]

    def audit_events(self, batch_id: int | None = None) -> list[str]:
        """The audit log's event names, oldest first."""
        return [str(e.event) for e in self.store.audit_entries(batch_id)]


def make_settings(fake: FakeSlack, sim: SimulatorServer, db: Path, **env: str) -> Settings:
    """Settings as the environment of a test deployment would give them."""
    values = {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "EAPI_URL": sim.url,
        "EAPI_USERNAME": SIM_USERNAME,
        "EAPI_PASSWORD": SIM_PASSWORD,
        "SMSBATCH_DB": str(db),
        "SMSBATCH_APPROVERS": f"{APPROVER},{SECOND_APPROVER},{GROUP}",
        "SMSBATCH_RETRY_BASE_SECONDS": "0.05",
        "SMSBATCH_RETRY_CAP_SECONDS": "0.2",
        # Off unless a test asks: other tests count the requests the simulator received.
        "SMSBATCH_INBOX_POLL_SECONDS": "0",
        **env,
    }
    return settings_from_env(values)


@contextmanager
def running_harness(
    tmp_path: Path,
    *,
    service_class: type[BatchService] = BatchService,
    min_edit_interval: float = 0.05,
    sim_options: dict[str, Any] | None = None,
    **env: str,
) -> Iterator[Harness]:
    """The whole app, started; everything stopped (and Block Kit problems checked) on exit."""
    with running_fake_slack() as fake, running_simulator(**(sim_options or {})) as sim:
        fake.groups[GROUP] = [GROUP_MEMBER]
        settings = make_settings(fake, sim, tmp_path / "smsbatch.db", **env)
        harness = _build(fake, sim, settings, service_class, min_edit_interval)
        try:
            yield harness
        finally:
            harness.sender.stop()
            harness.services.close()
            for client in harness.clients:
                client.close()
            harness.store.close()
        assert fake.problems == [], fake.problems


def _build(
    fake: FakeSlack,
    sim: SimulatorServer,
    settings: Settings,
    service_class: type[BatchService],
    min_edit_interval: float,
) -> Harness:
    store = Store.open(settings.db_path)
    eapi, balance = client_for(sim), client_for(sim)
    client = make_web_client(settings)  # the production factory: base URL, 429 retries
    slack = SlackSide(
        settings, client, balance=balance.get_credits, min_edit_interval=min_edit_interval
    )
    reports = ReportPoller(store, eapi, slack.notifier, settings.report_delays)
    sender = Sender(
        store,
        eapi,
        slack.notifier,
        RetryPolicy.from_settings(settings),
        dedup_window_seconds=settings.dedup_window_seconds,
        idle_seconds=0.2,
        side_tasks=[reports],
    )
    service = service_class(
        store,
        settings,
        PriceTable.load(None),
        is_approver=slack.approvers.is_approver,
        notifier=slack.notifier,
        wake_sender=sender.wake,
        simulated=True,
    )
    consent = ConsentService(
        store, settings.default_country, is_approver=slack.approvers.is_approver
    )
    services = slack.bind(service, simulated=True, consent=consent)
    inbox = add_inbox(settings, store, eapi, sender, services)
    app = create_app(settings, services, client=client)
    sender.start()
    harness = Harness(fake, sim, settings, store, service, sender, services, app, [eapi, balance])
    harness.consent, harness.inbox = consent, inbox
    return harness
