"""Delivery reports end to end: the real app, a fake Slack, the simulator over HTTP (fast time)."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from bot.cli.main import main
from bot.eapi.reports import delivery_state, parse_report
from bot.eapi.simulator.delivery import DeliveryModel, parse_mix
from bot.eapi.simulator.pusher import ReportPusher
from bot.eapi.simulator.server import SimulatorServer
from bot.model import BatchState, DeliveryCounts, DeliveryState
from bot.sending.reports import PushReceiver
from bot.service import BatchService
from handlers.builders import ids, wording
from handlers.builders.blocks import CardContext, card
from handlers.builders.wording import delivery_summary
from handlers.listeners.commands import Kind, parse_command
from handlers.plumbing.http import PushRoutes, SlackWsgi
from tests.eapi_fixtures import running_simulator
from tests.fake_slack import FakeSlack, running_fake_slack
from tests.slack_harness import APPROVER, Harness, _build, make_settings, running_harness
from tests.test_handlers_approval import approve_value
from tests.test_handlers_blocks import make_view
from tests.test_handlers_http_mode import base_env, free_port, wait_until_serving

ROWS = 12
PASTE = "msisdn,message\n" + "\n".join(f"4479111234{i:02d},Hello {i}" for i in range(ROWS))
SUMMARY = re.compile(
    r"Batch 1 delivery: (\d+) delivered, (\d+) failed, (\d+) pending(?:, (\d+) unknown)?"
)
PUSH_SECRET = "push-secret-Kd82"


def _approve(h: Harness) -> None:
    h.command(PASTE)
    card = h.wait_card()
    assert h.click(ids.APPROVE, approve_value(card), APPROVER, card).status == 200


def _texts(h: Harness) -> list[str]:
    return _texts_of(h.fake)


def _final_summary(h: Harness) -> str:
    def final() -> list[str]:
        return [t for t in _texts(h) if SUMMARY.match(t) and "final" in t]

    found = h.fake.wait_for(final, what="the final delivery summary", timeout=30)
    assert found, "no final delivery summary in the thread"
    return str(found[0])


def _report_json(h: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    monkeypatch.setenv("SMSBATCH_DB", str(h.settings.db_path))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert main(["report", "1", "--format", "json"]) == 0
    monkeypatch.undo()
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def _expected_state(code: int) -> str:
    state = delivery_state(code)
    return (DeliveryState.UNKNOWN if state is DeliveryState.PENDING else state).value


@pytest.fixture
def polled(tmp_path: Path) -> Iterator[Harness]:
    """The app polling at 0.5, 1 and 2 s; the simulator running 100 times faster than time."""
    model = DeliveryModel(parse_mix("delivered=5,failed=3,transient=2,pending=1"), 100)
    options = {"delivery": model, "seed": 7}
    with running_harness(tmp_path, sim_options=options, SMSBATCH_REPORT_DELAYS="0.5,1,2") as h:
        yield h


def test_polled_reports_reach_the_thread_the_command_line_and_the_failures_csv(
    polled: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Approve → final summary in the thread → report JSON agrees with the simulator →
    the failures CSV lists exactly the failed ones; the card and /smsbatch report agree."""
    h = polled
    _approve(h)
    summary = _final_summary(h)
    report = _report_json(h, monkeypatch, tmp_path)
    counts = report["counts"]
    match = SUMMARY.match(summary)
    assert match is not None
    told = [int(g or 0) for g in match.groups()]
    assert told == [counts["delivered"], counts["failed"], counts["pending"], counts["unknown"]]
    assert sum(told) == ROWS and counts["pending"] == 0
    fetches = [r for r in h.sim.requests if r.path.endswith("/get_report/2/2.0")]
    assert 1 <= len(fetches) <= 3 and h.sim.max_in_flight == 1  # none after all are final
    last = parse_report(fetches[-1].answer or "")
    assert last.rows is not None
    decided = {row.msisdn: row.status_code for row in last.rows}
    for message in report["messages"]:
        assert message["status_code"] == decided[message["msisdn"]]
        assert message["state"] == _expected_state(decided[message["msisdn"]])
    failed = {(m["line"], m["msisdn"], m["status_code"]) for m in report["messages"]}
    failed = {f for f in failed if _expected_state(f[2]) == "failed"}

    def uploads() -> list[bytes]:
        return [data for data in h.fake.uploads.values() if b"line,number,code,meaning" in data]

    if failed:  # the CSV follows the final summary
        [data] = h.fake.wait_for(uploads, what="the failures CSV")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
        assert {(int(r[0]), r[1], int(r[2])) for r in rows} == failed
    else:
        assert uploads() == []
    updates = [json.dumps(r.blocks()) for r in h.fake.calls("chat.update")]
    assert any("*Delivery:*" in u for u in updates)
    h.command("report 1")
    answer = h.fake.wait_for(
        lambda: [r for r in h.responses() if "delivery:" in str(r.body.get("text"))],
        what="the /smsbatch report answer",
    )
    assert answer and str(answer[0].body["text"]).startswith(summary.split(" —")[0])


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[tuple[Harness, WSGIServer]]:
    """The app with push routes behind a real HTTP server; polling too late to matter."""
    with running_harness(tmp_path, SMSBATCH_REPORT_DELAYS="3600,7200") as h:
        routes = PushRoutes(PUSH_SECRET, {"report": PushReceiver(h.store, h.services.notifier)})
        server = make_server(
            "127.0.0.1", 0, SlackWsgi(h.app, lambda: (True, {}), push=routes), handler_class=_Quiet
        )
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield h, server
        finally:
            server.shutdown()
            server.server_close()


def test_pushed_reports_alone_reach_the_thread_with_repeats_changing_nothing(
    pushed: tuple[Harness, WSGIServer],
) -> None:
    """No get_report at all: the simulator pushes (each report twice) and the thread is told."""
    h, server = pushed
    h.sim.state.delivery = DeliveryModel(parse_mix("delivered=3,failed=1"), 1000)
    url = f"http://127.0.0.1:{server.server_port}/eapi/push/report?pass={PUSH_SECRET}"
    pusher = ReportPusher(h.sim.state, url, interval=0.05, repeat=True).start()
    try:
        _approve(h)
        summary = _final_summary(h)
    finally:
        pusher.stop()
    assert not [r for r in h.sim.requests if r.path.endswith("/get_report/2/2.0")]
    assert pusher.refused == 0 and pusher.pushed >= 2 * ROWS
    eapi_batch = h.sim.processed[0].batch_id
    final = h.sim.report_codes(eapi_batch)
    delivered = sum(1 for c in final if c == 11)
    assert summary.startswith(f"Batch 1 delivery: {delivered} delivered, {ROWS - delivered} failed")
    # Each report came twice; only the first of each pair changed anything (and was audited).
    pushed_entries = [e for e in h.store.audit_entries(1) if e.event == "report_pushed"]
    assert len(pushed_entries) == pusher.pushed // 2


@pytest.mark.parametrize(
    ("text", "kind", "batch_id"),
    [("report 12", Kind.REPORT, 12), ("REPORT #7", Kind.REPORT, 7), ("report", Kind.BAD_ID, None)],
)
def test_report_needs_a_batch_number(text: str, kind: Kind, batch_id: int | None) -> None:
    """`/smsbatch report BATCH` is its own subcommand; without a number it is refused."""
    parsed = parse_command(text)
    assert (parsed.kind, parsed.batch_id) == (kind, batch_id)


def test_the_summary_states_every_count_as_digits() -> None:
    """Plain digits (no thousands separator); unknown appears only when any; final says so."""
    counts = DeliveryCounts(delivered=3912, failed=41, pending=47)
    assert delivery_summary(12, counts, False, False) == (
        "Batch 12 delivery: 3912 delivered, 41 failed, 47 pending"
    )
    done = DeliveryCounts(delivered=3, failed=1, unknown=2)
    assert delivery_summary(12, done, True, False) == (
        "Batch 12 delivery: 3 delivered, 1 failed, 0 pending, 2 unknown — final"
    )
    assert "no delivery report has arrived yet" in delivery_summary(12, None, False, False)


def test_the_card_shows_the_counts_once_reports_arrived() -> None:
    """A sent batch's card gets a Delivery line from its counts; without counts it has none."""
    view = make_view("msisdn,message\n447700900001,hi", state=BatchState.SENT)
    with_counts = card(view, CardContext(delivery=DeliveryCounts(delivered=1)))
    assert "*Delivery:* 1 delivered, 0 failed, 0 pending" in json.dumps(with_counts.blocks)
    assert "Delivery:" not in json.dumps(card(view, CardContext()).blocks)


def test_report_command_keeps_other_channels_counts_private(tmp_path: Path) -> None:
    """Asked from another channel the counts are not given; before any report it says so."""
    with running_harness(tmp_path) as h:
        _approve(h)
        h.fake.wait_for(lambda: h.sim.processed, what="the submission")
        h.command("report 1", channel="C0OTHER")
        h.command("report 1")
        elsewhere = wording.elsewhere(1)

        def answers() -> list[str]:
            texts = [str(r.body.get("text")) for r in h.responses()]
            return [t for t in texts if t == elsewhere or t.startswith("Batch 1 delivery")]

        texts = h.fake.wait_for(lambda: answers() if len(answers()) >= 2 else None, what="both")
    assert elsewhere in texts
    assert any(t.startswith("Batch 1 delivery: no delivery report has arrived yet") for t in texts)


def _stop(h: Harness) -> None:
    """Stop one app as `running_harness` does (the fakes keep running)."""
    h.sender.stop()
    h.services.close()
    for client in h.clients:
        client.close()
    h.store.close()


def test_a_restart_between_two_polls_resumes_the_schedule(tmp_path: Path) -> None:
    """The first poll by one process, the second by the next: nothing fetched twice, the
    thread told of the first reports once and of the final counts once."""
    model = DeliveryModel(parse_mix("delivered=1,pending=1"), 100)
    with running_fake_slack() as fake, running_simulator(delivery=model, seed=3) as sim:
        db = tmp_path / "smsbatch.db"
        settings = make_settings(fake, sim, db, SMSBATCH_REPORT_DELAYS="0.3,1.5")
        first = _build(fake, sim, settings, BatchService, 0.05)
        try:
            _approve(first)
            fake.wait_for(lambda: _report_fetches(sim), what="the first poll")
        finally:
            _stop(first)
        assert len(_report_fetches(sim)) == 1
        second = _build(fake, sim, settings, BatchService, 0.05)
        try:
            summary = _final_summary(second)
        finally:
            _stop(second)
        assert fake.problems == []
    assert len(_report_fetches(sim)) == 2
    told = [t for t in _texts_of(fake) if SUMMARY.match(t)]
    assert len(told) == 2 and told[-1] == summary and "final" not in told[0]
    match = SUMMARY.match(summary)
    assert match is not None and match.group(3) == "0" and int(match.group(4) or 0) > 0


def _report_fetches(sim: SimulatorServer) -> list[object]:
    return [r for r in sim.requests if r.path.endswith("/get_report/2/2.0")]


def _texts_of(fake: FakeSlack) -> list[str]:
    return [str(r.body.get("text")) for r in fake.calls("chat.postMessage") if not r.blocks()]


def test_the_real_app_in_http_mode_takes_report_pushes(tmp_path: Path) -> None:
    """`python -m bot` with SMSBATCH_PUSH_SECRET: a wrong pass 403, a malformed push 400,
    one for a batch_id none of ours 200 with a body (logged; BulkSMS stops repeating it)."""
    with running_fake_slack() as fake:
        port = free_port()
        env = base_env(tmp_path) | {
            "SLACK_BOT_TOKEN": fake.token,
            "SLACK_SIGNING_SECRET": "push-test-signing",
            "SLACK_API_URL": fake.api_url,
            "PORT": str(port),
            "EAPI_URL": "simulator",
            "SMSBATCH_PUSH_SECRET": PUSH_SECRET,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}/eapi/push/report"
        push = {"msisdn": "447700900001", "batch_id": "99", "status": "11"}
        try:
            wait_until_serving(f"http://127.0.0.1:{port}", process)
            wrong = requests.get(url, params={**push, "pass": "nope"}, timeout=5)
            bad = requests.get(url, params={**push, "status": "x", "pass": PUSH_SECRET}, timeout=5)
            ours = requests.get(url, params={**push, "pass": PUSH_SECRET}, timeout=5)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
    assert wrong.status_code == 403
    assert bad.status_code == 400 and "status must be digits" in bad.text
    assert ours.status_code == 200 and ours.text.strip()
    assert PUSH_SECRET not in output
