"""When to resend a submission that got no final answer: capped, jittered, bounded backoff.

Only two outcomes are ever retried (`bot.eapi.client.classify`): RETRY (status 40, an HTTP error, a
timeout, a lost connection, an unreadable answer) and RETRY_LATER (status 26 or 28: upstream
credits or quota, which take longer to come back).

- RETRY waits `base * 2**(n-1)` capped at `cap`, with full jitter: a uniform draw from zero to
  that bound, so that many clients recovering at once do not resend in step.
- RETRY_LATER waits `base * later_factor * 2**(k-1)` capped at `cap * later_factor`, with equal
  jitter (at least half the bound, so it really is slower), and gives up after
  `later_max_attempts` such answers.
- Either way a submission stops after `max_attempts` attempts or once `deadline` seconds have
  passed since its first attempt (a delay that would end past the deadline gives up now).

Every resend reuses the submission's stop_dup_id and identical body; that is the sender's job.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bot.config import Settings
from bot.eapi.client import Outcome


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before the next attempt, or that there is none."""

    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    deadline_seconds: float = 3600.0
    max_attempts: int = 15
    later_factor: float = 30.0
    later_max_attempts: int = 5
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, rng: random.Random | None = None) -> RetryPolicy:
        """The policy configured by SMSBATCH_RETRY_BASE/CAP/DEADLINE_SECONDS."""
        return cls(
            base_seconds=settings.retry_base_seconds,
            cap_seconds=settings.retry_cap_seconds,
            deadline_seconds=settings.retry_deadline_seconds,
            rng=rng or random.Random(),
        )

    def backoff(self, outcome: Outcome, attempt: int) -> float:
        """The jittered wait after the `attempt`-th answer of this kind (1-based)."""
        exponent = min(max(attempt, 1) - 1, 60)  # 2**60 is past any cap; avoids overflow
        if outcome is Outcome.RETRY_LATER:
            bound = min(
                self.cap_seconds * self.later_factor,
                self.base_seconds * self.later_factor * 2.0**exponent,
            )
            return bound / 2 + self.rng.uniform(0, bound / 2)
        bound = min(self.cap_seconds, self.base_seconds * 2.0**exponent)
        return self.rng.uniform(0, bound)

    def next_delay(
        self, outcome: Outcome, *, attempts: int, later_answers: int, elapsed: float
    ) -> float | None:
        """Seconds until the next attempt, or None when the submission must stop now.

        `attempts` counts every attempt so far, `later_answers` the 26/28 answers among them,
        and `elapsed` the seconds since the first attempt.
        """
        if outcome not in (Outcome.RETRY, Outcome.RETRY_LATER):
            return None
        if attempts >= self.max_attempts:
            return None
        if outcome is Outcome.RETRY_LATER:
            if later_answers >= self.later_max_attempts:
                return None
            delay = self.backoff(outcome, later_answers)
        else:
            delay = self.backoff(outcome, attempts)
        if elapsed + delay >= self.deadline_seconds:
            return None
        return delay

    def describe_limit(self, outcome: Outcome, attempts: int, elapsed: float) -> str:
        """Why retrying stopped, in words for a person."""
        if outcome is Outcome.RETRY_LATER and attempts < self.max_attempts:
            return f"still refused after {self.later_max_attempts} slower retries"
        if attempts >= self.max_attempts:
            return f"no answer after {attempts} attempts"
        return (
            f"gave up after {attempts} attempts over {elapsed:.0f} s "
            f"(SMSBATCH_RETRY_DEADLINE_SECONDS={self.deadline_seconds:g})"
        )
