"""Pure Block Kit builders, wording and command parsing: what a person sees, within limits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.intake.plan import IntakeLimits, plan_text
from bot.intake.pricing import PriceTable
from bot.model import BatchState, Dca, Progress, ProgressKind, SendOptions, TestMode
from bot.service import BatchView, ChunkView
from handlers.builders import ids
from handlers.builders.blockcheck import check_blocks, check_message, check_view
from handlers.builders.blocks import CardContext, card, parse_batch_value, sample_text
from handlers.builders.views import new_batch_modal, options_modal, read_new_batch, read_options
from handlers.builders.wording import escape, submission_result, unescape_command
from handlers.listeners.commands import Kind, parse_command

CREATED = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
CTX = CardContext(approvers=("U_APPROVER", "S_GROUP"), balance=Decimal(10000))


def make_view(csv: str, **changes: Any) -> BatchView:
    """A BatchView around the real intake's plan of `csv`."""
    plan = plan_text(csv, SendOptions(), IntakeLimits(max_parts=10), PriceTable.load(None))
    view = BatchView(
        id=12,
        state=BatchState.PENDING,
        plan=plan,
        digest="d" * 64,
        prepared_by="U_PREPARER",
        channel_id="C1",
        thread_ts="1700000000.000001",
        card_ts=None,
        created_at=CREATED,
        decided_by=None,
        decided_at=None,
        chunks=(),
        queue_position=None,
        file_name="list.csv",
        simulated=False,
    )
    return replace(view, **changes)


THREE = "msisdn,message\n447911123401,Hello\n447911123402,Hi there\n447911123403,Bye\n"


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button in the blocks."""
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_pending_card_states_counts_and_credits_as_digits() -> None:
    """The fallback text says recipients, SMS and credits as digits, and that it waits."""
    message = card(make_view(THREE), CTX)
    assert message.text == "Batch 12: 3 recipients, 3 SMS, ~3 credits — waiting for approval"
    assert check_message(message.text, message.blocks) == []


def test_pending_card_has_approve_cancel_and_options_buttons() -> None:
    """Approve (primary, confirm repeating count and cost), Cancel (danger) and Options."""
    view = make_view(THREE)
    found = {b["action_id"]: b for b in buttons(card(view, CTX).blocks)}
    assert set(found) == {ids.APPROVE, ids.CANCEL, ids.OPTIONS, ids.TEST}
    approve = found[ids.APPROVE]
    assert "Approve" in approve["text"]["text"] and approve["style"] == "primary"
    assert parse_batch_value(approve["value"]) == (12, "d" * 64)
    assert "3 messages" in approve["confirm"]["text"]["text"]
    assert "3 credits" in approve["confirm"]["text"]["text"]
    assert "Cancel" in found[ids.CANCEL]["text"]["text"] and found[ids.CANCEL]["style"] == "danger"


def test_user_text_is_escaped_everywhere_in_the_card() -> None:
    """Mentions and HTML-ish text from the CSV and the file name ping nobody."""
    csv = "msisdn,message\n447911123401,<!channel> call <@U123> & <https://x.example|here>\n"
    view = make_view(csv, file_name="<!here>.csv")
    dumped = json.dumps(card(view, CTX).blocks)
    assert "<!channel>" not in dumped and "<@U123>" not in dumped and "<!here>" not in dumped
    assert "&lt;!channel&gt; call &lt;@U123&gt; &amp; &lt;https://x.example|here&gt;" in dumped


def test_sample_shows_the_text_as_sent_and_cannot_close_its_code_block() -> None:
    """Triple backticks in a message are kept apart on screen so the code block holds."""
    assert "```" not in sample_text("a ``` b")
    assert sample_text("x < y & z") == "x &lt; y &amp; z"


def test_rejected_rows_are_listed_with_line_column_reason_and_value() -> None:
    """The card names the first rejected rows and points at the full CSV in the thread."""
    view = make_view("msisdn,message\n12,hello <b>\n447911123402,Hi\n")
    dumped = json.dumps(card(view, CTX).blocks)
    assert "Rejected rows (1)" in dumped and "line 2, msisdn" in dumped
    assert "CSV file" in dumped


def test_huge_batches_stay_within_limits_and_say_how_many_more() -> None:
    """Thousands of rows, rejects and countries are cut with '… and N more' inside the limits."""
    rows = [f"447911{i:06d},{'long message € ' * 30}{i}" for i in range(300)]
    rows += [f"bad{i},x" for i in range(200)]
    rows += [f"+4915123{i:06d},Hallo {i}" for i in range(50)]
    rows += [f"+3361234{i:04d},Salut {i}" for i in range(50)]
    message = card(make_view("msisdn,message\n" + "\n".join(rows) + "\n"), CTX)
    assert check_message(message.text, message.blocks) == []
    assert "… and 195 more" in json.dumps(message.blocks, ensure_ascii=False)


def test_long_column_and_approver_lists_say_how_many_more() -> None:
    """Twelve extra columns and ten approvers: eight of each are named, then '… and N more'."""
    extra = [f"Field{n}" for n in range(12)]
    csv = ",".join(["msisdn", "message", *extra]) + "\n447911123401,Hi" + ",x" * 12 + "\n"
    approvers = tuple(f"U{n:04d}" for n in range(10))
    blocks = card(make_view(csv), replace(CTX, approvers=approvers)).blocks
    text = json.dumps(blocks, ensure_ascii=False)
    assert "“Field7”, … and 4 more" in text and "Field8" not in text
    assert "<@U0007>, … and 2 more" in text and "U0008" not in text


def test_decided_card_has_no_buttons_and_says_who_and_where_in_the_queue() -> None:
    """After approval the card keeps its summary, loses its buttons and shows the decision."""
    pending = card(make_view(THREE), CTX)
    view = make_view(
        THREE,
        state=BatchState.APPROVED,
        decided_by="U_APPROVER",
        decided_at=CREATED,
        queue_position=2,
    )
    approved = card(view, CTX)
    assert buttons(approved.blocks) == []
    assert "approved by <@U_APPROVER>, position 2 in the queue" in approved.text
    assert "Position 2 in the sending queue" in json.dumps(approved.blocks)
    old_ids = {b["block_id"] for b in pending.blocks}
    assert not old_ids & {b["block_id"] for b in approved.blocks}


def test_finished_card_lists_each_submission_with_status_and_batch_id() -> None:
    """Chunk lines carry the EAPI status code, description and batch_id."""
    chunk = ChunkView(0, 3, Dca.SEVEN_BIT, "accepted", 77, 1, 0, "IN_PROGRESS", 4712345678)
    view = make_view(THREE, state=BatchState.SENT, decided_by="U_A", chunks=(chunk,))
    dumped = json.dumps(card(view, CTX).blocks)
    assert "status 0 IN_PROGRESS, batch_id 4712345678" in dumped


def test_simulated_cards_say_nothing_is_sent() -> None:
    """With the simulator, the card and its fallback text say so."""
    message = card(make_view(THREE, simulated=True), CTX)
    assert message.text.endswith("(simulation — nothing is sent)")
    assert "nothing is sent" in json.dumps(message.blocks)


def test_without_approvers_the_card_says_nobody_can_approve() -> None:
    """Empty SMSBATCH_APPROVERS is named on the card."""
    dumped = json.dumps(card(make_view(THREE), CardContext()).blocks)
    assert "Nobody can approve: set SMSBATCH_APPROVERS" in dumped
    assert "Account balance*\\nunknown" in dumped


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([{"type": "divider"}] * 51, "51 blocks, the limit is 50"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "limit is 3000"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "non-empty"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "text": {"type": "plain_text", "text": "x" * 76},
                        }
                    ],
                }
            ],
            "limit is 75",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a" * 256,
                            "text": {"type": "plain_text", "text": "x"},
                        }
                    ],
                }
            ],
            "limit is 255",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "value": "v" * 2001,
                            "text": {"type": "plain_text", "text": "x"},
                        }
                    ],
                }
            ],
            "limit is 2000",
        ),
        (
            [{"type": "divider", "block_id": "same"}, {"type": "divider", "block_id": "same"}],
            "used twice",
        ),
        ([{"type": "video"}], "unknown block type"),
    ],
)
def test_validator_catches_each_broken_limit(blocks: list[dict[str, Any]], problem: str) -> None:
    """The limits checker names the limit a payload breaks."""
    assert any(problem in p for p in check_blocks(blocks))


def test_validator_checks_confirm_dialog_and_fallback_length() -> None:
    """A confirm title over 100 characters and a fallback over 4000 are reported."""
    button = {
        "type": "button",
        "action_id": "a",
        "text": {"type": "plain_text", "text": "Go"},
        "confirm": {
            "title": {"type": "plain_text", "text": "t" * 101},
            "text": {"type": "plain_text", "text": "ok"},
            "confirm": {"type": "plain_text", "text": "Yes"},
            "deny": {"type": "plain_text", "text": "No"},
        },
    }
    problems = check_message("x" * 4001, [{"type": "actions", "elements": [button]}])
    assert any("limit is 4000" in p for p in problems)
    assert any("confirm.title" in p for p in problems)


def test_modals_are_valid_views_carrying_their_callback_ids() -> None:
    """Both modals pass the view checks and use the ids the app listens for."""
    options = SendOptions(sender="ACME", routing_group=2, send_at=1_900_000_000)
    for view, callback in (
        (new_batch_modal("C1"), ids.NEW_BATCH_VIEW),
        (options_modal(12, options, "C1", "1.2"), ids.OPTIONS_VIEW),
    ):
        assert check_view(view) == []
        assert view["callback_id"] == callback


def state(**inputs: dict[str, Any]) -> dict[str, Any]:
    """A view submission's state.values for the given inputs (block_id == action_id)."""
    return {key: {key: value} for key, value in inputs.items()}


def test_options_form_reads_every_input() -> None:
    """Sender, routing group, schedule and test mode come back as SendOptions."""
    values = state(
        smsbatch_sender={"type": "plain_text_input", "value": " ACME "},
        smsbatch_routing_group={"selected_option": {"value": "2"}},
        smsbatch_schedule={"selected_date_time": 1_900_000_000},
        smsbatch_test_mode={"selected_option": {"value": "succeed"}},
    )
    form = read_options(values, now=1_800_000_000)
    assert form.errors == {}
    assert form.options == SendOptions("ACME", 2, 1_900_000_000, TestMode.SUCCEED)


def test_options_form_refuses_a_past_time_and_a_bad_sender() -> None:
    """Errors are keyed by the block Slack shows them under."""
    values = state(
        smsbatch_sender={"value": "THIS SENDER IS FAR TOO LONG"},
        smsbatch_schedule={"selected_date_time": 1_000},
    )
    form = read_options(values, now=1_800_000_000)
    assert set(form.errors) == {ids.SENDER_INPUT, ids.SCHEDULE_INPUT}


def test_new_batch_form_needs_exactly_one_of_file_or_rows() -> None:
    """Neither, or both, is an error; one alone is accepted."""
    assert ids.FILE_INPUT in read_new_batch({}, 0).errors
    both = state(smsbatch_file={"files": [{"id": "F1"}]}, smsbatch_paste={"value": "a,b"})
    assert ids.PASTE_INPUT in read_new_batch(both, 0).errors
    assert read_new_batch(state(smsbatch_paste={"value": "a,b"}), 0).text == "a,b"


@pytest.mark.parametrize(
    ("text", "kind", "batch_id", "payload"),
    [
        ("", Kind.NEW, None, ""),
        ("  ", Kind.NEW, None, ""),
        ("help", Kind.HELP, None, ""),
        ("HELP", Kind.HELP, None, ""),
        ("balance", Kind.BALANCE, None, ""),
        ("status", Kind.STATUS, None, ""),
        ("status 12", Kind.STATUS, 12, ""),
        ("status #12", Kind.STATUS, 12, ""),
        ("cancel 7", Kind.CANCEL, 7, ""),
        ("cancel", Kind.BAD_ID, None, "cancel"),
        ("cancel soon", Kind.BAD_ID, None, "cancel soon"),
        (
            "msisdn,message\n447911123401,Hello &amp; bye",
            Kind.PASTE,
            None,
            "msisdn,message\n447911123401,Hello & bye",
        ),
        ("447911123401,hi", Kind.PASTE, None, "447911123401,hi"),
        ("447911123401;a &lt;b&gt;", Kind.PASTE, None, "447911123401;a <b>"),
        ("hello there", Kind.UNKNOWN, None, "hello there"),
    ],
)
def test_command_text_is_parsed_and_unescaped(
    text: str, kind: Kind, batch_id: int | None, payload: str
) -> None:
    """Subcommands, pasted CSV (unescaped) and unknown input are told apart."""
    parsed = parse_command(text)
    assert (parsed.kind, parsed.batch_id, parsed.text) == (kind, batch_id, payload)


@given(st.text())
def test_unescaping_undoes_slacks_escaping(text: str) -> None:
    """Whatever a person typed survives Slack's escaping and our unescaping unchanged."""
    assert unescape_command(escape(text)) == text


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            Progress(ProgressKind.CHUNK_DONE, 12, 0, 1, 0, "IN_PROGRESS", 4712345678),
            "Batch 12 submitted: status 0 IN_PROGRESS, batch_id 4712345678",
        ),
        (
            Progress(ProgressKind.CHUNK_DONE, 12, 1, 3, 0, "IN_PROGRESS", 99),
            "Batch 12 chunk 2 of 3 submitted: status 0 IN_PROGRESS, batch_id 99",
        ),
        (
            Progress(ProgressKind.CHUNK_DONE, 12, 0, 1, 1, "SCHEDULED", 5),
            "Batch 12 scheduled: status 1 SCHEDULED, batch_id 5",
        ),
        (
            Progress(ProgressKind.CHUNK_DONE, 12, 0, 1, 25, "NO_CREDITS"),
            "Batch 12 failed: status 25 (you do not have sufficient credits) NO_CREDITS.",
        ),
    ],
)
def test_submission_results_state_status_meaning_and_batch_id(
    event: Progress, expected: str
) -> None:
    """Each thread message starts with the status code and the batch_id as digits."""
    assert submission_result(event, simulated=False).startswith(expected)


def test_a_decided_card_does_not_call_the_balance_unknown() -> None:
    """The balance is read only while a batch waits; a sent card leaves the field out."""
    view = make_view(THREE, state=BatchState.SENT, decided_by="U_A")
    assert "Account balance" not in json.dumps(card(view, CTX).blocks)


def test_a_sending_batch_carries_stop_and_a_stopped_one_says_who() -> None:
    """Stop while a submission is still to be made; after a stop, who and no button."""
    queued = ChunkView(1, 3, Dca.SEVEN_BIT, "queued", 78, 0, None, None, None)
    sent = ChunkView(0, 3, Dca.SEVEN_BIT, "accepted", 77, 1, 0, "IN_PROGRESS", 4712345678)
    sending = make_view(THREE, state=BatchState.SENDING, decided_by="U_A", chunks=(sent, queued))
    stop = [b for b in buttons(card(sending, CTX).blocks) if b["action_id"] == ids.STOP]
    assert (
        stop and stop[0]["style"] == "danger" and "recalled" in stop[0]["confirm"]["text"]["text"]
    )
    held = ChunkView(1, 3, Dca.SEVEN_BIT, "failed", 78, 0, None, "stopped", None, stopped=True)
    stopped = make_view(
        THREE,
        state=BatchState.PARTLY_SENT,
        decided_by="U_A",
        chunks=(sent, held),
        stopped_by="U_B",
        stopped_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    message = card(stopped, CTX)
    dumped = json.dumps(message.blocks)
    assert buttons(message.blocks) == [] and "*Stopped* by <@U_B>" in dumped
    assert "Chunk 2 of 2 (3 messages, 7bit): stopped: not submitted" in dumped
    assert check_message(message.text, message.blocks) == []
