"""get_report: the status table, the tolerant parser, and fetches from the simulator over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.eapi.batchcsv import BatchRow, send_batch_params
from bot.eapi.reports import (
    GET_REPORT_PATH,
    delivery_state,
    fetch_report,
    parse_report,
    report_meaning,
    row_references,
)
from bot.eapi.simulator.delivery import DeliveryModel, parse_mix
from bot.eapi.simulator.state import Delivery
from bot.model import Dca, DeliveryState, SendOptions
from tests.eapi_fixtures import SIM_PASSWORD, client_for, running_simulator

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("code", "state"),
    [
        (11, DeliveryState.DELIVERED),
        *((c, DeliveryState.PENDING) for c in (0, 1, 10, 12, 40, 60, 61, 62, 63, 64)),
        *((c, DeliveryState.FAILED) for c in (22, 25, 29, 31, 32, 33, 50, 51, 53, 55, 57)),
        (70, DeliveryState.UNKNOWN),
        (99, DeliveryState.PENDING),
        (201, DeliveryState.PENDING),
    ],
)
def test_status_table_classes_each_code(code: int, state: DeliveryState) -> None:
    """11 alone is delivered; transient and unknown codes stay pending; 70 is unknown."""
    assert delivery_state(code) is state


def test_meanings_name_the_code_and_unknown_ones_say_so() -> None:
    """Every code has words for the failures CSV; an unlisted one is named as unknown."""
    assert report_meaning(53) == "message expired"
    assert report_meaning(99) == "unknown status code 99"


@pytest.mark.parametrize("header", ["0|Returns to follow", "0|Results to follow"])
def test_both_headers_with_rows_and_source_ids(header: str) -> None:
    """Both documented headers parse; rows keep their raw code, class and source_id."""
    fetch = parse_report(f"{header}\n\n447700900001|11|L2\n447700900002|51|\n447700900003|63\n")
    assert fetch.ok and fetch.error is None and fetch.status_line == header
    assert fetch.rows is not None
    assert [(r.msisdn, r.status_code, r.state, r.source_id) for r in fetch.rows] == [
        ("447700900001", 11, DeliveryState.DELIVERED, "L2"),
        ("447700900002", 51, DeliveryState.FAILED, None),
        ("447700900003", 63, DeliveryState.PENDING, None),
    ]


def test_zero_rows_means_not_known_yet_and_crlf_is_read() -> None:
    """A header alone is a usable answer with no rows, not an error; CRLF lines are read."""
    assert parse_report("0|Returns to follow\n\n").rows == ()
    fetch = parse_report("0|Results to follow\r\n\r\n447700900001|10\r\n")
    assert fetch.rows is not None and [r.status_code for r in fetch.rows] == [10]


def test_unreadable_rows_are_counted_not_applied() -> None:
    """A row that is not `msisdn|code` is skipped and counted; the good rows still count."""
    fetch = parse_report("0|Returns to follow\n\nnot a row\n447700900001|11\n+44|x\n")
    assert fetch.rows is not None and len(fetch.rows) == 1 and fetch.skipped == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("23|invalid credentials (username was: bob)|\n", "status 23: invalid credentials"),
        ("22|Internal fatal error|", "status 22"),
        ("24|Data validation failed", "status 24"),
        ("<html>502 Bad Gateway</html>", "unreadable answer"),
        ("0|Something else\n\n", "unexpected header"),
        ("", "unreadable answer"),
    ],
)
def test_errors_and_garbage_give_no_rows(body: str, expected: str) -> None:
    """Error answers and garbage are not applied: no rows, and a reason naming the problem."""
    fetch = parse_report(body)
    assert fetch.rows is None and not fetch.ok
    assert fetch.error is not None and expected in fetch.error


def test_row_references_only_for_repeated_numbers_without_their_own() -> None:
    """A repeated number gets L+line; a single one none; a row's own source_id is kept."""
    rows = [(2, "4477001", None), (3, "4477002", None), (4, "4477001", None), (5, "4477001", "x")]
    assert row_references(rows) == ["L2", None, "L4", "x"]
    assert all(len(r or "") <= 20 for r in row_references([(10**18, "1", None), (2, "1", None)]))


def test_mix_parser_names_a_wrong_part() -> None:
    """The simulator's delivery mix is read from the command line with clear refusals."""
    assert parse_mix("delivered=9,failed=1")["failed"] == 1
    with pytest.raises(ValueError, match="'lost' is not one of"):
        parse_mix("lost=1")
    with pytest.raises(ValueError, match="at least one weight"):
        parse_mix("delivered=0")


def _submit(rows: list[BatchRow]) -> dict[str, str]:
    return send_batch_params(rows, Dca.SEVEN_BIT, SendOptions(), stop_dup_id=7, max_parts=3)


def test_simulator_reports_move_from_nothing_to_final_codes() -> None:
    """Zero rows at first, then every message with a code; the request is a POST with no secret."""
    now = [1_000.0]
    model = DeliveryModel(parse_mix("delivered=1,failed=1"), time_scale=1.0)
    with running_simulator(clock=lambda: now[0], delivery=model, seed=3) as sim:
        client = client_for(sim)
        rows = [BatchRow(f"44770090000{i}", f"hi {i}") for i in range(4)]
        result = client.send_batch(_submit(rows))
        assert result.answer is not None and result.answer.batch_id is not None
        batch_id = result.answer.batch_id
        assert fetch_report(client, batch_id).rows == ()
        now[0] += 3600
        fetch = fetch_report(client, batch_id)
        assert fetch.rows is not None and len(fetch.rows) == 4
        assert [r.status_code for r in fetch.rows] == sim.report_codes(batch_id)
        assert {r.state for r in fetch.rows} <= {DeliveryState.DELIVERED, DeliveryState.FAILED}
        request = sim.requests[-1]
        assert request.path.endswith(GET_REPORT_PATH) and request.method == "POST"
        assert request.params["optional_fields"] == "source_id"
        assert SIM_PASSWORD not in str(request.params)
        assert fetch_report(client, 1).rows == ()  # an unknown batch: zero rows, not an error
        client.close()


def test_simulator_echoes_source_ids_and_serves_the_older_header() -> None:
    """Per-row source_ids come back in the rows; `Results to follow` parses the same."""
    with running_simulator(report_header="Results to follow", clock=lambda: 5_000.0) as sim:
        client = client_for(sim)
        rows = [BatchRow("447700900001", "a", (("source_id", "L2"),))]
        result = client.send_batch(_submit(rows))
        assert result.answer is not None and result.answer.batch_id is not None
        # A path that is delivered at once, so the row is there to read.
        sim.state.deliveries[result.answer.batch_id] = Delivery(
            0.0, ("447700900001",), ("L2",), (((0.0, 11),),)
        )
        fetch = fetch_report(client, result.answer.batch_id)
        assert fetch.status_line == "0|Results to follow"
        assert fetch.rows is not None and fetch.rows[0].source_id == "L2"
        client.close()


@pytest.mark.parametrize(
    ("token", "reason"),
    [("40", "status 40"), ("503", "HTTP 503"), ("garbage", "unreadable"), ("23", "status 23")],
)
def test_simulator_faults_on_get_report_give_no_rows(token: str, reason: str) -> None:
    """A scripted fault on get_report is a failed fetch with its reason, never rows."""
    with running_simulator(report_script=token) as sim:
        client = client_for(sim)
        fetch = fetch_report(client, 4712345001)
        assert fetch.rows is None and fetch.error is not None and reason in fetch.error
        assert fetch_report(client, 4712345001).rows == ()  # the next one is answered normally
        client.close()


def test_simulator_timeout_on_get_report_is_a_failed_fetch() -> None:
    """A held get_report ends in the client's read timeout: no rows, the reason says so."""
    with running_simulator(report_script="timeout", hang_seconds=5) as sim:
        client = client_for(sim, read_timeout=0.3)
        fetch = fetch_report(client, 4712345001)
        assert fetch.rows is None and fetch.error is not None and "timed out" in fetch.error
        client.close()


def test_simulator_command_takes_a_mix_a_time_scale_and_a_report_script(tmp_path: Path) -> None:
    """`simulator --delivery-mix delivered=1 --time-scale 1000 --report-script 40` does so."""
    command = [sys.executable, "-m", "bot", "simulator", "--port", "0"]
    options = ["--delivery-mix", "delivered=1", "--time-scale", "1000", "--report-script", "40"]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [*command, *options], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[4]
        session = requests.Session()
        form = {"username": "u", "password": "p"}
        data = 'msisdn,message\n"447700900001","a"\n"447700900002","b"'
        sent = session.post(url + "/submission/send_batch/1/1.0", data={**form, "batch_data": data})
        batch_id = sent.text.strip().split("|")[2]
        report = {**form, "batch_id": batch_id}
        first = session.post(url + GET_REPORT_PATH, data=report, timeout=5).text
        time.sleep(0.3)  # 300 simulated seconds: every path has ended
        second = session.post(url + GET_REPORT_PATH, data=report, timeout=5).text
        session.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert first.startswith("40|")
    assert second == "0|Returns to follow\n\n447700900001|11\n447700900002|11\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--delivery-mix", "lost=1"], "'lost' is not one of"), (["--time-scale", "0"], "above 0")],
)
def test_simulator_command_refuses_a_bad_mix_or_scale(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """A wrong delivery mix or time scale ends with exit 2 and a reason, not a traceback."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "simulator", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
