"""`/smsbatch`: the modal, help, pasted CSV, status, balance, cancel, report and optout.

The listener acks first (with the reply itself when it is instant text), then hands anything
slower to the app's own job pool. Slash-command text arrives with `&`, `<` and `>` escaped; it is
unescaped before it can become an SMS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond

from bot.errors import BatchNotFound, EapiError
from bot.model import SendOptions
from bot.service import Origin
from handlers.builders import ids, wording
from handlers.builders.blocks import chunk_line, fallback
from handlers.builders.views import new_batch_modal
from handlers.listeners.optout import optout_command
from handlers.plumbing.preview import publish_preview

if TYPE_CHECKING:
    from handlers.services import Services

CSV_MARKS = (",", ";", "\t", "\n", "|")
_BATCH_ID = re.compile(r"#?(\d{1,12})")


class Kind(StrEnum):
    """What a `/smsbatch` invocation asks for."""

    NEW = "new"
    HELP = "help"
    PASTE = "paste"
    STATUS = "status"
    BALANCE = "balance"
    CANCEL = "cancel"
    REPORT = "report"
    OPTOUT = "optout"
    UNKNOWN = "unknown"
    BAD_ID = "bad_id"


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed `/smsbatch` text."""

    kind: Kind
    text: str = ""  # the pasted CSV (unescaped), or the input that was not understood
    batch_id: int | None = None


def _batch_id(word: str, rest: str, *, required: bool) -> Command:
    if not rest:
        return Command(Kind.BAD_ID, word) if required else Command(Kind(word))
    match = _BATCH_ID.fullmatch(rest)
    if match is None:
        return Command(Kind.BAD_ID, f"{word} {rest}")
    return Command(Kind(word), batch_id=int(match.group(1)))


def parse_command(raw: str) -> Command:
    """Turn the command's text into a typed `Command` (pure; no Slack objects)."""
    text = wording.unescape_command(raw)
    stripped = text.strip()
    if not stripped:
        return Command(Kind.NEW)
    word, _, rest = stripped.partition(" ")
    word, rest = word.lower(), rest.strip()
    if word in ("help", "balance") and not rest:
        return Command(Kind(word))
    if word == "optout":
        return Command(Kind.OPTOUT, rest)
    if word in ("status", "cancel", "report") and "\n" not in rest:
        return _batch_id(word, rest, required=word != "status")
    if any(mark in stripped for mark in CSV_MARKS):
        return Command(Kind.PASTE, text.strip("\n"))
    return Command(Kind.UNKNOWN, stripped)


def register(app: App, services: Services) -> None:
    """Listen for `/smsbatch`."""

    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        # Unpack first, then ack, then hand over: Bolt drops an ack whose listener raises after.
        parsed = parse_command(command.get("text") or "")
        user, channel, trigger = command["user_id"], command["channel_id"], command["trigger_id"]
        instant = _instant_reply(parsed)
        if instant is not None:
            ack(text=instant)
            return
        if parsed.kind is Kind.NEW:
            ack()
            error = services.io.try_open_view(trigger, new_batch_modal(channel))
            if error:
                services.jobs.submit("tell", lambda: respond(wording.form_not_opened(error)), None)
            return
        if parsed.kind is Kind.PASTE:
            ack(text=wording.preparing(parsed.text.count("\n") + 1))
        else:
            ack()
        job = partial(_work, services, parsed, user, channel, respond)
        services.jobs.submit(f"command {parsed.kind}", job, respond)

    app.command(ids.COMMAND)(on_command)


def _instant_reply(parsed: Command) -> str | None:
    if parsed.kind is Kind.HELP:
        return wording.HELP
    if parsed.kind is Kind.UNKNOWN:
        return wording.unknown_command(parsed.text)
    if parsed.kind is Kind.BAD_ID:
        word, _, rest = parsed.text.partition(" ")
        return wording.bad_batch_id(word, rest)
    return None


def _work(services: Services, parsed: Command, user: str, channel: str, respond: Respond) -> None:
    """The slow part of a command, on the job pool."""
    try:
        if parsed.kind is Kind.PASTE:
            origin = Origin(user_id=user, channel_id=channel, source="paste")
            data = parsed.text.encode("utf-8")
            publish_preview(services.batches, services.cards, data, SendOptions(), origin, respond)
        elif parsed.kind is Kind.STATUS:
            respond(text=_status(services, parsed.batch_id, channel))
        elif parsed.kind is Kind.BALANCE:
            respond(text=_balance(services))
        elif parsed.kind is Kind.CANCEL and parsed.batch_id is not None:
            respond(text=_cancel(services, parsed.batch_id, user))
        elif parsed.kind is Kind.REPORT and parsed.batch_id is not None:
            respond(text=_report(services, parsed.batch_id, channel))
        elif parsed.kind is Kind.OPTOUT:
            optout_command(services, parsed.text, user, channel, respond)
    except BatchNotFound:
        respond(text=wording.not_found(parsed.batch_id or 0))


def _status(services: Services, batch_id: int | None, channel: str) -> str:
    if batch_id is not None:
        view = services.batches.get(batch_id)
        if view.channel_id != channel:
            return wording.elsewhere(batch_id)  # counts of a private channel stay private
        count = len(view.chunks)
        lines = [fallback(view), *(chunk_line(c, count) for c in view.chunks[:10])]
        return "\n".join(lines)
    views = services.batches.recent(5, channel_id=channel)
    if not views:
        return wording.no_batches()
    return "\n".join(f"• {fallback(v)}" for v in views)


def _report(services: Services, batch_id: int, channel: str) -> str:
    view = services.batches.get(batch_id)
    if view.channel_id != channel:
        return wording.elsewhere(batch_id)  # counts of a private channel stay private
    counts = services.batches.delivery_counts(batch_id)
    final = counts is not None and counts.pending == 0 and view.state.final
    return wording.delivery_summary(batch_id, counts, final, view.simulated)


def _balance(services: Services) -> str:
    try:
        return wording.balance(services.balance.fresh(), services.simulated)
    except EapiError as exc:
        return wording.balance_failed(str(exc))


def _cancel(services: Services, batch_id: int, user: str) -> str:
    decision = services.batches.cancel(batch_id, user)
    if not decision.ok:
        return wording.refused(decision.reason)
    services.notifier.refresh(batch_id)
    return wording.cancelled(batch_id)
