"""Approval from Slack: who may approve, exactly one submission, results in the thread."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.builders import ids
from tests.fake_slack import Recorded
from tests.slack_harness import (
    APPROVER,
    CHANNEL,
    GROUP_MEMBER,
    OUTSIDER,
    PREPARER,
    SECOND_APPROVER,
    Harness,
    running_harness,
)

PASTE = "msisdn,message\n447911123401,Hello & bye\n447911123402,<!channel> see <@U123>"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The app around a fake Slack and the simulator."""
    with running_harness(tmp_path) as harness:
        yield harness


def approve_value(card: Recorded) -> str:
    """The value of the card's Approve button."""
    for block in card.blocks():
        for element in block.get("elements", []):
            if element.get("action_id") == ids.APPROVE:
                return str(element["value"])
    raise AssertionError("no Approve button on the card")


def updates_of(h: Harness, card: Recorded) -> list[Recorded]:
    """Every chat.update of one card."""
    return [r for r in h.fake.calls("chat.update") if r.body["ts"] == h.ts_of(card)]


def wait_result(h: Harness, card: Recorded) -> str:
    """Wait for the submission result in the card's thread and return its text."""
    thread = card.body.get("thread_ts") or h.ts_of(card)
    found = h.fake.wait_for(
        lambda: [t for t in h.thread_texts(thread) if "status" in t], what="a result"
    )
    return str(found[0])


def test_pasted_csv_is_previewed_approved_and_sent_as_written(h: Harness) -> None:
    """Paste -> card -> approve -> one submission whose text is unescaped; result in the thread."""
    response = h.command(PASTE)
    assert response.status == 200 and "Checking" in str(response.body)
    card = h.wait_card()
    assert card.body["text"].startswith("Batch 1: 2 recipients, 2 SMS, ~2 credits")
    assert "(simulation — nothing is sent)" in card.body["text"]
    assert h.click(ids.APPROVE, approve_value(card), APPROVER, card).status == 200
    result = wait_result(h, card)
    assert re.fullmatch(
        r"Batch 1 submitted: status 0 IN_PROGRESS, batch_id \d+ \(simulation — nothing is sent\)",
        result,
    )
    assert len(h.sim.processed) == 1
    assert h.sim.processed[0].rows == (
        ("447911123401", "Hello & bye"),
        ("447911123402", "<!channel> see <@U123>"),
    )
    batch_id = str(h.sim.processed[0].batch_id)
    assert batch_id in result


def test_after_approval_the_card_loses_its_buttons_and_shows_who(h: Harness) -> None:
    """The card is edited in place: no actions block, the approver named, then the result."""
    h.command(PASTE)
    card = h.wait_card()
    h.click(ids.APPROVE, approve_value(card), APPROVER, card)
    wait_result(h, card)
    final = h.fake.wait_for(
        lambda: [u for u in updates_of(h, card) if "— sent" in u.body["text"]], what="final card"
    )[-1]
    blocks = final.blocks()
    assert not [b for b in blocks if b["type"] == "actions"]
    assert f"approved by <@{APPROVER}>" in json.dumps(blocks)
    assert "status 0 IN_PROGRESS, batch_id" in json.dumps(blocks)


def test_user_mentions_in_messages_are_escaped_in_the_card(h: Harness) -> None:
    """`<!channel>` and `<@U123>` from the CSV are shown escaped, pinging nobody."""
    h.command(PASTE)
    dumped = json.dumps(h.wait_card().blocks())
    assert "&lt;!channel&gt; see &lt;@U123&gt;" in dumped
    assert "<!channel>" not in dumped and "<@U123>" not in dumped


def test_the_preparer_cannot_approve_their_own_batch(h: Harness) -> None:
    """Self-approval gets an ephemeral reason, an audit entry, and no submission."""
    h.command(PASTE, user=APPROVER)
    card = h.wait_card()
    h.click(ids.APPROVE, approve_value(card), APPROVER, card)
    refusal = h.fake.wait_calls("chat.postEphemeral")[0]
    assert refusal.body["user"] == APPROVER and "you prepared batch 1" in refusal.body["text"]
    assert "approval_refused" in h.audit_events(1)
    assert h.sim.processed == [] and updates_of(h, card) == []


def test_someone_who_is_not_an_approver_is_refused(h: Harness) -> None:
    """A click by a non-approver changes nothing and is recorded."""
    h.command(PASTE)
    card = h.wait_card()
    h.click(ids.APPROVE, approve_value(card), OUTSIDER, card)
    refusal = h.fake.wait_calls("chat.postEphemeral")[0]
    assert "not an approver" in refusal.body["text"]
    assert h.audit_events(1).count("approval_refused") == 1
    assert h.sim.processed == []


def test_a_member_of_an_approver_user_group_may_approve(h: Harness) -> None:
    """Group members are resolved with usergroups.users.list."""
    h.command(PASTE)
    card = h.wait_card()
    h.click(ids.APPROVE, approve_value(card), GROUP_MEMBER, card)
    wait_result(h, card)
    assert h.fake.calls("usergroups.users.list")[0].body["usergroup"] == "STEAM"
    assert len(h.sim.processed) == 1


def test_double_clicks_and_two_approvers_give_one_submission(h: Harness) -> None:
    """Six concurrent clicks by two approvers: one approval, five refusals, one submission."""
    h.command(PASTE)
    card = h.wait_card()
    value = approve_value(card)
    clickers = [APPROVER, SECOND_APPROVER] * 3
    threads = [
        threading.Thread(target=h.click, args=(ids.APPROVE, value, who, card)) for who in clickers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_result(h, card)
    refusals = h.fake.wait_calls("chat.postEphemeral", 5)
    assert all("already approved by" in r.body["text"] for r in refusals)
    events = h.audit_events(1)
    assert events.count("approved") == 1 and events.count("approval_refused") == 5
    assert len(h.sim.processed) == 1


def test_cancel_by_the_preparer_stops_the_batch(h: Harness) -> None:
    """Cancel updates the card (no buttons, who cancelled) and nothing is ever sent."""
    h.command(PASTE)
    card = h.wait_card()
    h.click(ids.CANCEL, "1", PREPARER, card)
    update = h.fake.wait_for(lambda: updates_of(h, card), what="card update")[0]
    assert "cancelled by" in update.body["text"]
    assert not [b for b in update.blocks() if b["type"] == "actions"]
    h.click(ids.APPROVE, approve_value(card), APPROVER, card)
    assert "already cancelled" in h.fake.wait_calls("chat.postEphemeral")[0].body["text"]
    assert h.sim.processed == []


def test_options_change_the_preview_and_a_stale_approve_is_refused(h: Harness) -> None:
    """Options modal -> new card with a new digest; the old button no longer approves."""
    h.command(PASTE)
    card = h.wait_card()
    old_value = approve_value(card)
    h.click(ids.OPTIONS, "1", PREPARER, card)
    modal = h.fake.wait_calls("views.open")[0].body["view"]
    assert modal["callback_id"] == ids.OPTIONS_VIEW
    values = {
        ids.SENDER_INPUT: {ids.SENDER_INPUT: {"type": "plain_text_input", "value": "ACME"}},
        ids.ROUTING_INPUT: {ids.ROUTING_INPUT: {"selected_option": {"value": "2"}}},
    }
    assert h.submit_view(modal, values, PREPARER).status == 200
    redrawn = h.fake.wait_for(lambda: updates_of(h, card), what="redrawn card")[-1]
    assert "`ACME`" in json.dumps(redrawn.blocks())
    h.click(ids.APPROVE, old_value, APPROVER, card)
    assert "has changed" in h.fake.wait_calls("chat.postEphemeral")[0].body["text"]
    h.click(ids.APPROVE, approve_value(redrawn), APPROVER, card)
    wait_result(h, card)
    assert h.sim.processed[0].options["sender"] == "ACME"
    assert h.sim.processed[0].options["routing_group"] == "2"


def test_a_bad_sender_in_the_options_modal_is_shown_next_to_the_field(h: Harness) -> None:
    """Validation errors come back in the ack as response_action=errors."""
    h.command(PASTE)
    card = h.wait_card()
    h.click(ids.OPTIONS, "1", PREPARER, card)
    modal = h.fake.wait_calls("views.open")[0].body["view"]
    values = {ids.SENDER_INPUT: {ids.SENDER_INPUT: {"value": "WAY TOO LONG SENDER"}}}
    response = h.submit_view(modal, values, PREPARER)
    body = json.loads(str(response.body))
    assert body["response_action"] == "errors" and ids.SENDER_INPUT in body["errors"]


def test_new_batch_modal_with_pasted_rows_posts_a_preview(h: Harness) -> None:
    """`/smsbatch` opens the New batch modal; submitting rows previews them in the channel."""
    assert h.command("").status == 200
    modal = h.fake.wait_calls("views.open")[0].body["view"]
    assert modal["callback_id"] == ids.NEW_BATCH_VIEW
    values = {ids.PASTE_INPUT: {ids.PASTE_INPUT: {"value": "447911123401,Hi from the modal"}}}
    assert h.submit_view(modal, values, PREPARER).status == 200
    card = h.wait_card()
    assert card.body["channel"] == CHANNEL and "1 recipient," in card.body["text"]


def test_new_batch_modal_with_a_file_downloads_and_previews_it(h: Harness) -> None:
    """The file_input's file is fetched with the bot token and previewed."""
    file = h.fake.add_file("modal.csv", b"number,text\n447911123401,Hello\n")
    h.command("")
    modal = h.fake.wait_calls("views.open")[0].body["view"]
    values = {ids.FILE_INPUT: {ids.FILE_INPUT: {"files": [h.fake.full_file_object(file)]}}}
    h.submit_view(modal, values, PREPARER)
    assert "“modal.csv”" in json.dumps(h.wait_card().blocks(), ensure_ascii=False)


def test_status_balance_cancel_and_help_answer_the_person(h: Harness) -> None:
    """Each subcommand replies through the response_url (or at once in the ack)."""
    assert "status [BATCH]" in str(h.command("help").body)
    h.command(PASTE)
    h.wait_card()
    h.command("status 1")
    h.command("balance")
    h.command("status 99")
    h.fake.wait_for(lambda: len(h.responses()) >= 3, what="three replies")
    texts = sorted(str(r.body["text"]) for r in h.responses())
    assert any(t.startswith("Batch 1: 2 recipients") for t in texts)
    assert any("10000 credits" in t for t in texts)
    assert any("There is no batch 99" in t for t in texts)
    h.command("cancel 1", user=OUTSIDER)
    h.command("cancel 1")
    h.fake.wait_for(lambda: len(h.responses()) >= 5, what="cancel replies")
    texts = [str(r.body["text"]) for r in h.responses()[3:]]
    assert any("only the person who prepared" in t for t in texts)
    assert any("Batch 1 is cancelled" in t for t in texts)
    assert "cancelled" in h.audit_events(1) and "cancel_refused" in h.audit_events(1)


def test_unknown_input_gets_help(h: Harness) -> None:
    """Text that is neither a subcommand nor CSV is answered with help, ephemerally."""
    response = h.command("send everything now")
    assert "I did not understand" in str(response.body) and "/smsbatch" in str(response.body)


def test_a_rate_limited_post_is_retried_after_retry_after(h: Harness) -> None:
    """A 429 from chat.postMessage is retried; the card still arrives."""
    h.fake.rate_limit_once.add("chat.postMessage")
    h.command(PASTE)
    h.wait_card()
    assert len(h.fake.calls("chat.postMessage")) == 2


def test_an_unexpected_error_tells_the_user_a_reference_not_a_traceback(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener failure reaches the error handler: logged with traceback, user gets a ref."""
    h.command(PASTE)
    card = h.wait_card()
    started = time.monotonic()
    assert h.click(ids.APPROVE, "not-a-batch", APPROVER, card).status == 500
    assert time.monotonic() - started < 1.0
    reply = h.fake.wait_for(h.responses, what="an apology")[0]
    assert "Something went wrong" in reply.body["text"]
    assert "Traceback" not in reply.body["text"]
    assert any(r.exc_info for r in caplog.records if "listener failed" in r.getMessage())


def test_a_channel_the_app_cannot_post_in_gets_an_explanation(h: Harness) -> None:
    """not_in_channel: the person is told to invite the app, and the batch is cancelled."""
    h.fake.fail_once["chat.postMessage"] = "not_in_channel"
    h.command(PASTE)
    reply = h.fake.wait_for(h.responses, what="a reply")[0]
    assert "/invite @smsbatch" in reply.body["text"] and "not_in_channel" in reply.body["text"]
    assert h.service.get(1).state.value == "cancelled"


def test_a_failed_rejected_rows_upload_is_explained_in_the_thread(h: Harness) -> None:
    """Without files:write the card still stands and the thread says the file is missing."""
    h.fake.fail_once["files.getUploadURLExternal"] = "missing_scope"
    h.command(PASTE + "\n12,short")
    card = h.wait_card()
    note = h.fake.wait_for(lambda: h.thread_texts(h.ts_of(card)), what="a note")[0]
    assert "files:write" in note and "missing_scope" in note


def test_a_modal_that_cannot_open_is_explained(h: Harness) -> None:
    """An expired trigger (views.open refused) gets a reply instead of silence."""
    h.fake.fail_once["views.open"] = "expired_trigger_id"
    assert h.command("").status == 200
    reply = h.fake.wait_for(h.responses, what="a reply")[0]
    assert "did not open" in reply.body["text"] and "expired_trigger_id" in reply.body["text"]


def test_status_of_a_batch_from_another_conversation_is_not_shown(h: Harness) -> None:
    """`status N` in another channel does not reveal the batch's counts."""
    h.command(PASTE)
    h.wait_card()
    h.command("status 1", channel="C0ELSEWHERE")
    h.fake.wait_for(lambda: len(h.responses()) >= 1, what="a reply")
    text = str(h.responses()[0].body["text"])
    assert "another conversation" in text
    assert "recipients" not in text
