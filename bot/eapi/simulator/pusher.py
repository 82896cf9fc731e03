"""The simulator's HTTP push of delivery reports, as BulkSMS pushes them to an account's URL.

Every `interval` seconds the pusher looks at each accepted message's code (its delivery path) and
pushes each change with an HTTP GET: `msisdn`, `batch_id`, `status`, `source_id` and, for a final
code, `completed_time` (`yy-MM-dd HH:mm:ss`), added to the configured URL (which carries `pass=`).
A push not answered 200 with a body is tried again at the next round. With `repeat`, each report
is pushed twice (BulkSMS repeats pushes for 16 hours), to exercise idempotent handling.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from urllib.parse import urlencode

import requests

from bot.eapi.simulator.state import EapiSimulator

logger = logging.getLogger(__name__)

_PENDING_CODES = (0, 10, 12, 63)


class ReportPusher:
    """Pushes report changes from a simulator's state to one URL, from a daemon thread."""

    def __init__(
        self, state: EapiSimulator, url: str, *, interval: float = 0.2, repeat: bool = False
    ) -> None:
        self.state = state
        self.url = url
        self.interval = interval
        self.repeat = repeat
        self.pushed = 0  # pushes answered 200 with a body
        self.refused = 0  # pushes answered otherwise (tried again)
        self._sent: dict[tuple[int, int], int] = {}
        self._stop = threading.Event()
        self._session = requests.Session()
        self._thread: threading.Thread | None = None

    def start(self) -> ReportPusher:
        """Start pushing; returns self."""
        self._thread = threading.Thread(target=self._run, name="eapi-sim-pusher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._session.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.push_round()

    def _changes(self) -> list[tuple[tuple[int, int], dict[str, str]]]:
        with self.state.lock:
            deliveries = list(self.state.deliveries.items())
            codes = {batch_id: self.state.report_codes(batch_id) for batch_id, _ in deliveries}
        changes = []
        for batch_id, delivery in deliveries:
            for i, code in enumerate(codes[batch_id]):
                if code is None or self._sent.get((batch_id, i)) == code:
                    continue
                params = {
                    "msisdn": delivery.msisdns[i],
                    "batch_id": str(batch_id),
                    "status": str(code),
                    "source_id": delivery.source_ids[i],
                }
                if code not in _PENDING_CODES:
                    params["completed_time"] = datetime.now(UTC).strftime("%y-%m-%d %H:%M:%S")
                changes.append(((batch_id, i), params))
        return changes

    def push_round(self) -> int:
        """Push every change since the last round; returns how many were accepted."""
        accepted = 0
        for key, params in self._changes():
            if self._stop.is_set():
                break
            ok = all(self._push(params) for _ in range(2 if self.repeat else 1))
            if ok:
                self._sent[key] = int(params["status"])
                accepted += 1
        return accepted

    def _push(self, params: dict[str, str]) -> bool:
        joiner = "&" if "?" in self.url else "?"
        try:
            response = self._session.get(self.url + joiner + urlencode(params), timeout=5)
        except requests.RequestException as exc:
            logger.info("push not delivered: %s", type(exc).__name__)
            self.refused += 1
            return False
        if response.status_code == 200 and response.content:
            self.pushed += 1
            return True
        logger.info("push answered HTTP %s; tried again later", response.status_code)
        self.refused += 1
        return False
