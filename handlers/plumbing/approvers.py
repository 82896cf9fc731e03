"""Who may approve: the user IDs in SMSBATCH_APPROVERS plus members of its user groups.

User groups (`S…`) are resolved with usergroups.users.list and cached for a minute, so a burst of
clicks costs one API call per group. A group that cannot be resolved grants nobody (fail closed)
and is asked again on the next click.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60.0


class ApproverDirectory:
    """Answers `is_approver(user_id)` from configured users and cached user-group members."""

    def __init__(
        self,
        client: WebClient,
        entries: Sequence[str],
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.users = frozenset(e for e in entries if not e.startswith("S"))
        self.groups = tuple(e for e in entries if e.startswith("S"))
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def is_approver(self, user_id: str) -> bool:
        """True when the user is listed or belongs to a listed user group."""
        if user_id in self.users:
            return True
        return any(user_id in self._group(group) for group in self.groups)

    def _group(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._members.get(group)
            if cached is not None and now - cached[0] < self.cache_seconds:
                return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            logger.warning(
                "cannot resolve user group %s (%s): its members cannot approve until it can",
                group,
                exc.response.get("error", "error"),
            )
            return frozenset()
        members = frozenset(response.get("users") or ())
        with self._lock:
            self._members[group] = (now, members)
        return members
