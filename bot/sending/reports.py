"""Delivery reports: polling as a sender side task, and applying pushed reports.

`ReportPoller` is a `SideTask`: the sender gives it a turn only when no submission is ready, and
each turn makes at most one EAPI request (one get_report), so one request is in flight at a time
whatever its kind. Its schedule is in the database (`bot.store.reports`), so a restart resumes
it. Each accepted submission is fetched at the delays of SMSBATCH_REPORT_DELAYS, counted from
its acceptance (or its scheduled send time); fetches missed while the app was down are not made
one by one: the next turn fetches once and moves on to the next delay still ahead. A fetch that
gets nothing usable (40, an HTTP error, a timeout, garbage, an error status) is tried again after
a backoff that doubles from 30 s to at most 15 min, without moving the schedule on; it never
spins. After the last delay's fetch, every message still pending becomes unknown; so it does
when fetches still fail a day after the last delay (a refused login, say), and they stop.

`PushReceiver` applies one pushed report (`GET /eapi/push/report`), idempotently: the same rules
as polling, so push and polling together end in the same state as either alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from bot.eapi.client import EapiClient
from bot.eapi.reports import ReportFetch, delivery_state, fetch_report
from bot.model import Progress, ProgressKind, ReportRow
from bot.sending.notify import Notifier
from bot.store.db import Store
from bot.store.reports import DeliveryNews, DeliveryStore, Schedule, Unscheduled

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 900.0
GIVE_UP_AFTER_SECONDS = 86_400.0  # fetches failing this long after the last delay: stop


def first_step(delays: Sequence[float], base: float, now: float) -> tuple[int, float]:
    """The step and time of a new schedule's first fetch (one fetch now if some were missed)."""
    passed = sum(1 for delay in delays if base + delay <= now)
    if passed == 0:
        return 0, base + delays[0]
    return passed - 1, now


def following_step(
    delays: Sequence[float], schedule: Schedule, now: float
) -> tuple[int, float | None]:
    """The step and time after a fetch at `schedule.step`; None when that was the last."""
    passed = sum(1 for delay in delays if schedule.base_at + delay <= now)
    step = max(schedule.step + 1, passed)  # this fetch stands for every delay already passed
    if step >= len(delays):
        return step, None
    return step, max(now, schedule.base_at + delays[step])


def delivery_progress(news: DeliveryNews) -> Progress:
    """The sender's report of new delivery counts for one batch."""
    return Progress(
        ProgressKind.DELIVERY,
        news.batch_id,
        delivery=news.counts,
        delivery_final=news.final,
        announce=news.announce,
    )


class ReportPoller:
    """The report-fetching side task (see the module docstring)."""

    name = "reports"

    def __init__(
        self,
        store: Store,
        client: EapiClient,
        notifier: Notifier,
        delays: Sequence[float],
        *,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[EapiClient, int], ReportFetch] = fetch_report,
    ) -> None:
        if not delays:
            raise ValueError("delivery reports need at least one delay")
        self.reports = DeliveryStore(store)
        self.client = client
        self.notifier = notifier
        self.delays = tuple(sorted(delays))
        self.clock = clock
        self._fetch = fetch

    def next_due(self, now: float) -> float | None:
        """Now while a submission needs a schedule (or its messages settling, when it was never
        accepted); else the earliest fetch."""
        if self.reports.unscheduled() or self.reports.unsent():
            return now
        return self.reports.next_fetch_at()

    def run(self, now: float) -> None:
        """Schedule new submissions and settle unsent ones (no request), or make the one fetch
        that is due."""
        new = self.reports.unscheduled()
        if new:
            self._schedule(new, now)
            return
        if self.reports.unsent():
            for news in self.reports.settle_unsent(now):
                self._tell(news)
            return
        schedule = self.reports.due(now)
        if schedule is not None:
            self._poll(schedule)

    def _schedule(self, new: Sequence[Unscheduled], now: float) -> None:
        items = []
        for item in new:
            base = self._base(item)
            step, at = first_step(self.delays, base, now)
            items.append((item, base, step, at))
        self.reports.add_schedules(items)
        logger.info("delivery reports scheduled for %d submission(s)", len(items))

    def _base(self, item: Unscheduled) -> float:
        """When the delays count from: acceptance, or a scheduled submission's send time."""
        if item.state != "scheduled":
            return item.finished_at
        send_at = self.reports.store.batch_header(item.batch_id).options.send_at
        return max(item.finished_at, float(send_at or 0))

    def _poll(self, schedule: Schedule) -> None:
        fetch = self._fetch(self.client, schedule.eapi_batch_id)
        now = self.clock()
        if fetch.rows is None:
            error = fetch.error or "no usable answer"
            if now > schedule.base_at + self.delays[-1] + GIVE_UP_AFTER_SECONDS:
                logger.warning(
                    "get_report for batch_id %s still fails a day after the last delay (%s): "
                    "its pending messages become unknown",
                    schedule.eapi_batch_id,
                    error,
                )
                self._tell(self.reports.give_up(schedule, error=error, now=now))
                return
            wait = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**schedule.failures)
            self.reports.record_failure(
                schedule, error=error, status_line=fetch.status_line, now=now, retry_at=now + wait
            )
            logger.warning(
                "get_report for batch_id %s: %s; again in %.0f s",
                schedule.eapi_batch_id,
                error,
                wait,
            )
            return
        step, next_at = following_step(self.delays, schedule, now)
        news = self.reports.record_fetch(
            schedule,
            fetch.rows,
            status_line=fetch.status_line,
            skipped=fetch.skipped,
            now=now,
            next_step=step,
            next_at=next_at,
        )
        self._tell(news)

    def _tell(self, news: DeliveryNews) -> None:
        if news.changed or news.announce:
            self.notifier.notify(delivery_progress(news))


def _digits(params: Mapping[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{name} must be digits, got {value[:30]!r}")
    return value


def pushed_report(params: Mapping[str, str]) -> tuple[int, ReportRow]:
    """The EAPI batch_id and the report of one push; ValueError naming a missing field."""
    msisdn = _digits(params, "msisdn")
    batch_id = int(_digits(params, "batch_id"))
    status = int(_digits(params, "status"))
    source_id = (params.get("source_id") or "").strip() or None
    completed = (params.get("completed_time") or "").strip() or None
    return batch_id, ReportRow(msisdn, status, delivery_state(status), source_id, completed)


class PushReceiver:
    """Applies pushed delivery reports (a `PushHandler` for `GET /eapi/push/report`)."""

    def __init__(
        self, store: Store, notifier: Notifier, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.reports = DeliveryStore(store)
        self.notifier = notifier
        self.clock = clock

    def __call__(self, params: Mapping[str, str]) -> None:
        """Apply one push; ValueError when it is malformed (an unknown batch_id is logged)."""
        batch_id, report = pushed_report(params)
        news = self.reports.record_push(batch_id, report, self.clock())
        if news is None:
            logger.info("pushed report for batch_id %s, which is none of ours", batch_id)
            return
        if news.changed or news.announce:
            self.notifier.notify(delivery_progress(news))
