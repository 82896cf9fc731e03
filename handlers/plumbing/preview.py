"""From bytes to a posted preview card: the one path uploads, pastes and the modal share."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.errors import IntakeError
from bot.model import SendOptions
from bot.service import BatchService, BatchView, Origin
from handlers.builders import wording
from handlers.plumbing.cards import Cards

logger = logging.getLogger(__name__)

Reply = Callable[[str], object]


def describe(origin: Origin) -> str:
    """How a person would name the input: the file name, or 'the pasted rows'."""
    if origin.file_name:
        return f"“{origin.file_name}”"
    return "the pasted rows" if origin.source in ("paste", "modal") else "the upload"


def publish_preview(
    batches: BatchService,
    cards: Cards,
    data: bytes,
    options: SendOptions,
    origin: Origin,
    reply: Reply,
) -> BatchView | None:
    """Plan and store the batch, post its card; unusable input gets `reply` with the reason."""
    try:
        view = batches.prepare(data, options, origin)
    except IntakeError as exc:
        reply(wording.intake_refused(describe(origin), str(exc)))
        return None
    return view if post_card(batches, cards, view, origin.user_id, reply) else None


def post_card(
    batches: BatchService, cards: Cards, view: BatchView, user_id: str, reply: Reply
) -> bool:
    """Post a prepared batch's card; if Slack refuses, cancel the batch and `reply` why."""
    try:
        cards.publish(view)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "error"))
        logger.warning("cannot post the card of batch %s: %s", view.id, error)
        batches.cancel(view.id, user_id)
        reply(wording.cannot_post_here(error))
        return False
    return True
