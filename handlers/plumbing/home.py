"""Publishing Home tabs: on open, and again after a change while the person may still look.

Slack does not say when a Home tab is closed, so a person counts as a viewer for `viewer_ttl`
seconds after they last opened it. After a change (a card redraw, a decision, a result) every
viewer's tab is published again, at most once every `min_interval` seconds: changes that come
meanwhile are coalesced into the next publish. Delivery counts and the suppression list's size
are optional sources, shown when given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.home import Delivery
from bot.service import BatchService
from handlers.builders.home import home_view
from handlers.plumbing.cards import BalanceCache
from handlers.plumbing.jobs import Jobs
from handlers.plumbing.slackio import SlackIO

logger = logging.getLogger(__name__)

MIN_INTERVAL = 5.0
VIEWER_TTL = 600.0


@dataclass(frozen=True, slots=True)
class HomeSources:
    """Optional figures from other features: delivery counts by batch, the suppression list."""

    delivery: Callable[[Sequence[int]], Mapping[int, Delivery]] | None = None
    suppressed: Callable[[], int] | None = None


class HomeTabs:
    """Publishes Home tabs (views.publish) on open and, throttled, after changes."""

    def __init__(
        self,
        batches: BatchService,
        io: SlackIO,
        balance: BalanceCache,
        jobs: Jobs,
        *,
        sources: HomeSources = HomeSources(),
        min_interval: float = MIN_INTERVAL,
        viewer_ttl: float = VIEWER_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.batches = batches
        self.io = io
        self.balance = balance
        self.jobs = jobs
        self.sources = sources
        self.min_interval = min_interval
        self.viewer_ttl = viewer_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._viewers: dict[str, float] = {}
        self._last_refresh = float("-inf")
        self._timer: threading.Timer | None = None

    def opened(self, user_id: str) -> None:
        """A person opened the Home tab: publish theirs now (on the job pool)."""
        with self._lock:
            self._viewers[user_id] = self._clock()
        self.jobs.submit("home", lambda: self.publish(user_id), None)

    def publish(self, user_id: str) -> None:
        """Build the view from the database and publish it for one person."""
        snapshot = self.batches.home()
        ids = sorted({b.id for b in snapshot.latest})
        delivery = self.sources.delivery(ids) if self.sources.delivery else None
        suppressed = self.sources.suppressed() if self.sources.suppressed else None
        view = home_view(
            snapshot, balance=self.balance.cached(), delivery=delivery, suppressed=suppressed
        )
        self.io.publish_home(user_id, view)

    def changed(self) -> None:
        """Something a Home tab shows changed: refresh recent viewers' tabs soon (throttled)."""
        with self._lock:
            if self._timer is not None or not self._recent_viewers():
                return
            delay = max(0.0, self._last_refresh + self.min_interval - self._clock())
            self._timer = threading.Timer(delay, self._refresh)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        """Cancel a pending refresh (when the app stops)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _recent_viewers(self) -> list[str]:
        cutoff = self._clock() - self.viewer_ttl
        for user_id in [u for u, at in self._viewers.items() if at < cutoff]:
            del self._viewers[user_id]
        return list(self._viewers)

    def _refresh(self) -> None:
        with self._lock:
            self._timer = None
            self._last_refresh = self._clock()
            viewers = self._recent_viewers()
        for user_id in viewers:
            try:
                self.publish(user_id)
            except SlackApiError as exc:
                logger.warning("views.publish refused: %s", exc.response.get("error"))
            except Exception:
                # Timer thread boundary: logged with its traceback, and the next change retries.
                logger.exception("the Home tab of %s was not refreshed", user_id)
