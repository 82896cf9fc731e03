"""The preview card as pure Block Kit builders: functions of a `BatchView`, no I/O.

One card serves a batch's whole life: pending (counts, cost, rejected rows, samples, options and
the Approve / Cancel / Options buttons), then decided (no buttons; who and when), then queue
position, chunk progress and the result. Every string that came from a user is escaped; every
list is cut with "… and N more" so the card stays inside Slack's limits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.eapi.client import meaning
from bot.intake.summary import PlanSummary
from bot.model import BatchState, DeliveryCounts, SendOptions, TestMode
from bot.service import BatchView, ChunkView
from bot.testsend import TestSendRecord
from handlers.builders import ids
from handlers.builders.wording import (
    SCHEDULED_NOTE,
    UNKNOWN_OUTCOME,
    card_fallback,
    clip,
    delivery_card_line,
    escape,
    number,
    plural,
    state_phrase,
    stop_confirm,
    stopped_line,
    test_line,
    test_mode_label,
    when,
)

Block = dict[str, Any]
SAMPLES = 3  # at most bot.intake.summary.KEPT, like REJECTED_SHOWN: what a stored summary keeps
REJECTED_SHOWN = 5
LIST_SHOWN = 8
CHUNKS_SHOWN = 10
SAMPLE_CHARS = 2400
# escaped text shown per sample; a section holds 3000 characters


@dataclass(frozen=True, slots=True)
class CardContext:
    """What the card shows besides the batch: approvers, balance, the sender's latest note."""

    approvers: tuple[str, ...] = ()
    self_approval: bool = False
    balance: Decimal | None = None
    progress_note: str | None = None
    delivery: DeliveryCounts | None = None  # once delivery reports have arrived
    tests: tuple[TestSendRecord, ...] = ()  # test sends of this batch, oldest first


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message ready for chat.postMessage / chat.update: fallback text and blocks."""

    text: str
    blocks: list[Block]


def mrkdwn(text: str) -> dict[str, str]:
    """A mrkdwn text object."""
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict[str, Any]:
    """A plain_text text object."""
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> Block:
    """A section block with mrkdwn text, cut to Slack's 3000 characters."""
    return {"type": "section", "text": mrkdwn(clip(text, 3000))}


def more(lines: Sequence[str], total: int) -> list[str]:
    """The lines, plus `… and N more` when `total` exceeds what is shown."""
    rest = total - len(lines)
    return [*lines, f"… and {rest} more"] if rest > 0 else list(lines)


def user(user_id: str | None) -> str:
    """A Slack mention for a user id, or a word for system actors."""
    if not user_id or not user_id[:1].isupper() or user_id in ("system", "sender"):
        return "the app" if user_id in ("system", "sender") else "someone"
    return f"<@{user_id}>"


def approver_mention(entry: str) -> str:
    """A user (`U…`) or user group (`S…`) as Slack shows it."""
    return f"<!subteam^{entry}>" if entry.startswith("S") else f"<@{entry}>"


def _counts(view: BatchView, plan: PlanSummary, ctx: CardContext) -> Block:
    balance = f"{number(ctx.balance)} credits" if ctx.balance is not None else "unknown"
    if ctx.balance is not None and plan.credits > ctx.balance:
        balance += " — less than the estimate"
    fields = [
        f"*Recipients*\n{plan.recipients}",
        f"*SMS parts*\n{plan.parts}",
        f"*Estimated credits*\n~{number(plan.credits)}",
        # The balance is only read while the batch waits; later, "unknown" would mislead.
        *([f"*Account balance*\n{balance}"] if view.state is BatchState.PENDING else []),
        f"*Rows read*\n{plan.rows}",
        f"*Duplicates dropped*\n{plan.duplicates}",
        f"*Rejected rows*\n{plan.rejected}",
        *([f"*Suppressed (opted out)*\n{plan.suppressed}"] if plan.suppressed else []),
    ]
    return {"type": "section", "fields": [mrkdwn(f) for f in fields]}


def _encoding(plan: PlanSummary) -> Block:
    lines = [f"*Encoding:* {plan.seven_bit} × 7-bit (GSM), {plan.sixteen_bit} × 16-bit (Unicode)"]
    reasons = plan.encoding_reasons[:SAMPLES]
    shown = [f"• line {line}: {escape(reason)}" for line, reason in reasons]
    lines += more(shown, plan.encoding_reason_count)
    if plan.text_encoding and not plan.delimiter:  # a workbook: no text encoding to speak of
        lines.append(f"File read as an {escape(plan.text_encoding)} workbook.")
    elif plan.text_encoding or plan.delimiter:
        delimiter = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
        read_as = delimiter.get(plan.delimiter, repr(plan.delimiter))
        lines.append(f"File read as {escape(plan.text_encoding)}, {read_as}-separated.")
    return section("\n".join(lines))


def _cost(plan: PlanSummary) -> Block:
    lines = [
        f"• {escape(c.country)}: {plural(c.messages, 'message')}, {plural(c.parts, 'part')}, "
        f"~{number(c.credits)} credits"
        for c in plan.cost[:LIST_SHOWN]
    ]
    return section("*Cost by country*\n" + "\n".join(more(lines, len(plan.cost)) or ["• none"]))


def _notes(plan: PlanSummary) -> Block | None:
    lines = [f"• `{role}` from column “{escape(header)}”" for role, header in plan.columns]
    if plan.ignored_columns:
        names = [f"“{escape(clip(c, 80))}”" for c in plan.ignored_columns[:LIST_SHOWN]]
        templated = any(role.startswith("((") for role, _ in plan.columns)
        label = "columns not used by the template" if templated else "ignored columns"
        lines.append(f"• {label}: {', '.join(more(names, len(plan.ignored_columns)))}")
    lines += [f"• {escape(note)}" for note in plan.notes[:LIST_SHOWN]]
    flags = [f"• line {line}: {escape('; '.join(f))}" for line, f in plan.flagged[:SAMPLES]]
    lines += more(flags, plan.flagged_count)
    return section("*Notes*\n" + "\n".join(lines)) if lines else None


def _rejected(plan: PlanSummary) -> Block | None:
    if not plan.rejected:
        return None
    lines = [
        f"• line {r.line}, {escape(r.column)}: {escape(r.reason)} — “{escape(clip(r.value, 60))}”"
        for r in plan.first_rejected[:REJECTED_SHOWN]
    ]
    head = f"*Rejected rows ({plan.rejected})* — the full list is in the thread as a CSV file"
    return section(head + "\n" + "\n".join(more(lines, plan.rejected)))


def sample_text(text: str) -> str:
    """A message body for a code block: escaped, and unable to close the block early."""
    # A run of three backticks would end the code block; a zero-width space keeps them apart
    # on screen only. The message itself is sent unchanged.
    shown = escape(text).replace("```", "`\u200b`\u200b`")
    return clip(shown, SAMPLE_CHARS)


def _samples(plan: PlanSummary) -> list[Block]:
    blocks = []
    if plan.options.template is not None:
        head = "*Template* (every row's message; below, the first ones filled in)"
        blocks.append(section(f"{head}\n```{sample_text(plan.options.template) or ' '}```"))
    for m in plan.first_messages[:SAMPLES]:
        head = f"*Line {m.line}* → `{m.msisdn}` · {m.dca} · {plural(m.parts, 'part')}"
        blocks.append(section(f"{head}\n```{sample_text(m.text) or ' '}```"))
    if plan.recipients > SAMPLES:
        blocks.append(section(f"… and {plan.recipients - SAMPLES} more messages"))
    return blocks


def options_line(options: SendOptions) -> str:
    """The send options as one line of the card."""
    sender = f"`{escape(options.sender)}`" if options.sender else "account default"
    group = str(options.routing_group) if options.routing_group else "account default"
    schedule = when(options.send_at) if options.send_at else "on approval"
    return (
        f"*Options:* sender {sender} · routing group {group} · send {schedule} · "
        f"test mode {test_mode_label(options.test_mode)}"
    )


def _approvers(view: BatchView, ctx: CardContext) -> Block:
    if not ctx.approvers:
        text = "Nobody can approve: set SMSBATCH_APPROVERS to the people or groups who may."
    else:
        names = [approver_mention(a) for a in ctx.approvers[:LIST_SHOWN]]
        text = f"Approvers: {', '.join(more(names, len(ctx.approvers)))}"
        if not ctx.self_approval:
            text += f". {user(view.prepared_by)} prepared it and cannot approve it."
    return {"type": "context", "elements": [mrkdwn(text)]}


def chunk_line(chunk: ChunkView, count: int) -> str:
    """One submission's state in words."""
    name = f"Chunk {chunk.index + 1} of {count}" if count > 1 else "Submission"
    size = f"{plural(chunk.messages, 'message')}, {chunk.dca}"
    said = escape(chunk.description or "")
    batch = f", batch_id {chunk.eapi_batch_id}" if chunk.eapi_batch_id else ""
    if chunk.state in ("accepted", "scheduled"):
        status = f"{chunk.state}: status {chunk.status_code} {said}{batch}"
    elif chunk.stopped:
        status = "stopped: not submitted"
    elif chunk.state == "failed":
        code = chunk.status_code
        status = f"failed: status {code} ({meaning(code)}) {said}" if code else f"failed: {said}"
    elif chunk.state == "unknown":
        status = UNKNOWN_OUTCOME
    elif chunk.state == "sending":
        status = f"sending (attempt {max(chunk.attempts, 1)})"
    else:
        status = chunk.state
    return f"• {name} ({size}): {status.strip()}"


_HEADLINES = {
    BatchState.APPROVED: "*Approved*",
    BatchState.SENDING: "*Sending*",
    BatchState.SENT: ":white_check_mark: *Sent*",
    BatchState.PARTLY_SENT: ":warning: *Partly sent*",
    BatchState.FAILED: ":x: *Failed*",
    BatchState.UNKNOWN: f":warning: *{UNKNOWN_OUTCOME}*",
}


def _status(view: BatchView, ctx: CardContext) -> Block:
    stamp = when(view.decided_at) if view.decided_at else ""
    if view.state is BatchState.CANCELLED:
        return section(f"*Cancelled* by {user(view.decided_by)} {stamp}. Nothing was sent.")
    if view.state is BatchState.EXPIRED:
        return section(f"*Expired* {stamp}: nobody approved it in time. Nothing was sent.")
    lines = [f"{_HEADLINES[view.state]} — approved by {user(view.decided_by)} {stamp}".strip()]
    if view.state is BatchState.APPROVED and view.queue_position:
        lines.append(f"Position {view.queue_position} in the sending queue.")
    count = len(view.chunks)
    lines += more([chunk_line(c, count) for c in view.chunks[:CHUNKS_SHOWN]], count)
    if ctx.progress_note and not view.state.final:
        lines.append(escape(ctx.progress_note))
    if view.stopped_at is not None:
        lines.append(stopped_line(user(view.stopped_by), when(view.stopped_at)))
    if view.summary.options.send_at and any(c.state == "scheduled" for c in view.chunks):
        lines.append(SCHEDULED_NOTE)
    return section("\n".join(lines))


def stoppable(view: BatchView) -> bool:
    """True while an approved batch has submissions not yet made and was not stopped."""
    active = view.state in (BatchState.APPROVED, BatchState.SENDING)
    waiting = any(c.state in ("queued", "sending") for c in view.chunks)
    return active and waiting and view.stopped_at is None


def _stop_button(view: BatchView) -> Block:
    button = {
        "type": "button",
        "action_id": ids.STOP,
        "text": plain("Stop sending"),
        "style": "danger",
        "value": str(view.id),
        "confirm": {
            "title": plain(f"Stop batch {view.id}?"),
            "text": plain(stop_confirm(view.id)),
            "confirm": plain("Stop the rest"),
            "deny": plain("Keep sending"),
            "style": "danger",
        },
    }
    return {"type": "actions", "block_id": ids.ACTIONS_BLOCK, "elements": [button]}


def approve_value(view: BatchView) -> str:
    """The Approve button's value: the batch and the digest of exactly what the card shows."""
    return f"{view.id}:{view.digest}"


def parse_batch_value(value: str) -> tuple[int, str]:
    """Split a button value into (batch id, digest); the digest is empty for plain ids."""
    head, _, digest = value.partition(":")
    return int(head), digest


def _buttons(view: BatchView, plan: PlanSummary) -> Block:
    elements: list[Block] = []
    if plan.recipients:
        confirm_text = (
            f"Send {plural(plan.recipients, 'message')} ({plural(plan.parts, 'SMS part')}) "
            f"for about {number(plan.credits)} credits? What has gone out cannot be recalled."
        )
        elements.append(
            {
                "type": "button",
                "action_id": ids.APPROVE,
                "text": plain("Approve and send"),
                "style": "primary",
                "value": approve_value(view),
                "confirm": {
                    "title": plain(f"Send batch {view.id}?"),
                    "text": plain(confirm_text),
                    "confirm": plain("Approve and send"),
                    "deny": plain("Back"),
                },
            }
        )
    if plan.recipients and plan.options.test_mode is TestMode.OFF:
        elements.append(
            {
                "type": "button",
                "action_id": ids.TEST,
                "text": plain("Send me a test"),
                "value": approve_value(view),
            }
        )
    elements.append(
        {
            "type": "button",
            "action_id": ids.CANCEL,
            "text": plain("Cancel batch"),
            "style": "danger",
            "value": str(view.id),
        }
    )
    elements.append(
        {
            "type": "button",
            "action_id": ids.OPTIONS,
            "text": plain("Options"),
            "value": str(view.id),
        }
    )
    return {"type": "actions", "block_id": ids.ACTIONS_BLOCK, "elements": elements}


def _tests(ctx: CardContext) -> list[Block]:
    """Who tested the batch on their own phone, when, and the EAPI's answer (numbers cut)."""
    if not ctx.tests:
        return []
    shown = ctx.tests[-SAMPLES:]
    lines = [
        test_line(user(t.user_id), t.msisdn[-4:], when(t.requested_at), t.state, t.status_code)
        for t in shown
    ]
    text = "\n".join(more(lines, len(ctx.tests)))
    return [{"type": "context", "elements": [mrkdwn(clip(text, 3000))]}]


def _with_block_ids(view: BatchView, blocks: list[Block]) -> list[Block]:
    """Give every block an id that changes whenever the card's content changes."""
    revision = hashlib.sha256(json.dumps(blocks, sort_keys=True).encode()).hexdigest()[:10]
    for i, block in enumerate(blocks):
        prefix = block.get("block_id", "b")
        block["block_id"] = f"{prefix}-{view.id}-{i}-{revision}"
    return blocks


def card(view: BatchView, ctx: CardContext) -> SlackMessage:
    """The whole preview card for a batch in any state (from its summary: no messages read)."""
    plan = view.summary
    title = f"SMS batch {view.id}" + (" — simulation" if view.simulated else "")
    source = f" from “{escape(clip(view.file_name, 80))}”" if view.file_name else ""
    intro = f"Prepared by {user(view.prepared_by)}{source} {when(view.created_at)}."
    if view.simulated:
        intro += "\n:test_tube: *Simulation — nothing is sent.*"
    blocks: list[Block] = [
        {"type": "header", "text": plain(title)},
        section(intro),
        _counts(view, plan, ctx),
        _encoding(plan),
        _cost(plan),
    ]
    blocks += [b for b in (_notes(plan), _rejected(plan)) if b is not None]
    blocks += _samples(plan)
    blocks.append(section(options_line(plan.options)))
    blocks += _tests(ctx)
    if view.state is BatchState.PENDING:
        blocks += [_approvers(view, ctx), _buttons(view, plan)]
    else:
        blocks += [{"type": "divider"}, _status(view, ctx)]
        if ctx.delivery is not None:
            blocks.append(section(delivery_card_line(ctx.delivery)))
        blocks += [_stop_button(view)] if stoppable(view) else []
    return SlackMessage(text=fallback(view), blocks=_with_block_ids(view, blocks))


def fallback(view: BatchView) -> str:
    """The card's plain-text notification: counts and credits as digits, and the state."""
    plan = view.summary
    phrase = state_phrase(view.state, user(view.decided_by), view.queue_position)
    return card_fallback(
        view.id, plan.recipients, plan.parts, plan.credits, phrase, view.simulated, plan.suppressed
    )
