"""Prometheus metrics: one registry per app, read at scrape time, served at `/metrics`.

HTTP mode serves `GET /metrics` on PORT (handlers.plumbing.http); Socket Mode opens no port for
Slack, so with SMSBATCH_METRICS_PORT set `serve_metrics` starts a small server for it alone.

What a scrape shows (no label takes unbounded values: no numbers, no batch ids):
- from the database, by `StoreCollector` (so counts survive restarts and agree with `audit`):
  `smsbatch_batches{state}`, `smsbatch_submissions_total{status_code}` (send_batch attempts by
  EAPI status code, `none` when no code came back, `other` for a code the EAPI does not
  document), `smsbatch_retries_total`, `smsbatch_queue_length`,
  `smsbatch_oldest_approved_age_seconds`, `smsbatch_sender_heartbeat_age_seconds`;
- kept by the parts that measure them: `smsbatch_eapi_request_duration_seconds{endpoint}`
  (bot.eapi.metrics), `smsbatch_slack_api_errors_total{method,error}`
  (handlers.plumbing.slackmetrics), `smsbatch_replication_up` and
  `smsbatch_replication_restarts_total` while replicating;
- delivery states and inbox lag, once those features hand in their readers (`delivery_states`,
  `inbox_lag_seconds`): `smsbatch_messages{delivery_state}` and `smsbatch_inbox_lag_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.cli.replicate import Replicator
from bot.eapi.client import STATUS_MEANINGS
from bot.errors import ConfigError
from bot.model import BatchState
from bot.store.db import Store
from bot.store.stats import store_stats


def status_label(code: int | None) -> str:
    """An EAPI status code as a bounded label: the documented codes, `none` or `other`."""
    if code is None:
        return "none"
    return str(code) if code in STATUS_MEANINGS else "other"


@dataclass(eq=False)  # the registry keys collectors by identity
class StoreCollector(Collector):
    """Reads the database (and the optional readers) at each scrape."""

    store: Store
    clock: Callable[[], float] = time.time
    replicator: Replicator | None = None
    delivery_states: Callable[[], Mapping[str, int]] | None = None
    inbox_lag_seconds: Callable[[], float | None] | None = None

    def collect(self) -> Iterator[Metric]:
        """One scrape: every family, from one read of the database."""
        stats = store_stats(self.store, self.clock())
        batches = GaugeMetricFamily("smsbatch_batches", "Batches by state", labels=["state"])
        for state in BatchState:
            batches.add_metric([state.value], stats.batches_by_state.get(state.value, 0))
        yield batches
        answers = CounterMetricFamily(
            "smsbatch_submissions",
            "send_batch attempts answered, by EAPI status code (none: no code came back)",
            labels=["status_code"],
        )
        totals: dict[str, int] = {}
        for code, count in stats.answers_by_status.items():
            totals[status_label(code)] = totals.get(status_label(code), 0) + count
        for label, count in sorted(totals.items()):
            answers.add_metric([label], count)
        yield answers
        yield CounterMetricFamily(
            "smsbatch_retries", "send_batch attempts after a submission's first", stats.retries
        )
        yield from self._queue(stats.health.queue_length, stats.health.oldest_approved_age_seconds)
        yield from self._heartbeat(stats.health.heartbeat_age_seconds)
        yield from self._replication()
        yield from self._later_features()

    def _queue(self, length: int, oldest: float | None) -> Iterator[Metric]:
        yield GaugeMetricFamily("smsbatch_queue_length", "Approved batches not finished", length)
        yield GaugeMetricFamily(
            "smsbatch_oldest_approved_age_seconds",
            "Age of the oldest approved batch not finished (0 when the queue is empty)",
            0.0 if oldest is None else oldest,
        )

    def _heartbeat(self, age: float | None) -> Iterator[Metric]:
        if age is not None:  # absent until a sender ever ran: alert with absent() too
            yield GaugeMetricFamily(
                "smsbatch_sender_heartbeat_age_seconds", "Seconds since the sender's last beat", age
            )

    def _replication(self) -> Iterator[Metric]:
        if self.replicator is None:
            return
        yield GaugeMetricFamily(
            "smsbatch_replication_up",
            "1 while litestream replicate runs for the database",
            1.0 if self.replicator.running else 0.0,
        )
        yield CounterMetricFamily(
            "smsbatch_replication_restarts",
            "Times litestream exited on its own and was started again",
            self.replicator.restarts,
        )

    def _later_features(self) -> Iterator[Metric]:
        if self.delivery_states is not None:
            messages = GaugeMetricFamily(
                "smsbatch_messages", "Messages by delivery state", labels=["delivery_state"]
            )
            for state, count in sorted(self.delivery_states().items()):
                messages.add_metric([state], count)
            yield messages
        if self.inbox_lag_seconds is not None and (lag := self.inbox_lag_seconds()) is not None:
            yield GaugeMetricFamily(
                "smsbatch_inbox_lag_seconds", "Seconds since the inbox was last read", lag
            )


def build_registry(collector: StoreCollector, *measured: Collector) -> CollectorRegistry:
    """A registry with the store collector and the parts' own metrics."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    for metric in measured:
        registry.register(metric)
    return registry


def exposition(registry: CollectorRegistry) -> Callable[[], tuple[bytes, str]]:
    """What `GET /metrics` answers: the text format and its content type."""

    def render() -> tuple[bytes, str]:
        """One scrape."""
        return generate_latest(registry), CONTENT_TYPE_LATEST

    return render


def serve_metrics(registry: CollectorRegistry, port: int, host: str) -> WSGIServer:
    """Socket Mode: serve the registry on its own port (every path answers); stop with
    `shutdown()`."""
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            [f"SMSBATCH_METRICS_PORT {port} cannot be opened on {host}: {exc}"]
        ) from None
    return server
