"""Spreadsheets and templates from Slack: an .xlsx with a template from the New batch modal is
previewed once with the filled messages, and the EAPI receives exactly those after approval."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from bot.model import SendOptions
from handlers.builders import ids
from handlers.builders.views import read_new_batch
from tests.slack_harness import APPROVER, CHANNEL, PREPARER, Harness, running_harness
from tests.test_handlers_approval import approve_value, wait_result
from tests.test_handlers_uploads import UPLOAD_TS, file_share

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATE = "Hi ((First Name)), your table for ((guests)) is booked.((vip?? Welcome back!))"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The app around a fake Slack and the simulator."""
    with running_harness(tmp_path) as harness:
        yield harness


def _workbook() -> bytes:
    """Numbers stored as numbers, a text number, a name with ë, and an empty first name."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Mobile", "first_name", "Guests", "VIP", "Notes"])
    sheet.append([447911123401, "Ann", 2, "yes", "window"])
    sheet.append(["07911123402", "Zoë", 4, "no", None])
    sheet.append([447911123403, None, 3, "no", None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_a_modal_template_is_previewed_filled_and_sent_exactly(h: Harness) -> None:
    """Modal (xlsx + template) -> one card with the template and filled sample -> approve ->
    the EAPI gets the filled messages, each in the encoding its own text needs."""
    file = h.fake.add_file("guests.xlsx", _workbook(), filetype="xlsx", content_type=XLSX_TYPE)
    h.command("")
    modal = h.fake.wait_calls("views.open")[0].body["view"]
    assert "xlsx" in next(
        b["element"]["filetypes"] for b in modal["blocks"] if b["block_id"] == ids.FILE_INPUT
    )
    values = {
        ids.FILE_INPUT: {ids.FILE_INPUT: {"files": [h.fake.full_file_object(file)]}},
        ids.TEMPLATE_INPUT: {ids.TEMPLATE_INPUT: {"value": TEMPLATE}},
    }
    assert h.submit_view(modal, values, PREPARER).status == 200
    card = h.wait_card()
    time.sleep(0.3)  # any second card would show up now
    assert len(h.cards()) == 1 and card.body["channel"] == CHANNEL
    assert card.body["text"].startswith("Batch 1: 2 recipients, 2 SMS, ~2 credits")
    shown = json.dumps(card.blocks(), ensure_ascii=False)
    assert f"```{TEMPLATE}```" in shown
    assert "Hi Ann, your table for 2 is booked. Welcome back!" in shown
    assert "Hi Zoë, your table for 4 is booked." in shown
    assert "columns not used by the template: “Notes”" in shown
    assert "hidden rows cannot be seen" in shown
    assert "File read as an xlsx workbook." in shown
    assert h.click(ids.APPROVE, approve_value(card), APPROVER, card).status == 200
    wait_result(h, card)
    h.fake.wait_for(lambda: len(h.sim.processed) == 2, what="two submissions (7-bit, 16-bit)")
    rows = sorted(row for submission in h.sim.processed for row in submission.rows)
    assert rows == [
        ("447911123401", "Hi Ann, your table for 2 is booked. Welcome back!"),
        ("447911123402", "Hi Zoë, your table for 4 is booked."),
    ]


def test_an_uploaded_xlsx_is_picked_up_like_a_csv(h: Harness) -> None:
    """An .xlsx shared in a channel gets one preview in its thread, with the rejected row."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone", "message"])
    sheet.append([447911123401, "Hello"])
    sheet.append([True, "Not a number"])
    out = io.BytesIO()
    book.save(out)
    file = h.fake.add_file("list.xlsx", out.getvalue(), filetype="xlsx", content_type=XLSX_TYPE)
    assert h.event(file_share(h, file)).status == 200
    card = h.wait_card()
    assert card.body["thread_ts"] == UPLOAD_TS
    assert card.body["text"].startswith("Batch 1: 1 recipient, 1 SMS, ~1 credit")
    shown = json.dumps(card.blocks(), ensure_ascii=False)
    assert "the cell is TRUE (a yes/no cell), not a phone number" in shown


def test_a_template_naming_a_missing_column_is_answered_with_both_sides(h: Harness) -> None:
    """A placeholder without a column: no card, a reply naming the column and those it has."""
    file = h.fake.add_file("guests.xlsx", _workbook(), filetype="xlsx", content_type=XLSX_TYPE)
    h.command("")
    modal = h.fake.wait_calls("views.open")[0].body["view"]
    values = {
        ids.FILE_INPUT: {ids.FILE_INPUT: {"files": [h.fake.full_file_object(file)]}},
        ids.TEMPLATE_INPUT: {ids.TEMPLATE_INPUT: {"value": "Hi ((surname))"}},
    }
    h.submit_view(modal, values, PREPARER)
    reply = h.fake.wait_for(
        lambda: h.fake.calls("chat.postEphemeral") + h.fake.calls("chat.postMessage"),
        what="a reply",
    )[0]
    text = str(reply.body["text"])
    assert "missing a column called ‘surname’" in text
    assert "‘Mobile’, ‘first_name’, ‘Guests’, ‘VIP’ and ‘Notes’" in text
    assert h.cards() == []


def test_the_modal_template_is_taken_exactly_and_blank_means_none() -> None:
    """The template field is kept as typed; a field of only spaces is no template."""

    def form(template: str) -> SendOptions:
        values = {
            ids.PASTE_INPUT: {ids.PASTE_INPUT: {"value": "447911123401"}},
            ids.TEMPLATE_INPUT: {ids.TEMPLATE_INPUT: {"value": template}},
        }
        read = read_new_batch(values, now=0)
        assert read.errors == {}
        return read.form.options

    assert form(" Hi ((name))\n").template == " Hi ((name))\n"
    assert form("   ").template is None
