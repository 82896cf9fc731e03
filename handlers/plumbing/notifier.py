"""The sender's progress, told in Slack: thread messages per submission, throttled card edits.

Delivery reports (`ProgressKind.DELIVERY`) redraw the card (throttled like every edit); the
batch's first reports and its final counts also go in the thread, the final ones with the failed
messages as a CSV file.

`notify` only enqueues, so the sender thread never waits for Slack. One worker thread posts a
thread message for every answered submission (status code, meaning, batch_id) and for outcomes
nobody can know, and redraws each card at most once every `min_interval` seconds (Slack asks for
no more than one chat.update per message every ~3 s), coalescing whatever arrived meanwhile.

Final results are confirmed to the service (`BatchService.mark_reported`) only once Slack took
them: a thread message after `chat.postMessage` succeeded, and a result that needs no thread
message (the end of a one-chunk batch that was sent) after the card showing it was updated.
Anything unconfirmed is reported again by the sender after a restart, so a crash or a Slack
failure in between costs at most a repeated message, never a lost one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from slack_sdk.errors import SlackApiError

from bot.model import BatchState, Progress, ProgressKind
from bot.sending.notify import is_final_report
from handlers.builders import wording
from handlers.plumbing.cards import Cards

logger = logging.getLogger(__name__)

MIN_EDIT_INTERVAL = 3.0
_STOP = object()


@dataclass(frozen=True, slots=True)
class _Refresh:
    """A request to redraw one card (after a decision, or an options change)."""

    batch_id: int
    location: tuple[str, str] | None


class SlackNotifier:
    """Implements bot.sending.notify.Notifier for Slack; call `bind(cards)` then `start()`."""

    def __init__(
        self,
        *,
        min_interval: float = MIN_EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._cards: Cards | None = None
        self._queue: queue.Queue[object] = queue.Queue()
        self._due: dict[int, float] = {}
        self._last_edit: dict[int, float] = {}
        self._notes: dict[int, str] = {}
        self._where: dict[int, tuple[str, str]] = {}
        self._shown_by_card: dict[int, list[Progress]] = {}  # confirmed by the next redraw
        self._thread: threading.Thread | None = None
        self.failures = 0  # unexpected errors, each logged with its traceback

    def bind(self, cards: Cards) -> None:
        """Give the notifier the cards it redraws (they need the service, built after us)."""
        self._cards = cards

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="smsbatch-notifier", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued (pending edits are made at once), then stop the worker."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def notify(self, event: Progress) -> None:
        """Take one progress report from the sender; returns at once."""
        self._queue.put(event)

    def refresh(self, batch_id: int, location: tuple[str, str] | None = None) -> None:
        """Redraw a card soon (`location` = channel and ts, when the card may not be saved yet)."""
        self._queue.put(_Refresh(batch_id, location))

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is _STOP:
                self._edit_due(force=True)
                return
            if item is not None:
                self._guard(partial(self._take, item), repr(item))
            self._edit_due(force=False)

    def _next(self) -> object:
        wait = None
        if self._due:
            wait = max(0.0, min(self._due.values()) - self._clock())
        try:
            return self._queue.get(timeout=wait)
        except queue.Empty:
            return None

    def _guard(self, job: Callable[[], None], what: str) -> None:
        """Run one job; a Slack refusal is logged, anything else logged with its traceback."""
        try:
            job()
        except SlackApiError as exc:
            logger.warning("Slack refused a progress update: %s", exc.response.get("error"))
        except Exception:
            # Thread boundary: the worker must outlive one bad update; the traceback is logged
            # and the failure counted, never hidden.
            logger.exception("progress update failed: %s", what)
            self.failures += 1

    def _take(self, item: object) -> None:
        if isinstance(item, _Refresh):
            if item.location:
                self._where[item.batch_id] = item.location
            self._mark(item.batch_id)
        elif isinstance(item, Progress):
            self._progress(item)

    def _progress(self, event: Progress) -> None:
        if event.kind is ProgressKind.DELIVERY:
            self._delivery(event)
            self._mark(event.batch_id)
            return
        if event.kind is ProgressKind.TEST_DONE:
            self._test_done(event)
            return
        if event.kind is ProgressKind.RETRYING:
            wait = f" in {event.retry_in_seconds:.0f} s" if event.retry_in_seconds else ""
            reason = f" ({event.description})" if event.description else ""
            self._notes[event.batch_id] = f"Retrying: attempt {event.attempt or 2}{wait}{reason}"
        else:
            self._notes.pop(event.batch_id, None)
        text = self._thread_text(event)
        if text:
            self._post_in_thread(event.batch_id, text)
            self._confirm(event)
        elif is_final_report(event):
            self._shown_by_card.setdefault(event.batch_id, []).append(event)
        self._mark(event.batch_id)

    def _delivery(self, event: Progress) -> None:
        """Delivery counts: the card is redrawn; the first and the final ones go in the thread,
        the final ones with the failed messages as a CSV."""
        if not event.announce:
            return
        cards = self._require_cards()
        view = cards.batches.get(event.batch_id)
        final = event.delivery_final
        self._post_in_thread(
            event.batch_id,
            wording.delivery_summary(event.batch_id, event.delivery, final, view.simulated),
        )
        if final:
            cards.share_failures(view, cards.thread_of(view))

    def _test_done(self, event: Progress) -> None:
        """Tell the tester the EAPI's answer (ephemeral), confirm it, and redraw the card."""
        batches = self._require_cards().batches
        test = batches.tests.get(event.test_id or 0)
        if test is None:
            return
        simulated = batches.get(test.batch_id).simulated
        text = wording.test_result(
            test.batch_id, test.msisdn, test.state, test.status_code, test.description,
            test.eapi_batch_id, simulated,
        )  # fmt: skip
        self._require_cards().io.ephemeral(test.channel_id, test.user_id, text, test.thread_ts)
        batches.tests.reported(test.id)
        self._mark(test.batch_id)

    def _confirm(self, event: Progress) -> None:
        """Tell the service a final result reached Slack, so it is not reported again."""
        if is_final_report(event):
            self._require_cards().batches.mark_reported(event.batch_id, event.chunk_index)

    def _thread_text(self, event: Progress) -> str | None:
        cards = self._require_cards()
        simulated = cards.batches.get(event.batch_id).simulated
        if event.kind is ProgressKind.CHUNK_DONE:
            return wording.submission_result(event, simulated)
        if event.kind is ProgressKind.UNKNOWN:
            return wording.unknown_outcome(event, simulated)
        if event.kind is ProgressKind.DROPPED:
            return wording.dropped_suppressed(event, simulated)
        if event.kind is ProgressKind.FINISHED and (
            event.state is not BatchState.SENT or event.chunk_count > 1
        ):
            return wording.finished(event, simulated)
        return None

    def _post_in_thread(self, batch_id: int, text: str) -> None:
        cards = self._require_cards()
        view = cards.batches.get(batch_id)
        thread = cards.thread_of(view)
        if thread is None and batch_id in self._where:
            thread = self._where[batch_id][1]
        cards.io.say(view.channel_id, text, thread_ts=thread)

    def _mark(self, batch_id: int) -> None:
        """Schedule a redraw: now, or `min_interval` after this card's last edit."""
        due = max(self._clock(), self._last_edit.get(batch_id, float("-inf")) + self.min_interval)
        self._due[batch_id] = min(due, self._due.get(batch_id, due))

    def _edit_due(self, *, force: bool) -> None:
        now = self._clock()
        for batch_id, due in sorted(self._due.items(), key=lambda kv: kv[1]):
            if force or due <= now:
                del self._due[batch_id]
                self._last_edit[batch_id] = self._clock()
                self._guard(partial(self._redraw, batch_id), f"redraw batch {batch_id}")

    def _redraw(self, batch_id: int) -> None:
        cards = self._require_cards()
        view = cards.redraw(batch_id, self._where.get(batch_id), self._notes.get(batch_id))
        # Updated (or there is no card to update): the card now shows these results.
        for event in self._shown_by_card.pop(batch_id, []):
            self._confirm(event)
        if view is not None and view.state.final:
            self._notes.pop(batch_id, None)
            self._where.pop(batch_id, None)

    def _require_cards(self) -> Cards:
        if self._cards is None:
            raise RuntimeError("SlackNotifier.bind(cards) must be called before start()")
        return self._cards
