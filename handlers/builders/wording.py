"""Every sentence the app shows a person, in one place, plus the escaping that keeps it safe.

Text that came from a user (CSV cells, file names, EAPI descriptions) passes through `escape`
before it is shown, so that `<!channel>` or `<@U123>` in a message body pings nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from bot.consent import ListChange
from bot.eapi.client import meaning
from bot.model import BatchState, DeliveryCounts, Progress, TestMode
from bot.store.inbox import ReplyRecord
from bot.store.suppression import SuppressionEntry

SIMULATION = "simulation — nothing is sent"
UNKNOWN_OUTCOME = "outcome unknown — check the EAPI account before resending"
ELLIPSIS = "…"
SCHEDULED_NOTE = (
    ":alarm_clock: Submissions the EAPI accepted with a send time wait at BulkSMS: the app "
    "cannot stop them. Cancel them in the BulkSMS account if they must not go."
)

# What a person can do about each final EAPI status code.
_WHAT_TO_DO = {
    22: "BulkSMS reported an internal error: ask BulkSMS support before preparing it again.",
    23: "The EAPI refused the credentials: check EAPI_USERNAME and EAPI_PASSWORD.",
    24: "The EAPI found nothing valid to send: check the numbers and the sender, then try again.",
    25: "Buy credits for the EAPI account, then prepare the batch again.",
    27: "The account's daily quota is used up: try again tomorrow or ask BulkSMS to raise it.",
    201: "Lower SMSBATCH_CHUNK_SIZE (at most 30000) and prepare the batch again.",
}


def escape(text: str) -> str:
    """Escape `&`, `<` and `>` as Slack requires, so user text formats and pings nothing."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_command(text: str) -> str:
    """Undo Slack's escaping of slash-command text (`&amp;` last, so `&amp;lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def number(value: int | Decimal) -> str:
    """A count or credit amount as plain digits (no exponent, no trailing zeros)."""
    if isinstance(value, int):
        return str(value)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 recipient`, `3 recipients`."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def when(moment: datetime | int | float) -> str:
    """A time Slack shows in each reader's own time zone, with a UTC fallback."""
    stamp = int(moment.timestamp()) if isinstance(moment, datetime) else int(moment)
    fallback = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{fallback}>"


def with_simulation(text: str, simulated: bool) -> str:
    """Append the simulation notice when nothing is really sent."""
    return f"{text} ({SIMULATION})" if simulated else text


def state_phrase(state: BatchState, decided_by: str | None, queue_position: int | None) -> str:
    """The end of a card's fallback text: where the batch stands, in a few words."""
    if state is BatchState.PENDING:
        return "waiting for approval"
    if state is BatchState.APPROVED:
        spot = f", position {queue_position} in the queue" if queue_position else ""
        return f"approved by {decided_by or 'an approver'}{spot}"
    phrases = {
        BatchState.SENDING: "sending",
        BatchState.SENT: "sent",
        BatchState.PARTLY_SENT: "partly sent",
        BatchState.FAILED: "failed",
        BatchState.UNKNOWN: UNKNOWN_OUTCOME,
        BatchState.CANCELLED: f"cancelled by {decided_by or 'someone'}",
        BatchState.EXPIRED: "expired without approval",
    }
    return phrases[state]


def card_fallback(
    batch_id: int,
    recipients: int,
    parts: int,
    credits: Decimal,
    phrase: str,
    simulated: bool,
    suppressed: int = 0,
) -> str:
    """The card's notification text with counts as digits: `Batch 12: 3 recipients, 3 SMS, …`,
    and `, 1 suppressed` when rows were left out for the suppression list."""
    held = f", {suppressed} suppressed" if suppressed else ""
    text = (
        f"Batch {batch_id}: {plural(recipients, 'recipient')}, {parts} SMS, "
        f"~{number(credits)} credits{held} — {phrase}"
    )
    return with_simulation(text, simulated)


def dropped_suppressed(event: Progress, simulated: bool) -> str:
    """A submission lost numbers put on the suppression list after approval."""
    where = f"submission {(event.chunk_index or 0) + 1} of {event.chunk_count}"
    text = (
        f"Batch {event.batch_id}: {plural(event.dropped, 'message')} taken out of {where} "
        "before it went out: the number was put on the suppression list after approval"
    )
    if event.description:  # nothing was left to send
        text += f"; {event.description}"
    return with_simulation(text, simulated)


OPTOUT_USAGE = (
    "*/smsbatch optout* — the suppression list (numbers never sent to):\n"
    "• `/smsbatch optout add NUMBER[, NUMBER…]` — put numbers on it (anyone)\n"
    "• `/smsbatch optout remove NUMBER[, NUMBER…]` — take numbers off it (approvers only)\n"
    "• `/smsbatch optout list` — show it (a CSV file when long)\n"
    "• `/smsbatch optout import` followed by CSV rows on new lines — add the number column\n"
    "A whole file: `smsbatch-bot optout import FILE` on the server."
)
OPTOUT_UNAVAILABLE = "The suppression list is not available in this app."
_OPTOUT_VERBS = {"add": ("Added", "already listed"), "remove": ("Removed", "not listed")}


def optout_changed(change: ListChange, action: str) -> str:
    """The reply to `/smsbatch optout add|remove`: what changed, what did not, what was wrong."""
    if change.refused:
        return f"Nothing changed: {escape(change.refused)}."
    done, same = _OPTOUT_VERBS[action]
    lines = []
    if change.changed:
        lines.append(f"{done} {plural(len(change.changed), 'number')}: {', '.join(change.changed)}")
    if change.unchanged:
        lines.append(f"{same.capitalize()}: {', '.join(change.unchanged)}")
    lines += [
        f"Not a number: `{escape(clip(value, 40))}` — {escape(reason)}"
        for value, reason in change.invalid
    ]
    return "\n".join(lines) or OPTOUT_USAGE


def optout_not_imported(reason: str) -> str:
    """The reply to `/smsbatch optout import` with text that cannot be read."""
    return f"Nothing was imported: {escape(reason)}"


def optout_list(entries: Sequence[SuppressionEntry]) -> str:
    """The suppression list in a reply (short lists only)."""
    if not entries:
        return "The suppression list is empty."
    lines = [f"The suppression list ({plural(len(entries), 'number')}):"]
    lines += [
        f"• {e.msisdn} — {e.source.value}, {when(e.added_at)}"
        + (f" ({escape(e.evidence)})" if e.evidence else "")
        for e in entries
    ]
    return "\n".join(lines)


def optout_file(count: int) -> str:
    """The comment on (and reply about) the suppression list shared as a file."""
    return f"The suppression list: {plural(count, 'number')}, as a CSV file in this channel."


REPLY_SHOWN = 600  # characters of one reply's text shown in Slack


def replies(batch_id: int | None, items: Sequence[ReplyRecord]) -> str:
    """Replies in one message: number, time and text (escaped), and what a keyword did."""
    head = f"Replies to batch {batch_id}" if batch_id is not None else "Replies to no known batch"
    return "\n".join([f"{head} ({len(items)}):", *(reply_line(r) for r in items)])


def reply_line(reply: ReplyRecord) -> str:
    """One reply's line: `• +447700900123 at 2026-12-05 09:00:00: text`."""
    said = escape(clip(reply.message, REPLY_SHOWN)).replace("\n", " ⏎ ") or "(empty)"
    note = _KEYWORD_NOTES.get(reply.keyword or "", "")
    sender = f"+{reply.sender}" if reply.sender.isdigit() else reply.sender
    return f"• {escape(sender)} at {escape(reply.received_time)}: {said}{note}"


_KEYWORD_NOTES = {
    "stop": " — opt-out keyword: the number is now on the suppression list",
    "start": " — opt-in keyword: a STOP by reply was lifted, if there was one",
}


def rows_file_comment(batch_id: int, rejected: int, suppressed: int) -> str:
    """The comment on the rows CSV shared in the thread."""
    if not suppressed:
        return f"Batch {batch_id}: all {rejected} rejected rows, with reasons."
    return (
        f"Batch {batch_id}: every row not sent, with reasons — {rejected} rejected, "
        f"{suppressed} suppressed (the number is on the suppression list)."
    )


def test_mode_label(mode: TestMode) -> str:
    """How a test mode reads in the card and the modal."""
    return {
        TestMode.OFF: "off (really send)",
        TestMode.SUCCEED: "test: always succeed (nothing sent)",
        TestMode.FAIL: "test: always fail (nothing sent)",
    }[mode]


def chunk_label(index: int, count: int) -> str:
    """`Batch 12` for a single submission, `chunk 2 of 3` inside a larger one."""
    return f" chunk {index + 1} of {count}" if count > 1 else ""


def submission_result(event: Progress, simulated: bool) -> str:
    """The thread message for one answered submission: status code, meaning and batch_id."""
    code = event.status_code
    where = f"Batch {event.batch_id}{chunk_label(event.chunk_index or 0, event.chunk_count)}"
    said = escape(event.description or (meaning(code) if code is not None else "no answer"))
    batch = f", batch_id {event.eapi_batch_id}" if event.eapi_batch_id else ""
    if code == 0:
        text = f"{where} submitted: status 0 {said}{batch}"
    elif code == 1:
        text = f"{where} scheduled: status 1 {said}{batch} — the EAPI sends it at the chosen time"
    elif code is None:
        text = f"{where} failed: {said}"
    else:
        advice = _WHAT_TO_DO.get(code, "Nothing was retried; check the EAPI account.")
        text = f"{where} failed: status {code} ({meaning(code)}) {said}{batch}. {advice}"
    return with_simulation(text, simulated)


def unknown_outcome(event: Progress, simulated: bool) -> str:
    """The thread message when nobody can know whether a submission was processed."""
    where = f"Batch {event.batch_id}{chunk_label(event.chunk_index or 0, event.chunk_count)}"
    # The sender's description may already start with the phrase: say it once.
    said = (event.description or "").removeprefix(UNKNOWN_OUTCOME).strip()
    if said and not (said.startswith("(") and said.endswith(")")):
        said = f"({said})"
    detail = f" {escape(said)}" if said else ""
    return with_simulation(f"{where}: {UNKNOWN_OUTCOME}{detail}", simulated)


def finished(event: Progress, simulated: bool) -> str:
    """The closing thread message of a batch that needed more than one submission, or failed."""
    state = event.state or BatchState.FAILED
    reason = f": {escape(event.description)}" if event.description else ""
    phrase = state_phrase(state, None, None)
    return with_simulation(f"Batch {event.batch_id} finished — {phrase}{reason}", simulated)


def delivery_counts(counts: DeliveryCounts) -> str:
    """`3912 delivered, 41 failed, 47 pending`: plain digits, as the preview; unknown when any."""
    text = f"{counts.delivered} delivered, {counts.failed} failed, {counts.pending} pending"
    return text + (f", {counts.unknown} unknown" if counts.unknown else "")


def delivery_summary(
    batch_id: int, counts: DeliveryCounts | None, final: bool, simulated: bool
) -> str:
    """The thread message and `/smsbatch report` answer: a batch's delivery counts as digits."""
    if counts is None:
        return f"Batch {batch_id} delivery: no delivery report has arrived yet."
    text = f"Batch {batch_id} delivery: {delivery_counts(counts)}"
    if final:
        text += " — final"
    return with_simulation(text, simulated)


def delivery_card_line(counts: DeliveryCounts) -> str:
    """The card's delivery line."""
    return f"*Delivery:* {delivery_counts(counts)}"


def failures_title(batch_id: int, failed: int) -> str:
    """The title of the failed messages' CSV in the thread."""
    return f"Batch {batch_id}: {plural(failed, 'message')} failed — line, number, code, meaning."


HELP = (
    "*/smsbatch* prepares an SMS batch for a second person to approve.\n"
    "• `/smsbatch` — open the New batch form (upload a CSV or spreadsheet or paste rows; "
    "optionally one message for every row with ((column)) placeholders; choose options)\n"
    "• `/smsbatch msisdn,message` followed by rows on new lines — preview pasted CSV\n"
    "• upload a `.csv`, `.xlsx`, `.xls` or `.ods` file in a channel where I am — I reply with "
    "a preview in its thread\n"
    "• `/smsbatch status [BATCH]` — a batch, or the last few batches of this channel\n"
    "• `/smsbatch balance` — the EAPI account's credit balance\n"
    "• `/smsbatch cancel BATCH` — cancel a batch that is waiting for approval\n"
    "• `/smsbatch report BATCH` — how many messages of a batch were delivered or failed\n"
    "• `/smsbatch optout add|remove NUMBER…`, `/smsbatch optout list` — the suppression list\n"
    "• `/smsbatch help` — this text"
)


def unknown_command(text: str) -> str:
    """The reply to input that is neither a subcommand nor CSV."""
    return f"I did not understand `{escape(clip(text, 80))}`.\n{HELP}"


def bad_batch_id(word: str, raw: str) -> str:
    """The reply to `status`/`cancel` with something that is not a batch number."""
    return f"`{word}` needs a batch number, such as `{word} 12`; got `{escape(clip(raw, 40))}`."


def preparing(rows_hint: int) -> str:
    """The immediate ephemeral reply to pasted CSV."""
    return f"Checking {plural(rows_hint, 'line')} of pasted CSV…"


def intake_refused(source: str, reason: str) -> str:
    """The reply when an upload or paste cannot be read as CSV at all."""
    return f"I could not prepare a batch from {escape(source)}: {escape(reason)}"


def cannot_post_here(reason: str) -> str:
    """The reply when the card cannot be posted in the channel."""
    return (
        "I checked the batch but cannot post its preview in this channel "
        f"(Slack said `{escape(reason)}`): invite me with `/invite @smsbatch` and try again. "
        "The batch was cancelled."
    )


def rejected_not_shared(batch_id: int, error: str) -> str:
    """The thread note when the rejected-rows file cannot be attached."""
    return (
        f"I could not attach batch {batch_id}'s rejected rows as a file (Slack said "
        f"`{escape(error)}`; does the app have the files:write scope?). "
        "The card lists the first few."
    )


def balance(credits: Decimal, simulated: bool) -> str:
    """The reply to `/smsbatch balance`."""
    return with_simulation(f"The EAPI account has {number(credits)} credits.", simulated)


def balance_failed(reason: str) -> str:
    """The reply when the balance cannot be read."""
    return f"I could not read the EAPI balance: {escape(reason)}"


def elsewhere(batch_id: int) -> str:
    """The reply to `status N` for a batch prepared in another conversation."""
    return (
        f"Batch {batch_id} was prepared in another conversation; ask for its status there "
        "(its thread also shows its progress)."
    )


def not_found(batch_id: int) -> str:
    """The reply for a batch number that does not exist."""
    return f"There is no batch {batch_id}. `/smsbatch status` lists the recent ones."


def no_batches() -> str:
    """The reply to `/smsbatch status` in a channel without batches."""
    return "No batches in this channel yet. Upload a CSV or use `/smsbatch` to start one."


def cancelled(batch_id: int) -> str:
    """The reply after a successful cancel."""
    return f"Batch {batch_id} is cancelled; nothing from it will be sent."


def refused(reason: str) -> str:
    """The ephemeral reply to a refused click or command (the service's reasons hold mentions)."""
    return f"Not done: {reason}"


def options_fixed(batch_id: int, state: str) -> str:
    """The reply to Options on a batch that is no longer waiting for approval."""
    return f"Not done: batch {batch_id} is {state.replace('_', ' ')}, so its options are fixed."


def form_not_opened(error: str) -> str:
    """The reply when a modal cannot be opened (its trigger lasts three seconds)."""
    return f"The form did not open (Slack said `{escape(error)}`); please try again."


def options_invalid_time() -> str:
    """The modal error for a schedule in the past."""
    return "Pick a time in the future, or leave it empty to send on approval."


def new_batch_needs_input() -> str:
    """The modal error when neither a file nor pasted rows were given."""
    return "Upload a CSV file or spreadsheet, or paste rows (one of the two)."


def new_batch_both_inputs() -> str:
    """The modal error when both a file and pasted rows were given."""
    return "Use either the file or the pasted rows, not both."


def internal_error(ref: str) -> str:
    """What a person sees when something failed on our side (details only in the log)."""
    return (
        "Something went wrong on my side and nothing was sent. "
        f"The details are in the app's log under reference `{ref}`."
    )


def download_refused(name: str, reason: str) -> str:
    """The thread reply when an uploaded file cannot be fetched."""
    return f"I could not read `{escape(clip(name, 80))}`: {escape(reason)}"


def stop_done(batch_id: int, actor: str, sent: int, in_flight: int, stopped: int) -> str:
    """The thread message after a stop: what went, what is under way, what will not go."""
    text = f"Batch {batch_id} stopped by <@{actor}>: {plural(sent, 'message')} already sent"
    if in_flight:
        text += (
            f", {plural(in_flight, 'message')} in a submission under way (it cannot be recalled)"
        )
    return text + f"; {plural(stopped, 'message')} will not be sent."


def stop_scheduled(batch_id: int, scheduled: int) -> str:
    """Added when part of a stopped batch waits at BulkSMS for its send time."""
    return (
        f"{plural(scheduled, 'message')} of batch {batch_id} are scheduled at the EAPI: the app "
        "cannot stop them. Cancel them in the BulkSMS account if they must not go."
    )


def stop_confirm(batch_id: int) -> str:
    """The Stop button's confirm dialog."""
    return (
        f"Stop batch {batch_id}? Submissions not yet made will not be sent; one already under way "
        "finishes, and what went out cannot be recalled."
    )


def test_queued(batch_id: int, msisdn: str) -> str:
    """The ephemeral reply to a Test click that was queued."""
    return (
        f"Sending batch {batch_id}'s first message, exactly as it will go, to your phone "
        f"+{msisdn}. It costs credits like any message; I will tell you the EAPI's answer here."
    )


def test_result(batch_id: int, msisdn: str, state: str, code: int | None, said: str | None,
                eapi_batch_id: int | None, simulated: bool) -> str:  # fmt: skip
    """The ephemeral result of a test send: the EAPI's status and batch_id, or what went wrong."""
    where = f"Test of batch {batch_id} to +{msisdn}"
    said = escape(said or "")
    batch = f", batch_id {eapi_batch_id}" if eapi_batch_id else ""
    if state in ("accepted", "scheduled"):
        text = f"{where} {state}: status {code} {said}{batch}"
    elif state == "unknown":
        text = f"{where}: {UNKNOWN_OUTCOME} ({said})"
    else:
        status = f"status {code} ({meaning(code)}) " if code is not None else ""
        text = f"{where} failed: {status}{said}. Nothing was resent; click again to retry."
    return with_simulation(text.strip(), simulated)


def test_line(user: str, tail: str, at: str, state: str, code: int | None) -> str:
    """One test on the card: who, which number (its last digits only), when, and the answer."""
    answer = f"{state}, status {code}" if code is not None else state
    return f":iphone: Test sent by {user} to the number ending {tail} {at}: {answer}"


def profile_unreadable(error: str) -> str:
    """The reply when the clicker's Slack profile (for their phone) cannot be read."""
    return (
        f"I could not read your Slack profile for its phone number (Slack said `{escape(error)}`; "
        "does the app have the users:read scope?). No test was sent."
    )


def stopped_line(who: str, at: str) -> str:
    """The card's line for a stopped batch (`who` a mention, `at` from `when`)."""
    return f":octagonal_sign: *Stopped* by {who} {at}: submissions not made by then are not sent."


HOME_QUEUE_EMPTY = "Nothing is waiting to be sent."
HOME_NO_BATCHES = "No batches yet: upload a CSV where I am, or click *New batch*."


def home_sender(
    running: bool, problem: str | None, owner: str | None, code: int | None, at: str | None
) -> str:
    """The Home tab's sender line: running or why not, the lease holder, the last answer."""
    state = ":large_green_circle: *Sender running*" if running else ":red_circle: *Sender down*"
    lines = [state + (f" — {escape(problem)}" if problem and not running else "")]
    if owner:
        lines.append(f"Lease holder: `{escape(owner)}`")
    if at is not None:
        said = f"status {code} ({meaning(code)})" if code is not None else "no status code"
        lines.append(f"Last EAPI answer: {said}, {at}")
    else:
        lines.append("Last EAPI answer: none yet")
    return "\n".join(lines)


def home_queue_line(
    position: int, batch_id: int, state: str, approver: str, recipients: int, stopped: bool
) -> str:
    """One queued batch: position, number, state, who approved it, recipients."""
    note = ", stopping" if stopped else ""
    return (
        f"{position}. Batch {batch_id} — {state.replace('_', ' ')}{note}, approved by {approver}, "
        f"{plural(recipients, 'recipient')}"
    )


def home_batch_line(
    batch_id: int,
    phrase: str,
    recipients: int,
    credits: str,
    preparer: str,
    at: str,
    delivery: tuple[int, int, int] | None,
    stopped: bool,
    simulated: bool,
) -> str:
    """One of the latest batches: number, state, recipients, credits and delivery when known."""
    text = f"*Batch {batch_id}* — {phrase}{' (stopped)' if stopped else ''}\n"
    text += f"{plural(recipients, 'recipient')}, ~{credits} credits · by {preparer} {at}"
    if delivery is not None:
        text += f"\nDelivery: {delivery[0]} delivered, {delivery[1]} failed, {delivery[2]} pending"
    return with_simulation(text, simulated)


def home_balance(credits: Decimal | None) -> str:
    """The balance on the Home tab."""
    return "unknown (the EAPI did not answer)" if credits is None else f"{number(credits)} credits"
