"""The app's own worker pool for Slack-side work done after the ack.

Downloads, intake, approvals and replies run here, never on Bolt's listener pool, so one long
intake cannot delay the acknowledgement of any other request. A job that fails unexpectedly has
its traceback logged under a short reference, and the person is told that reference.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from slack_sdk.errors import SlackApiError

from handlers.builders import wording

logger = logging.getLogger(__name__)

THREAD_PREFIX = "smsbatch-job"
WORKERS = 4

Reply = Callable[[str], object]


class Jobs:
    """A small thread pool; `submit` runs a job and reports unexpected failures to the user."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=THREAD_PREFIX)

    def submit(self, name: str, job: Callable[[], object], report: Reply | None) -> Future[None]:
        """Run `job` in the pool; on an unexpected error log it and tell the user via `report`."""
        return self._pool.submit(self._run, name, job, report)

    def _run(self, name: str, job: Callable[[], object], report: Reply | None) -> None:
        try:
            job()
        except Exception:
            # Thread boundary: log the traceback with a reference the user can quote, tell
            # them, and re-raise so the future records the failure too.
            ref = secrets.token_hex(4)
            logger.exception("job %s failed (ref %s)", name, ref)
            if report is not None:
                _tell(report, wording.internal_error(ref))
            raise

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with `wait`, finish the ones already queued."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


def _tell(report: Reply, text: str) -> None:
    """Best effort: a failed apology is logged, not raised over the original error."""
    try:
        report(text)
    except SlackApiError as exc:
        logger.warning("could not tell the user about a failure: %s", exc.response.get("error"))
