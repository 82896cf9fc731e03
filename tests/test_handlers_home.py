"""The Home tab: published on app_home_opened with the sender, queue and latest batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.home import Delivery, HomeBatch, HomeSnapshot, SenderStatus
from bot.model import BatchState
from handlers.builders import ids
from handlers.builders.blockcheck import check_view
from handlers.builders.home import home_view
from tests.fake_slack import Recorded
from tests.slack_harness import APPROVER, PREPARER, Harness, running_harness
from tests.test_handlers_approval import PASTE, approve_value


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The app around a fake Slack and an EAPI that takes 1.5 s per request."""
    with running_harness(tmp_path, sim_options={"latency": 1.5}) as harness:
        yield harness


def open_home(h: Harness, user: str) -> None:
    """Dispatch the app_home_opened event Slack sends when `user` opens the Home tab."""
    h.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"})


def published(h: Harness, user: str, count: int = 1) -> list[dict[str, Any]]:
    """The Home views published for one user, waiting for `count` of them."""

    def views() -> list[dict[str, Any]]:
        calls: list[Recorded] = h.fake.calls("views.publish")
        found = [c.body for c in calls if c.body.get("user_id") == user]
        return [json.loads(b["view"]) if isinstance(b["view"], str) else b["view"] for b in found]

    h.fake.wait_for(lambda: len(views()) >= count, what=f"{count} Home view(s) for {user}")
    return views()


def test_opening_the_home_tab_publishes_the_sender_and_an_empty_queue(h: Harness) -> None:
    """A first open: a valid home view, the sender running, nothing queued, New batch."""
    h.fake.wait_for(lambda: h.sender.holding_lease, what="the sender to take its lease")
    open_home(h, PREPARER)
    [view] = published(h, PREPARER)
    assert view["type"] == "home" and check_view(view) == []
    text = json.dumps(view, ensure_ascii=False)
    assert "Sender running" in text and "Nothing is waiting to be sent." in text
    assert "No batches yet" in text and ids.HOME_NEW_BATCH in text
    assert "10000 credits" in text


def test_the_home_tab_shows_the_queue_and_the_latest_batches(h: Harness) -> None:
    """Two batches, one approved and being sent: the queue names it; both are listed."""
    h.command(PASTE)
    first = h.wait_card()
    h.command(PASTE)
    h.wait_card(2)
    h.click(ids.APPROVE, approve_value(first), APPROVER, first)
    h.fake.wait_for(lambda: h.store.open_attempts(), what="batch 1 being sent")
    open_home(h, PREPARER)
    text = json.dumps(published(h, PREPARER)[0], ensure_ascii=False)
    assert f"1. Batch 1 — sending, approved by <@{APPROVER}>, 2 recipients" in text
    assert "*Batch 2* — waiting for approval" in text and "*Batch 1* — sending" in text
    assert text.index("*Batch 2*") < text.index("*Batch 1*")  # newest first


def test_a_viewer_sees_a_change_without_reopening(h: Harness) -> None:
    """After an open, a new batch is published to that viewer's Home tab again."""
    open_home(h, APPROVER)
    published(h, APPROVER)
    h.command(PASTE)
    h.wait_card()
    later = published(h, APPROVER, 2)[-1]
    assert "*Batch 1* — waiting for approval" in json.dumps(later, ensure_ascii=False)
    assert published(h, PREPARER, 0) == []  # nobody else's tab is published


def test_new_batch_on_the_home_tab_opens_the_new_batch_modal_for_the_dm(h: Harness) -> None:
    """The button opens the same modal as /smsbatch; its preview goes to the DM with the app."""
    open_home(h, PREPARER)
    published(h, PREPARER)
    h.interaction(
        {
            "type": "block_actions",
            "user": {"id": PREPARER, "team_id": "T0001"},
            "team": {"id": "T0001"},
            "api_app_id": "A0APP",
            "container": {"type": "view", "view_id": "V0001"},
            "trigger_id": "trigger-home",
            "actions": [
                {"action_id": ids.HOME_NEW_BATCH, "block_id": "b", "type": "button", "value": "new"}
            ],
        }
    )
    [opened] = h.fake.wait_calls("views.open")
    view = (
        json.loads(opened.body["view"])
        if isinstance(opened.body["view"], str)
        else opened.body["view"]
    )
    assert view["callback_id"] == ids.NEW_BATCH_VIEW
    assert json.loads(view["private_metadata"])["channel"] == "D" + PREPARER[1:]
    assert h.fake.calls("conversations.open")[0].body["users"] == PREPARER


def line(batch_id: int, state: BatchState, position: int | None = None) -> HomeBatch:
    """A Home tab line for the builder tests."""
    return HomeBatch(
        batch_id, state, 3, Decimal(3), PREPARER, APPROVER, 1_800_000_000.0, position, False, False
    )


def test_the_builder_shows_delivery_counts_and_the_suppression_list_when_given() -> None:
    """Optional figures from other features appear only when they are passed in."""
    sender = SenderStatus(True, None, "host:1", 0, 1_800_000_000.0)
    snapshot = HomeSnapshot(sender, (), (line(7, BatchState.SENT),))
    plain = json.dumps(home_view(snapshot, balance=None), ensure_ascii=False)
    assert "Delivery" not in plain and "Suppression list" not in plain
    full = home_view(snapshot, balance=Decimal(5), delivery={7: Delivery(3, 1, 0)}, suppressed=2)
    text = json.dumps(full, ensure_ascii=False)
    assert "Delivery: 3 delivered, 1 failed, 0 pending" in text
    assert "*Suppression list*\\n2 numbers" in text and "5 credits" in text


def test_a_long_queue_and_history_stay_inside_block_kit_limits() -> None:
    """Hundreds of queued batches: one cut section; at most ten latest; under 100 blocks."""
    sender = SenderStatus(False, "no sender has ever run on this database", None, None, None)
    queue = tuple(line(i, BatchState.APPROVED, i) for i in range(1, 301))
    latest = tuple(line(i, BatchState.APPROVED, i) for i in range(300, 250, -1))
    view = home_view(HomeSnapshot(sender, queue, latest), balance=Decimal(1))
    assert check_view(view) == [] and len(view["blocks"]) <= 100
    text = json.dumps(view, ensure_ascii=False)
    assert "and 285 more" in text and "Sender down" in text


def test_the_home_tab_shows_the_suppression_list_and_delivery_counts_of_the_app(
    h: Harness,
) -> None:
    """Wired as the app wires them: the list's size, and a batch's counts once reports came."""
    assert h.consent is not None
    h.consent.add(["07700900123", "07700900124"], PREPARER)
    h.command(PASTE)
    h.wait_card()
    with h.store.write() as tx:  # a report arrived for batch 1 (as the report poller records)
        tx._run("UPDATE batches SET delivery_first_at = 1 WHERE id = 1")
    open_home(h, PREPARER)
    text = json.dumps(published(h, PREPARER)[0], ensure_ascii=False)
    assert "*Suppression list*\\n2 numbers" in text
    assert "0 delivered" in text
