"""Checks a message or view against Slack's published Block Kit limits before it is sent.

Slack answers `invalid_blocks` (and drops the update) when one limit is broken, so the builders
are held to these checks by the tests, and `handlers.plumbing.slackio` checks every outgoing
payload.
Each function returns a list of problems in words; an empty list means the payload is valid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
FALLBACK_TEXT = 4000
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS = 10
HEADER_TEXT = 150
BLOCK_ID = 255
ACTION_ID = 255
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
OPTION_TEXT = 75
OPTION_VALUE = 150
VIEW_TITLE = 24
PRIVATE_METADATA = 3000
CALLBACK_ID = 255
LABEL = 2000
PLACEHOLDER = 150

Payload = Mapping[str, Any]


def _text(obj: Any, where: str, limit: int, *, plain_only: bool = False) -> list[str]:
    """A text object: a known type, non-empty, within `limit` characters."""
    if not isinstance(obj, Mapping):
        return [f"{where}: a text object is required"]
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    problems = []
    if obj.get("type") not in kinds:
        problems.append(f"{where}: text type must be one of {', '.join(kinds)}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"{where}: text must be a non-empty string")
    elif len(text) > limit:
        problems.append(f"{where}: text is {len(text)} characters, the limit is {limit}")
    return problems


def _max_len(value: Any, where: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str) or len(value) > limit:
        size = len(value) if isinstance(value, str) else "not a string"
        return [f"{where}: {size} characters, the limit is {limit}"]
    return []


def _confirm(obj: Payload, where: str) -> list[str]:
    problems = _text(obj.get("title"), f"{where}.title", CONFIRM_TITLE, plain_only=True)
    problems += _text(obj.get("text"), f"{where}.text", CONFIRM_TEXT)
    problems += _text(obj.get("confirm"), f"{where}.confirm", CONFIRM_BUTTON, plain_only=True)
    problems += _text(obj.get("deny"), f"{where}.deny", CONFIRM_BUTTON, plain_only=True)
    if obj.get("style") not in (None, "primary", "danger"):
        problems.append(f"{where}.style must be primary or danger")
    return problems


def _options(options: Any, where: str, limit: int) -> list[str]:
    if not isinstance(options, Sequence) or not options or len(options) > limit:
        return [f"{where}: between 1 and {limit} options are required"]
    problems = []
    for i, option in enumerate(options):
        problems += _text(option.get("text"), f"{where}[{i}].text", OPTION_TEXT)
        problems += _max_len(option.get("value"), f"{where}[{i}].value", OPTION_VALUE)
    return problems


def _element(el: Payload, where: str) -> list[str]:
    """One interactive element (button, input element)."""
    kind = el.get("type")
    problems = _max_len(el.get("action_id"), f"{where}.action_id", ACTION_ID)
    if kind == "button":
        problems += _text(el.get("text"), f"{where}.text", BUTTON_TEXT, plain_only=True)
        problems += _max_len(el.get("value"), f"{where}.value", BUTTON_VALUE)
        if el.get("style") not in (None, "primary", "danger"):
            problems.append(f"{where}.style must be primary or danger")
        if "confirm" in el:
            problems += _confirm(el["confirm"], f"{where}.confirm")
    elif kind == "plain_text_input":
        max_length = el.get("max_length", 3000)
        if not isinstance(max_length, int) or not 1 <= max_length <= 3000:
            problems.append(f"{where}.max_length must be between 1 and 3000")
        problems += _max_len(el.get("initial_value"), f"{where}.initial_value", max_length)
    elif kind in ("static_select", "radio_buttons"):
        limit = 100 if kind == "static_select" else 10
        problems += _options(el.get("options"), f"{where}.options", limit)
    elif kind == "file_input":
        if not 1 <= el.get("max_files", 10) <= 10:
            problems.append(f"{where}.max_files must be between 1 and 10")
    elif kind != "datetimepicker":
        problems.append(f"{where}: unknown element type {kind!r}")
    if "placeholder" in el:
        problems += _text(el["placeholder"], f"{where}.placeholder", PLACEHOLDER, plain_only=True)
    return problems


def _section(block: Payload, where: str) -> list[str]:
    problems: list[str] = []
    if "text" not in block and "fields" not in block:
        problems.append(f"{where}: a section needs text or fields")
    if "text" in block:
        problems += _text(block["text"], f"{where}.text", SECTION_TEXT)
    fields = block.get("fields", [])
    if len(fields) > FIELDS:
        problems.append(f"{where}: {len(fields)} fields, the limit is {FIELDS}")
    for i, field in enumerate(fields):
        problems += _text(field, f"{where}.fields[{i}]", FIELD_TEXT)
    return problems


def _block(block: Payload, where: str) -> list[str]:
    kind = block.get("type")
    problems = _max_len(block.get("block_id"), f"{where}.block_id", BLOCK_ID)
    if kind == "section":
        problems += _section(block, where)
    elif kind == "header":
        problems += _text(block.get("text"), f"{where}.text", HEADER_TEXT, plain_only=True)
    elif kind == "context":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= CONTEXT_ELEMENTS:
            problems.append(f"{where}: a context takes 1 to {CONTEXT_ELEMENTS} elements")
        for i, el in enumerate(elements):
            problems += _text(el, f"{where}.elements[{i}]", SECTION_TEXT)
    elif kind == "actions":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= ACTIONS_ELEMENTS:
            problems.append(f"{where}: an actions block takes 1 to {ACTIONS_ELEMENTS} elements")
        for i, el in enumerate(elements):
            problems += _element(el, f"{where}.elements[{i}]")
    elif kind == "input":
        problems += _text(block.get("label"), f"{where}.label", LABEL, plain_only=True)
        if "hint" in block:
            problems += _text(block["hint"], f"{where}.hint", LABEL, plain_only=True)
        problems += _element(block.get("element", {}), f"{where}.element")
    elif kind != "divider":
        problems.append(f"{where}: unknown block type {kind!r}")
    return problems


def check_blocks(blocks: Sequence[Payload], limit: int = MESSAGE_BLOCKS) -> list[str]:
    """Every limit broken by a list of blocks (count, texts, ids, elements), in words."""
    problems = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks, the limit is {limit}")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen:
                problems.append(f"blocks[{i}]: block_id {block_id!r} is used twice")
            seen.add(block_id)
        problems += _block(block, f"blocks[{i}]")
    return problems


def check_message(text: str | None, blocks: Sequence[Payload] | None) -> list[str]:
    """Every limit broken by a message: its fallback text and its blocks."""
    problems = []
    if not text:
        problems.append("a message needs a non-empty fallback text")
    elif len(text) > FALLBACK_TEXT:
        problems.append(f"text is {len(text)} characters, the limit is {FALLBACK_TEXT}")
    return problems + check_blocks(blocks or [], MESSAGE_BLOCKS)


def check_view(view: Payload) -> list[str]:
    """Every limit broken by a modal or Home tab view: title, buttons, metadata, callback_id and
    blocks (a Home tab has no title or buttons)."""
    if view.get("type") == "home":
        problems = _max_len(view.get("private_metadata"), "private_metadata", PRIVATE_METADATA)
        problems += _max_len(view.get("callback_id"), "callback_id", CALLBACK_ID)
        return problems + check_blocks(view.get("blocks", []), VIEW_BLOCKS)
    problems = [] if view.get("type") == "modal" else ["a view must be of type modal or home"]
    problems += _text(view.get("title"), "title", VIEW_TITLE, plain_only=True)
    for key in ("submit", "close"):
        if key in view:
            problems += _text(view[key], key, VIEW_TITLE, plain_only=True)
    problems += _max_len(view.get("private_metadata"), "private_metadata", PRIVATE_METADATA)
    problems += _max_len(view.get("callback_id"), "callback_id", CALLBACK_ID)
    return problems + check_blocks(view.get("blocks", []), VIEW_BLOCKS)
