"""The Home tab as a pure Block Kit builder: a function of a `HomeSnapshot`, no I/O.

Delivery counts and the suppression list's size are optional inputs, shown when given (they
come from the delivery-report and opt-out features). Lists are cut so that the view stays far
inside Slack's 100 blocks: one section for the queue, one section per latest batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.home import Delivery, HomeBatch, HomeSnapshot, SenderStatus
from handlers.builders import ids, wording
from handlers.builders.blocks import Block, more, mrkdwn, plain, section, user

QUEUE_SHOWN = 15
LATEST_SHOWN = 10


def _sender(status: SenderStatus) -> Block:
    answer = None
    if status.last_answer_at is not None:
        answer = wording.when(status.last_answer_at)
    return section(
        wording.home_sender(
            status.running, status.problem, status.owner, status.last_status_code, answer
        )
    )


def _queue(queue: tuple[HomeBatch, ...]) -> Block:
    lines = [
        wording.home_queue_line(
            b.queue_position or 0, b.id, b.state.value, user(b.decided_by), b.recipients, b.stopped
        )
        for b in queue[:QUEUE_SHOWN]
    ]
    return section("*Queue*\n" + ("\n".join(more(lines, len(queue))) or wording.HOME_QUEUE_EMPTY))


def _latest(batch: HomeBatch, delivery: Delivery | None) -> Block:
    counts = None if delivery is None else (delivery.delivered, delivery.failed, delivery.pending)
    text = wording.home_batch_line(
        batch.id,
        wording.state_phrase(batch.state, None, batch.queue_position),
        batch.recipients,
        wording.number(batch.credits),
        user(batch.prepared_by),
        wording.when(batch.created_at),
        counts,
        batch.stopped,
        batch.simulated,
    )
    return section(text)


def _figures(balance: Decimal | None, suppressed: int | None) -> Block:
    fields = [f"*Account balance*\n{wording.home_balance(balance)}"]
    if suppressed is not None:
        fields.append(f"*Suppression list*\n{wording.plural(suppressed, 'number')}")
    return {"type": "section", "fields": [mrkdwn(f) for f in fields]}


def home_view(
    snapshot: HomeSnapshot,
    *,
    balance: Decimal | None,
    delivery: Mapping[int, Delivery] | None = None,
    suppressed: int | None = None,
) -> dict[str, Any]:
    """The Home tab: New batch, the sender, the balance, the queue and the latest batches."""
    new_batch = {
        "type": "button",
        "action_id": ids.HOME_NEW_BATCH,
        "text": plain("New batch"),
        "style": "primary",
        "value": "new",
    }
    blocks: list[Block] = [
        {"type": "header", "text": plain("SMS Batch")},
        {"type": "actions", "elements": [new_batch]},
        _sender(snapshot.sender),
        _figures(balance, suppressed),
        {"type": "divider"},
        _queue(snapshot.queue),
        {"type": "divider"},
        section("*Latest batches*" if snapshot.latest else wording.HOME_NO_BATCHES),
    ]
    counts = delivery or {}
    blocks += [_latest(b, counts.get(b.id)) for b in snapshot.latest[:LATEST_SHOWN]]
    return {"type": "home", "blocks": blocks}
