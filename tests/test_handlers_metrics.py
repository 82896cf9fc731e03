"""The metrics parts beside the Slack adapter: failed Web API calls counted, Socket Mode's port."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from bot.cli.metrics import StoreCollector, build_registry, serve_metrics
from bot.errors import ConfigError
from handlers.plumbing.slackmetrics import CountingWebClient
from tests.core_helpers import csv_rows, make_core
from tests.fake_slack import running_fake_slack


def test_a_failed_slack_call_is_counted_by_method_and_error_code() -> None:
    """chat.postMessage answered channel_not_found: raised as before, and counted once."""
    with running_fake_slack(fail_once={"chat.postMessage": "channel_not_found"}) as fake:
        client = CountingWebClient(token=fake.token, base_url=fake.api_url, timeout=5)
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C0CHANNEL", text="hello")
        client.chat_postMessage(channel="C0CHANNEL", text="hello again")
    labels = {"method": "chat.postMessage", "error": "channel_not_found"}
    sample = client.api_errors.labels(**labels)._value.get()
    assert sample == 1


def test_socket_mode_serves_the_registry_on_its_own_port(tmp_path: Path) -> None:
    """SMSBATCH_METRICS_PORT: a plain HTTP server answering the Prometheus text format."""
    core = make_core(tmp_path / "m.db")
    core.prepare(csv_rows(2))
    core.approved(csv_rows(1))
    server = serve_metrics(build_registry(StoreCollector(core.store)), 0, "127.0.0.1")
    try:
        text = requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
        core.store.close()
    values = {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert values[("smsbatch_batches", ("pending",))] == 1
    assert values[("smsbatch_batches", ("approved",))] == 1
    assert values[("smsbatch_queue_length", ())] == 1
    assert values[("smsbatch_oldest_approved_age_seconds", ())] >= 0


def test_a_metrics_port_in_use_is_a_one_line_configuration_problem(tmp_path: Path) -> None:
    """The port is taken: ConfigError naming SMSBATCH_METRICS_PORT (exit 2), not a traceback."""
    core = make_core(tmp_path / "m.db")
    registry = build_registry(StoreCollector(core.store))
    first = serve_metrics(registry, 0, "127.0.0.1")
    try:
        with pytest.raises(ConfigError, match=f"SMSBATCH_METRICS_PORT {first.server_port}"):
            serve_metrics(registry, first.server_port, "127.0.0.1")
    finally:
        first.shutdown()
        first.server_close()
        core.store.close()
