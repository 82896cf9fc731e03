"""The two modals — New batch and batch Options — as pure builders, and their submitted state.

Each input's block_id equals its action_id (`ids`), so reading a submission is a lookup.
Where the modal came from (channel, card) travels in `private_metadata` as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.intake.plan import validate_options
from bot.model import SendOptions, TestMode
from handlers.builders import ids
from handlers.builders.blocks import plain
from handlers.builders.wording import (
    new_batch_both_inputs,
    new_batch_needs_input,
    options_invalid_time,
    test_mode_label,
)

View = dict[str, Any]
DEFAULT_GROUP = "default"
PASTE_MAX = 3000
TEMPLATE_MAX = 3000  # Slack's limit for a plain_text_input
#: What the file input accepts (file extensions; the intake sniffs the content anyway).
FILE_TYPES = ["csv", "tsv", "xlsx", "xlsm", "xls", "ods"]


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def _input(block_id: str, label: str, element: dict[str, Any], hint: str | None = None) -> View:
    block: View = {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": plain(label),
        "element": {"action_id": block_id, **element},
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def _option_inputs(options: SendOptions) -> list[View]:
    """Sender, routing group, schedule and test mode, pre-filled from `options`."""
    sender: dict[str, Any] = {"type": "plain_text_input", "max_length": 16}
    if options.sender:
        sender["initial_value"] = options.sender
    groups = [_option("Account default", DEFAULT_GROUP)]
    groups += [_option(f"Routing group {n}", str(n)) for n in (1, 2, 3)]
    chosen = str(options.routing_group) if options.routing_group else DEFAULT_GROUP
    group = {
        "type": "static_select",
        "options": groups,
        "initial_option": next(g for g in groups if g["value"] == chosen),
    }
    schedule: dict[str, Any] = {"type": "datetimepicker"}
    if options.send_at:
        schedule["initial_date_time"] = options.send_at
    modes = [_option(test_mode_label(m), m.value) for m in TestMode]
    test_mode = {
        "type": "radio_buttons",
        "options": modes,
        "initial_option": next(m for m in modes if m["value"] == options.test_mode.value),
    }
    return [
        _input(
            ids.SENDER_INPUT,
            "Sender",
            sender,
            "Up to 11 letters and digits, or a number of up to 16 digits. Empty: account default.",
        ),
        _input(ids.ROUTING_INPUT, "Routing group", group),
        _input(
            ids.SCHEDULE_INPUT,
            "Send at",
            schedule,
            "In your own time zone. Empty: send as soon as it is approved.",
        ),
        _input(ids.TEST_MODE_INPUT, "Test mode", test_mode),
    ]


def new_batch_modal(channel_id: str, thread_ts: str | None = None) -> View:
    """The New batch modal: a file or pasted rows, an optional template, the send options."""
    file_input = {"type": "file_input", "filetypes": FILE_TYPES, "max_files": 1}
    paste = {"type": "plain_text_input", "multiline": True, "max_length": PASTE_MAX}
    template = {"type": "plain_text_input", "multiline": True, "max_length": TEMPLATE_MAX}
    blocks = [
        _input(
            ids.FILE_INPUT,
            "CSV file or spreadsheet",
            file_input,
            "CSV, TSV, xlsx, xlsm, xls or ods. Columns msisdn and message (or number, text).",
        ),
        _input(ids.PASTE_INPUT, "…or paste rows", paste, "For example: msisdn,message"),
        _input(
            ids.TEMPLATE_INPUT,
            "Message for every row (optional)",
            template,
            "Placeholders such as ((first name)) are filled from the columns of that name; "
            "((vip??text)) shows text when vip is yes. The file then needs no message column.",
        ),
        *_option_inputs(SendOptions()),
    ]
    return {
        "type": "modal",
        "callback_id": ids.NEW_BATCH_VIEW,
        "title": plain("New SMS batch"),
        "submit": plain("Preview"),
        "close": plain("Close"),
        "private_metadata": json.dumps({"channel": channel_id, "thread_ts": thread_ts}),
        "blocks": blocks,
    }


def options_modal(
    batch_id: int, options: SendOptions, channel_id: str, card_ts: str | None
) -> View:
    """The Options modal for one pending batch, pre-filled with its current options."""
    metadata = {"batch": batch_id, "channel": channel_id, "ts": card_ts}
    return {
        "type": "modal",
        "callback_id": ids.OPTIONS_VIEW,
        "title": plain(f"Batch {batch_id} options"[:24]),
        "submit": plain("Update preview"),
        "close": plain("Close"),
        "private_metadata": json.dumps(metadata),
        "blocks": _option_inputs(options),
    }


@dataclass(frozen=True, slots=True)
class OptionsForm:
    """Send options read from a submitted modal, with per-input errors for Slack to show."""

    options: SendOptions
    errors: dict[str, str] = field(default_factory=dict)


def _value(values: Mapping[str, Any], block_id: str) -> Mapping[str, Any]:
    block = values.get(block_id, {})
    found: Mapping[str, Any] = block.get(block_id, {})
    return found


def read_options(values: Mapping[str, Any], now: float) -> OptionsForm:
    """The options in a submitted view's `state.values`, checked; errors keyed by block_id."""
    errors: dict[str, str] = {}
    sender = (_value(values, ids.SENDER_INPUT).get("value") or "").strip() or None
    if sender and (problems := validate_options(SendOptions(sender=sender))):
        errors[ids.SENDER_INPUT] = "; ".join(problems)
    selected = _value(values, ids.ROUTING_INPUT).get("selected_option") or {}
    raw_group = selected.get("value", DEFAULT_GROUP)
    group = None if raw_group == DEFAULT_GROUP else int(raw_group)
    send_at = _value(values, ids.SCHEDULE_INPUT).get("selected_date_time")
    if send_at is not None and int(send_at) <= now:
        errors[ids.SCHEDULE_INPUT] = options_invalid_time()
    mode = (_value(values, ids.TEST_MODE_INPUT).get("selected_option") or {}).get("value")
    options = SendOptions(
        sender=sender,
        routing_group=group,
        send_at=int(send_at) if send_at is not None else None,
        test_mode=TestMode(mode) if mode else TestMode.OFF,
    )
    return OptionsForm(options, errors)


@dataclass(frozen=True, slots=True)
class NewBatchForm:
    """What the New batch modal delivered: one file object or pasted text, and the options."""

    file: Mapping[str, Any] | None
    text: str | None
    form: OptionsForm
    errors: dict[str, str] = field(default_factory=dict)


def read_new_batch(values: Mapping[str, Any], now: float) -> NewBatchForm:
    """The New batch modal's submission, checked (exactly one of file or pasted rows)."""
    files = _value(values, ids.FILE_INPUT).get("files") or []
    text = (_value(values, ids.PASTE_INPUT).get("value") or "").strip() or None
    form = read_options(values, now)
    template = _value(values, ids.TEMPLATE_INPUT).get("value") or ""
    if template.strip():  # sent exactly as typed; a template of only spaces is no template
        form = OptionsForm(replace(form.options, template=template), form.errors)
    errors = dict(form.errors)
    if not files and text is None:
        errors[ids.FILE_INPUT] = new_batch_needs_input()
    elif files and text is not None:
        errors[ids.PASTE_INPUT] = new_batch_both_inputs()
    return NewBatchForm(files[0] if files else None, text, form, errors)


def metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a modal carries in `private_metadata`."""
    loaded: dict[str, Any] = json.loads(view.get("private_metadata") or "{}")
    return loaded
