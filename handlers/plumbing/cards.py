"""Posting and redrawing preview cards, and the cached EAPI balance the cards show."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.errors import EapiError
from bot.model import BatchState
from bot.service import BatchService, BatchView
from handlers.builders import wording
from handlers.builders.blocks import CardContext, SlackMessage, card
from handlers.plumbing.slackio import SlackIO

logger = logging.getLogger(__name__)

BALANCE_CACHE_SECONDS = 60.0


class BalanceCache:
    """The account balance, asked of the EAPI at most once a minute for cards."""

    def __init__(
        self,
        fetch: Callable[[], Decimal],
        *,
        cache_seconds: float = BALANCE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value: tuple[float, Decimal] | None = None

    def fresh(self) -> Decimal:
        """Ask the EAPI now (raises EapiError) and remember the answer."""
        value = self._fetch()
        with self._lock:
            self._value = (self._clock(), value)
        return value

    def cached(self) -> Decimal | None:
        """The balance for a card: recent if known, else asked now; None when it cannot be read."""
        with self._lock:
            if self._value and self._clock() - self._value[0] < self.cache_seconds:
                return self._value[1]
        try:
            return self.fresh()
        except EapiError as exc:
            logger.warning("the card shows the balance as unknown: %s", exc)
            return None


class Cards:
    """Renders a batch's card and keeps the posted message in step with the database."""

    def __init__(
        self,
        batches: BatchService,
        io: SlackIO,
        balance: BalanceCache,
        *,
        approvers: tuple[str, ...],
        self_approval: bool,
    ) -> None:
        self.batches = batches
        self.io = io
        self.balance = balance
        self.approvers = approvers
        self.self_approval = self_approval
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` (quick, never raising) after each card is posted or redrawn."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()  # the Home tabs: a throttled refresh of whoever may be looking

    def render(self, view: BatchView, note: str | None = None) -> SlackMessage:
        """The card for a batch as it stands (the balance only while it waits for approval)."""
        pending = view.state is BatchState.PENDING
        ctx = CardContext(
            approvers=self.approvers,
            self_approval=self.self_approval,
            balance=self.balance.cached() if pending else None,
            progress_note=note,
            delivery=None if pending else self.batches.delivery_counts(view.id),
            tests=tuple(self.batches.tests.of_batch(view.id)),
        )
        return card(view, ctx)

    def thread_of(self, view: BatchView) -> str | None:
        """Where a batch's thread replies go: the upload's thread, else the card's own thread."""
        return view.thread_ts or view.card_ts

    def publish(self, view: BatchView) -> str:
        """Post the preview card, remember where it is, and share the rejected rows as CSV."""
        ts = self.io.post(view.channel_id, self.render(view), thread_ts=view.thread_ts)
        self.batches.set_card(view.id, view.channel_id, ts)
        self._changed()
        if view.summary.rejected or view.summary.suppressed:
            self._share_rejected(view, view.thread_ts or ts)
        return ts

    def _share_rejected(self, view: BatchView, thread: str) -> None:
        """The full rejected list as a CSV file in the thread (the card shows the first few)."""
        try:
            self.io.upload(
                view.channel_id,
                thread,
                self.batches.rejected_csv(view.id),
                f"batch-{view.id}-rejected.csv",
                wording.rows_file_comment(view.id, view.summary.rejected, view.summary.suppressed),
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "error"))
            logger.warning("could not share the rejected rows of batch %s: %s", view.id, error)
            self.io.say(view.channel_id, wording.rejected_not_shared(view.id, error), thread)
        except (SlackClientError, OSError, ValueError, TypeError, AttributeError):
            # files_upload_v2 is three calls; a Web API that answers one of them oddly (no
            # upload_url) fails inside slack_sdk. The card is already posted: say so, go on.
            logger.exception("the rejected rows of batch %s were not uploaded", view.id)
            self.io.say(
                view.channel_id, wording.rejected_not_shared(view.id, "upload_failed"), thread
            )

    def share_failures(self, view: BatchView, thread: str | None) -> None:
        """The failed messages as a CSV in the thread (line, number, code, meaning)."""
        failed, data = self.batches.failures_csv(view.id)
        if not failed:
            return
        name = f"batch-{view.id}-failed.csv"
        self.io.upload(view.channel_id, thread, data, name, wording.failures_title(view.id, failed))

    def redraw(
        self, batch_id: int, location: tuple[str, str] | None = None, note: str | None = None
    ) -> BatchView | None:
        """Update the posted card from the database; `location` serves until set_card is saved."""
        view = self.batches.get(batch_id)
        where = (view.channel_id, view.card_ts) if view.card_ts else location
        if where is None:
            logger.info("batch %s has no card to update yet", batch_id, extra={"batch": batch_id})
            return None
        self.io.update(where[0], where[1], self.render(view, note))
        self._changed()
        return view
