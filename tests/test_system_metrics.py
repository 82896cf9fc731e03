"""`GET /metrics` of the real app (`python -m bot`, HTTP mode) after a scenario.

Upload, approve, the EAPI answers 40 then 0: a scrape must show what an operator reading the
dashboard would expect, with labels that never carry numbers that grow (ids, batch numbers).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_slack import running_fake_slack
from tests.fake_socket_mode import FakeSocketMode
from tests.test_handlers_http_mode import free_port
from tests.test_system_blackbox import CSV, Proc, approve_and_wait, running_world, wait
from tests.test_system_socket_mode import socket_env

BOUNDED_LABELS = {"state", "status_code", "endpoint", "le", "delivery_state"}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape: (name, sorted labels) -> value."""
    response = requests.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_a_scrape_after_upload_approve_40_then_0_shows_what_happened(tmp_path: Path) -> None:
    """One batch sent after one retry: batches by state, answers by code, retries, queue,
    EAPI durations by endpoint, a fresh heartbeat, no Slack errors, no unbounded labels."""
    with running_world(tmp_path, "--script", "40,0") as world:
        approve_and_wait(world, world.upload("contacts.csv", CSV))
        samples = wait(
            lambda: (
                (s := scrape(world.app_url))[("smsbatch_batches", (("state", "sent"),))] == 1 and s
            ),
            10,
            "the batch to be counted as sent",
        )
    batches = {dict(k[1])["state"]: v for k, v in samples.items() if k[0] == "smsbatch_batches"}
    assert batches["sent"] == 1 and sum(batches.values()) == 1
    answers = {
        dict(k[1])["status_code"]: v
        for k, v in samples.items()
        if k[0] == "smsbatch_submissions_total"
    }
    assert answers == {"0": 1, "40": 1}
    assert samples[("smsbatch_retries_total", ())] == 1
    assert samples[("smsbatch_queue_length", ())] == 0
    assert samples[("smsbatch_oldest_approved_age_seconds", ())] == 0
    send_batch = (("endpoint", "send_batch"),)
    assert samples[("smsbatch_eapi_request_duration_seconds_count", send_batch)] == 2
    assert 0 < samples[("smsbatch_eapi_request_duration_seconds_sum", send_batch)] < 10
    assert 0 <= samples[("smsbatch_sender_heartbeat_age_seconds", ())] < 30
    assert not [k for k in samples if k[0] == "smsbatch_slack_api_errors_total"]
    assert not [k for k in samples if k[0].startswith("smsbatch_replication")]
    delivery = {
        dict(k[1])["delivery_state"]: v for k, v in samples.items() if k[0] == "smsbatch_messages"
    }
    assert set(delivery) == {"delivered", "failed", "pending", "unknown"}
    assert sum(delivery.values()) == 3  # the three messages sent, whatever reports said yet
    for name, labels in samples:  # every label is one of a fixed, small set of values
        assert {key for key, _ in labels} <= BOUNDED_LABELS, (name, labels)


def test_socket_mode_serves_metrics_on_its_own_port_and_closes_it_at_the_end(
    tmp_path: Path,
) -> None:
    """SMSBATCH_METRICS_PORT in Socket Mode: /metrics answers while the app runs; SIGTERM ends
    the app with 0 and the port with it."""
    port = free_port()
    with running_fake_slack() as fake:
        link = FakeSocketMode().start()
        fake.socket_url = link.url
        env = socket_env(tmp_path, fake) | {"SMSBATCH_METRICS_PORT": str(port)}
        proc = Proc([sys.executable, "-m", "bot"], env, tmp_path)
        try:
            wait(lambda: link.connected() or proc.popen.poll() is not None, 20, "the WebSocket")
            assert proc.popen.poll() is None, proc.output
            samples = scrape(f"http://127.0.0.1:{port}")
            assert samples[("smsbatch_queue_length", ())] == 0
            assert samples[("smsbatch_batches", (("state", "pending"),))] == 0
            proc.popen.send_signal(signal.SIGTERM)
            assert proc.popen.wait(15) == 0, proc.output
        finally:
            proc.stop()
            link.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    assert "Traceback" not in proc.output
