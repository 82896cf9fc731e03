"""The Stop button in Slack: a slow three-submission batch stopped after the first one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.builders import ids
from tests.fake_slack import Recorded
from tests.slack_harness import APPROVER, OUTSIDER, PREPARER, Harness, running_harness
from tests.test_handlers_approval import approve_value

SIX_ROWS = "msisdn,message\n" + "\n".join(f"4479111234{i:02d},Hello {i}" for i in range(6))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The app with two messages a submission and an EAPI that takes 0.6 s to answer."""
    with running_harness(
        tmp_path, sim_options={"latency": 0.6}, SMSBATCH_CHUNK_SIZE="2"
    ) as harness:
        yield harness


def buttons(post: Recorded) -> list[str]:
    """The action_ids of the buttons a card carries."""
    return [
        element["action_id"]
        for block in post.blocks()
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def card_updates(h: Harness, card: Recorded) -> list[Recorded]:
    """Every edit of the card."""
    return [u for u in h.fake.calls("chat.update") if u.body["ts"] == h.ts_of(card)]


def approve_and_wait_in_flight(h: Harness) -> Recorded:
    """Paste six rows, approve, and wait until the first submission is under way."""
    h.command(SIX_ROWS)
    card = h.wait_card()
    h.click(ids.APPROVE, approve_value(card), APPROVER, card)
    h.fake.wait_for(lambda: h.store.open_attempts(), what="the first request under way")
    return card


def test_stop_after_the_first_submission_sends_exactly_one(h: Harness) -> None:
    """Stop while submission 1 of 3 is under way: it finishes; 2 and 3 never reach the EAPI."""
    card = approve_and_wait_in_flight(h)
    with_stop = h.fake.wait_for(
        lambda: [u for u in card_updates(h, card) if ids.STOP in buttons(u)], what="Stop button"
    )
    h.click(ids.STOP, "1", PREPARER, card)
    thread = h.ts_of(card)
    h.fake.wait_for(
        lambda: [t for t in h.thread_texts(thread) if "finished" in t], timeout=10, what="the end"
    )
    submissions = [r for r in h.sim.requests if r.path.endswith("/send_batch/1/1.0")]
    assert len(h.sim.processed) == 1 and len(submissions) == 1
    texts = h.thread_texts(thread)
    assert (
        f"Batch 1 stopped by <@{PREPARER}>: 0 messages already sent, 2 messages in a submission "
        "under way (it cannot be recalled); 4 messages will not be sent." in texts
    )
    assert any(
        t.startswith(
            "Batch 1 finished — partly sent: 1 of 3 submissions accepted "
            "(2 messages sent); 2 stopped (4 messages not sent)"
        )
        for t in texts
    )
    final = h.fake.wait_for(
        lambda: [u for u in card_updates(h, card) if "partly sent" in u.body["text"]],
        what="the final card",
    )[-1]
    assert ids.STOP not in buttons(final) and with_stop
    assert "*Stopped* by" in json.dumps(final.blocks())
    assert "stopped: not submitted" in json.dumps(final.blocks())
    assert "stopped" in h.audit_events(1)


def test_a_late_second_click_and_an_outsider_change_nothing(h: Harness) -> None:
    """After the stop, another click is told who stopped it; an outsider is told who may."""
    card = approve_and_wait_in_flight(h)
    h.click(ids.STOP, "1", OUTSIDER, card)
    outsider = h.fake.wait_calls("chat.postEphemeral")[0]
    assert (
        outsider.body["user"] == OUTSIDER and "or an approver can stop it" in outsider.body["text"]
    )
    h.click(ids.STOP, "1", APPROVER, card)
    thread = h.ts_of(card)
    h.fake.wait_for(lambda: [t for t in h.thread_texts(thread) if "stopped by" in t], what="stop")
    h.click(ids.STOP, "1", PREPARER, card)
    late = h.fake.wait_calls("chat.postEphemeral", 2)[1]
    assert late.body["user"] == PREPARER
    assert f"already stopped by <@{APPROVER}>" in late.body["text"]
    h.fake.wait_for(
        lambda: [t for t in h.thread_texts(thread) if "finished" in t], timeout=10, what="the end"
    )
    assert len([t for t in h.thread_texts(thread) if "stopped by" in t]) == 1
    assert len(h.sim.processed) == 1
    assert h.audit_events(1).count("stop_refused") == 2
