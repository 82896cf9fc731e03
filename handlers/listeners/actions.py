"""The card's buttons: Approve, Cancel, Options, Send me a test, and Stop (after approval).

Each listener acks at once. Approve and Cancel run on the job pool: the service decides
atomically (of any number of clicks exactly one approval counts) and records refusals in the
audit log; a refused click gets an ephemeral reason. The Approve value carries the batch id and
the digest of what the card showed, so nothing saved after posting is needed to approve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.errors import BatchNotFound
from bot.model import BatchState
from bot.service import Decision
from bot.testsend import TestAsk
from handlers.builders import ids, wording
from handlers.builders.blocks import parse_batch_value
from handlers.builders.views import options_modal

if TYPE_CHECKING:
    from handlers.services import Services


@dataclass(frozen=True, slots=True)
class Click:
    """One button click, unpacked from the block_actions payload."""

    user: str
    channel: str
    message_ts: str
    thread_ts: str | None
    batch_id: int
    digest: str
    trigger_id: str

    @classmethod
    def from_payload(cls, body: Mapping[str, Any], action: Mapping[str, Any]) -> Click:
        """Read the clicker, the card's location and the button's value."""
        container = body.get("container") or {}
        message = body.get("message") or {}
        batch_id, digest = parse_batch_value(str(action.get("value", "")))
        return cls(
            user=body["user"]["id"],
            channel=container.get("channel_id") or body["channel"]["id"],
            message_ts=container.get("message_ts") or message.get("ts", ""),
            thread_ts=message.get("thread_ts"),
            batch_id=batch_id,
            digest=digest,
            trigger_id=body.get("trigger_id", ""),
        )

    @property
    def location(self) -> tuple[str, str]:
        """The card's channel and ts."""
        return self.channel, self.message_ts


Listener = Callable[[Ack, dict[str, Any], dict[str, Any]], None]


def register(app: App, services: Services) -> None:
    """Listen for the three card buttons."""

    def tell(click: Click, text: str) -> None:
        services.io.ephemeral(click.channel, click.user, text, click.thread_ts)

    def decided(click: Click, decision: Decision) -> None:
        if decision.ok:
            services.notifier.refresh(click.batch_id, click.location)
        else:
            tell(click, wording.refused(decision.reason))

    def approve(click: Click) -> None:
        try:
            decided(click, services.batches.approve(click.batch_id, click.user, click.digest))
        except BatchNotFound:
            tell(click, wording.not_found(click.batch_id))

    def cancel(click: Click) -> None:
        try:
            decided(click, services.batches.cancel(click.batch_id, click.user))
        except BatchNotFound:
            tell(click, wording.not_found(click.batch_id))

    def stop(click: Click) -> None:
        try:
            result = services.batches.stops.stop(click.batch_id, click.user)
        except BatchNotFound:
            tell(click, wording.not_found(click.batch_id))
            return
        if not result.ok:
            tell(click, wording.refused(result.reason))
            return
        view = services.batches.get(click.batch_id)
        text = wording.stop_done(view.id, click.user, result.sent, result.in_flight, result.stopped)
        if result.scheduled:
            text += " " + wording.stop_scheduled(view.id, result.scheduled)
        thread = services.cards.thread_of(view) or click.message_ts
        services.io.say(view.channel_id, text, thread)
        services.notifier.refresh(click.batch_id, click.location)

    def test(click: Click) -> None:
        try:
            phone = services.io.user_phone(click.user)
        except SlackApiError as exc:
            tell(click, wording.profile_unreadable(str(exc.response.get("error", "error"))))
            return
        ask = TestAsk(
            click.batch_id, click.digest, click.user, phone, click.channel, click.thread_ts
        )
        try:
            queued = services.batches.tests.request(ask)
        except BatchNotFound:
            tell(click, wording.not_found(click.batch_id))
            return
        if not queued.ok:
            tell(click, wording.refused(queued.reason))
            return
        tell(click, wording.test_queued(click.batch_id, queued.msisdn))
        services.notifier.refresh(click.batch_id, click.location)

    def open_options(click: Click) -> str | None:
        """Open the Options modal; what to tell the clicker when it cannot be opened."""
        try:
            view = services.batches.get(click.batch_id)
        except BatchNotFound:
            return wording.not_found(click.batch_id)
        if view.state is not BatchState.PENDING:
            return wording.options_fixed(view.id, view.state.value)
        modal = options_modal(view.id, view.summary.options, click.channel, click.message_ts)
        error = services.io.try_open_view(click.trigger_id, modal)
        return wording.form_not_opened(error) if error else None

    # Listeners unpack first, then ack, then hand over: Bolt drops an ack whose listener
    # raises afterwards, so nothing after ack() may fail.

    def handed_over(name: str, work: Callable[[Click], None]) -> Listener:
        """A click listener that unpacks, acks, and runs `work` on the job pool."""

        def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            click = Click.from_payload(body, action)
            ack()
            services.jobs.submit(name, lambda: work(click), lambda t: tell(click, t))

        return listener

    def on_options(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        click = Click.from_payload(body, action)
        ack()
        # Opened here, not on the job pool: the trigger expires three seconds after the click.
        problem = open_options(click)
        if problem:
            services.jobs.submit("options refused", lambda: tell(click, problem), None)

    app.action(ids.APPROVE)(handed_over("approve", approve))
    app.action(ids.CANCEL)(handed_over("cancel", cancel))
    app.action(ids.OPTIONS)(on_options)
    app.action(ids.STOP)(handed_over("stop", stop))
    app.action(ids.TEST)(handed_over("test", test))
