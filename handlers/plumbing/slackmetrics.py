"""A WebClient that counts the Slack Web API calls that failed, for the app's /metrics.

Every method of slack_sdk's WebClient goes through `api_call`, so one override sees them all:
an answer with `ok: false` (SlackApiError, labelled with Slack's error code) and a call that got
no answer at all (`connection`). Labels stay bounded: API method names are a fixed set, and an
error code that does not look like one of Slack's (`lower_snake_case`) is counted as `other`.
"""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import Counter
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

_ERROR_CODE = re.compile(r"[a-z_]{1,60}")
_METHOD = re.compile(r"[a-zA-Z.]{1,60}")


def api_errors_counter() -> Counter:
    """A new, unregistered `smsbatch_slack_api_errors_total{method,error}` counter."""
    return Counter(
        "smsbatch_slack_api_errors",
        "Slack Web API calls that failed, by API method and Slack's error code",
        ["method", "error"],
        registry=None,
    )


def _label(value: object, pattern: re.Pattern[str]) -> str:
    text = str(value)
    return text if pattern.fullmatch(text) else "other"


class CountingWebClient(WebClient):
    """slack_sdk's WebClient, counting each failed call in `api_errors` before re-raising."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_errors = api_errors_counter()

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        """Call the API; a failure is counted (method, error code) and raised unchanged."""
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            self._count(api_method, _label(error, _ERROR_CODE))
            raise
        except OSError:
            self._count(api_method, "connection")
            raise

    def _count(self, method: str, error: str) -> None:
        self.api_errors.labels(method=_label(method, _METHOD), error=error).inc()
