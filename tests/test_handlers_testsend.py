"""The Send me a test button: the first message to the clicker's profile phone, told ephemerally."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.model import BatchState
from handlers.builders import ids
from tests.slack_harness import APPROVER, PREPARER, Harness, running_harness
from tests.test_handlers_approval import PASTE, approve_value, updates_of
from tests.test_handlers_stop import buttons


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The app around a fake Slack whose PREPARER has a phone on their profile."""
    with running_harness(tmp_path) as harness:
        harness.fake.profiles[PREPARER] = {"phone": "+44 (0)7700 900123"}
        yield harness


def ephemerals_to(h: Harness, user: str) -> list[str]:
    """Texts of the ephemeral messages one user was shown."""
    return [
        str(r.body["text"]) for r in h.fake.calls("chat.postEphemeral") if r.body["user"] == user
    ]


def test_a_test_goes_to_the_clickers_profile_phone_and_they_are_told(h: Harness) -> None:
    """users.info's phone, normalised; one one-message submission; status and batch_id told."""
    h.command(PASTE)
    card = h.wait_card()
    assert ids.TEST in buttons(card)
    h.click(ids.TEST, approve_value(card), PREPARER, card)
    result = h.fake.wait_for(
        lambda: [t for t in ephemerals_to(h, PREPARER) if t.startswith("Test of batch 1")],
        what="the test's result",
    )[0]
    assert re.fullmatch(
        r"Test of batch 1 to \+447700900123 accepted: status 0 IN_PROGRESS, batch_id (\d+) "
        r"\(simulation — nothing is sent\)",
        result,
    )
    [sent] = h.sim.processed
    assert sent.rows == (("447700900123", "Hello & bye"),)
    assert str(sent.batch_id) in result
    assert h.fake.calls("users.info")[0].body["user"] == PREPARER
    assert "+447700900123" in ephemerals_to(h, PREPARER)[0]  # queued, costs credits
    assert h.service.get(1).state is BatchState.PENDING
    shown = h.fake.wait_for(
        lambda: [u for u in updates_of(h, card) if "Test sent by" in json.dumps(u.blocks())],
        what="the card naming the test",
    )[-1]
    assert f"Test sent by <@{PREPARER}> to the number ending 0123" in json.dumps(shown.blocks())
    assert "900123" not in json.dumps(shown.blocks()).replace("ending 0123", "")
    assert ids.APPROVE in buttons(shown)  # still waiting for approval
    assert h.audit_events(1)[-3:] == ["test_requested", "test_attempt_started", "test_finished"]


def test_a_profile_without_a_phone_gets_the_reason_and_nothing_is_sent(h: Harness) -> None:
    """No phone on the profile: an ephemeral explanation, no EAPI request, a refusal on record."""
    h.command(PASTE)
    card = h.wait_card()
    h.click(ids.TEST, approve_value(card), APPROVER, card)
    told = h.fake.wait_for(lambda: ephemerals_to(h, APPROVER), what="the explanation")[0]
    assert "your Slack profile has no phone number" in told
    assert [r for r in h.sim.requests if "send_batch" in r.path] == []
    assert h.audit_events(1)[-1] == "test_refused"
