"""The EAPI simulator behaves as eapi-send-batch.txt describes, over real localhost HTTP."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from bot.eapi.simulator.reader import read_batch, read_records
from bot.eapi.simulator.server import SimulatorServer
from bot.eapi.simulator.state import parse_script
from tests.eapi_fixtures import SIM_PASSWORD, SIM_USERNAME, running_simulator

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SEND = "/submission/send_batch/1/1.0"
# The spec's example body, literally (eapi-send-batch.txt), after the credentials.
SPEC_BODY = (
    "batch_data=msisdn,message%0a%22111111111%22,%22Hi+there%22%0a%22333333333%22,%22Hello+"
    "again.+Here+is+some+%5C%22quoted+text%5C%22.%5C%0aThis+text+follows+a+newline%22"
)
SPEC_ROWS = ("Hi there", 'Hello again. Here is some "quoted text".\nThis text follows a newline')
ROOT = Path(__file__).resolve().parent.parent


def post(sim: SimulatorServer, path: str = SEND, timeout: float = 5.0, **fields: str) -> str:
    """POST a form (the simulator's credentials unless given) and return the body."""
    form = {"username": SIM_USERNAME, "password": SIM_PASSWORD, **fields}
    body = urlencode(form, encoding="iso-8859-1")
    response = requests.post(sim.url + path, data=body, headers=FORM, timeout=timeout)
    assert response.status_code == 200
    return response.text


def post_without_answer(sim: SimulatorServer, failures: list[BaseException], data: str) -> None:
    """POST a batch expecting no answer (held, then closed); keep the exception it ends in."""
    try:
        post(sim, batch_data=data)
    except requests.RequestException as exc:
        failures.append(exc)


def csv(*lines: str) -> str:
    """A batch_data value: the header, then the given lines."""
    return "\n".join(("msisdn,message", *lines))


def test_spec_example_body_is_accepted_as_the_spec_says() -> None:
    """The spec's literal body gets `0|IN_PROGRESS|<id>`; the quoted text and newline survive."""
    with running_simulator() as sim:
        credentials = urlencode({"username": SIM_USERNAME, "password": SIM_PASSWORD})
        response = requests.post(
            sim.url + SEND, data=f"{credentials}&{SPEC_BODY}", headers=FORM, timeout=5
        )
    (submission,) = sim.processed
    assert response.status_code == 200
    assert response.text == f"0|IN_PROGRESS|{submission.batch_id}"
    assert submission.rows == (
        ("111111111", "Hi there"),
        ("333333333", 'Hello again. Here is some "quoted text".\nThis text follows a newline'),
    )


def test_get_is_served_like_the_spec_example_and_recorded_as_get() -> None:
    """The spec's example is a GET a browser can open: it works, and its method is recorded."""
    with running_simulator() as sim:
        query = f"username={SIM_USERNAME}&password={SIM_PASSWORD}&{SPEC_BODY}"
        response = requests.get(f"{sim.url}{SEND}?{query}", timeout=5)
        post(sim, batch_data=csv('"447700900001","hi"'))
    first, _ = sim.processed
    assert response.status_code == 200
    assert response.text == f"0|IN_PROGRESS|{first.batch_id}"
    assert first.rows[1] == ("333333333", SPEC_ROWS[1])
    assert [r.method for r in sim.requests] == ["GET", "POST"]
    assert "password" not in sim.requests[0].params


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused(method: str) -> None:
    """Only POST and GET are served: anything else gets 405 and nothing is processed."""
    with running_simulator() as sim:
        query = f"username={SIM_USERNAME}&password={SIM_PASSWORD}&{SPEC_BODY}"
        response = requests.request(method, f"{sim.url}{SEND}?{query}", timeout=5)
    assert response.status_code == 405
    assert sim.processed == []


def test_bad_credentials_get_23() -> None:
    """A wrong password gets 23 for every call and changes nothing."""
    with running_simulator() as sim:
        data = csv('"447700900001","hi"')
        assert post(sim, password="wrong", batch_data=data).startswith("23|invalid credentials")
        assert post(sim, "/user/get_credits/1/1.1", password="wrong").startswith("23|")
        assert sim.processed == [] and sim.credits == Decimal(10000)


def test_without_configured_credentials_any_non_empty_pair_works() -> None:
    """With no expected credentials, any non-empty pair is accepted and an empty one refused."""
    with running_simulator(username=None, password=None) as sim:
        data = csv('"447700900001","hi"')
        assert post(sim, username="a", password="b", batch_data=data).startswith("0|")
        assert post(sim, username="a", password="", batch_data=data).startswith("23|")


def test_invalid_lines_are_skipped_and_24_when_none_is_valid(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bad lines are ignored and counted as the real EAPI does; nothing valid gives 24."""
    caplog.set_level(logging.INFO)
    with running_simulator() as sim:
        mixed = csv('"447700900001","ok"', '"12ab","bad number"', '"447700900002","x"junk', "")
        assert post(sim, batch_data=mixed, stop_dup_id="1").startswith("0|IN_PROGRESS|")
        assert post(sim, batch_data=csv('"12","short"', '"447700900001",""')).startswith("24|")
        assert post(sim, batch_data="phone,text\n447700900001,hi").startswith("24|")
        assert post(sim, batch_data="").startswith("24|")
    (submission,) = sim.processed
    assert submission.rows == (("447700900001", "ok"),)
    assert submission.invalid_lines == 2
    assert "line 3 ignored" in caplog.text and "line 4 ignored" in caplog.text


def test_over_30000_messages_gets_201() -> None:
    """30,001 lines are refused with 201; 30,000 are accepted."""
    with running_simulator(credits=100_000) as sim:
        rows = ["447700900001,a"] * 30_000
        assert post(sim, batch_data=csv(*rows)).startswith("0|")
        assert post(sim, batch_data=csv(*rows, "447700900001,a")).startswith("201|")
    assert [len(s.rows) for s in sim.processed] == [30_000]


def test_future_send_time_is_scheduled() -> None:
    """A future send_time_unixtime or send_time gets 1; a past one sends now with 0."""
    now = 1_800_000_000.0
    with running_simulator(clock=lambda: now) as sim:
        data = csv('"447700900001","hi"')
        assert post(sim, batch_data=data, send_time_unixtime=str(int(now) + 60)).startswith("1|")
        assert post(sim, batch_data=data, send_time_unixtime=str(int(now) - 60)).startswith("0|")
        assert post(sim, batch_data=data, send_time="2099-01-01 10:00:00").startswith("1|")
    assert [s.status_code for s in sim.processed] == [1, 0, 1]


def test_duplicate_stop_dup_id_returns_the_original_answer() -> None:
    """A resent stop_dup_id gets the first answer and is not processed again; ids increase."""
    with running_simulator() as sim:
        data = csv('"447700900001","hi"')
        first = post(sim, batch_data=data, stop_dup_id="42")
        again = post(sim, batch_data=csv('"447700900002","other"'), stop_dup_id="42")
        other = post(sim, batch_data=data, stop_dup_id="43")
    assert again == first
    assert len(sim.processed) == 2
    assert int(other.split("|")[2]) > int(first.split("|")[2]) > 0
    assert sim.credits == Decimal(9998)


def test_stop_dup_id_is_forgotten_after_the_window() -> None:
    """Past the de-duplication window, the same id is a new submission."""
    now = [1_800_000_000.0]
    with running_simulator(clock=lambda: now[0], dedup_seconds=3600) as sim:
        data = csv('"447700900001","hi"')
        first = post(sim, batch_data=data, stop_dup_id="7")
        now[0] += 3601
        later = post(sim, batch_data=data, stop_dup_id="7")
    assert later != first and len(sim.processed) == 2


def test_failures_are_not_remembered_and_credits_are_checked() -> None:
    """25 when short (nothing deducted); after a top-up the same stop_dup_id goes through."""
    with running_simulator(credits=2) as sim:
        long_text = "a" * 161  # two parts
        data = csv(f'"447700900001","{long_text}"', '"447700900002","b"')
        short = post(sim, batch_data=data, stop_dup_id="9", allow_concat_text_sms="1")
        assert short.startswith("25|")
        assert sim.credits == Decimal(2)
        sim.set_credits(10)
        answer = post(sim, batch_data=data, stop_dup_id="9", allow_concat_text_sms="1")
    assert answer.startswith("0|IN_PROGRESS|")
    assert sim.credits == Decimal(7)
    assert sim.processed[0].parts == 3


def test_messages_over_the_part_limit_are_invalid_lines() -> None:
    """Without concatenation one part is the limit; with it, concat_text_sms_max_parts."""
    with running_simulator() as sim:
        two_parts = csv(f'"447700900001","{"a" * 161}"')
        three_parts = csv(f'"447700900001","{"a" * 307}"')
        assert post(sim, batch_data=two_parts).startswith("24|")
        for data, answer in ((two_parts, "0|"), (three_parts, "24|")):
            reply = post(
                sim, batch_data=data, allow_concat_text_sms="1", concat_text_sms_max_parts="2"
            )
            assert reply.startswith(answer)
    assert [s.parts for s in sim.processed] == [2]


def test_parts_and_dca_16bit_are_understood() -> None:
    """16-bit hex is decoded for the record and costs 70/67 units a part; 7-bit Greek maps back."""
    with running_simulator() as sim:
        emoji_text = "x" * 66 + "😀"  # 68 UTF-16 units: still one part
        hex_text = emoji_text.encode("utf-16-be").hex().upper()
        assert post(sim, batch_data=csv(f'"447700900001","{hex_text}"'), dca="16bit")[0] == "0"
        greek = "\xd0\xdb"  # Δ Ω as BulkSMS's Latin-1 bytes
        assert post(sim, batch_data=csv(f'"447700900001","{greek}"'))[0] == "0"
        long_hex = ("x" * 71).encode("utf-16-be").hex()
        data = csv(f'"447700900001","{long_hex}"')
        assert post(sim, batch_data=data, dca="16bit", allow_concat_text_sms="1")[0] == "0"
    assert [s.rows[0][1] for s in sim.processed] == [emoji_text, "ΔΩ", "x" * 71]
    assert [s.parts for s in sim.processed] == [1, 1, 2]
    assert [s.dca for s in sim.processed] == ["16bit", "7bit", "16bit"]


def test_test_flags_send_nothing() -> None:
    """test_always_succeed answers success but sends nothing; test_always_fail answers 22."""
    with running_simulator() as sim:
        data = csv('"447700900001","hi"')
        assert post(sim, batch_data=data, test_always_succeed="1").startswith("0|IN_PROGRESS|")
        assert post(sim, batch_data=data, test_always_fail="1").startswith("22|")
    assert sim.processed == [] and len(sim.tested) == 1
    assert sim.credits == Decimal(10000)


def test_script_answers_one_item_per_send_batch() -> None:
    """`40,503,0`: a 40, an HTTP 503, then normal processing; get_credits consumes nothing."""
    with running_simulator(script="40,503,0") as sim:
        data = csv('"447700900001","hi"')
        assert post(sim, batch_data=data) == "40|simulated status|\n"
        assert post(sim, "/user/get_credits/1/1.1") == "0|10000.00"
        form = urlencode({"username": SIM_USERNAME, "password": SIM_PASSWORD, "batch_data": data})
        assert requests.post(sim.url + SEND, data=form, headers=FORM, timeout=5).status_code == 503
        assert post(sim, batch_data=data).startswith("0|IN_PROGRESS|")
    assert len(sim.processed) == 1
    assert [r.fault for r in sim.requests] == ["40", None, "503", "0"]


def test_scripted_timeout_processes_then_holds_until_the_client_leaves() -> None:
    """`timeout` processes the submission and answers nothing; a client that gives up frees it."""
    with running_simulator(script="timeout", hang_seconds=30) as sim:
        data = csv('"447700900001","hi"')
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            post(sim, batch_data=data, stop_dup_id="3", timeout=0.3)
        again = post(sim, batch_data=data, stop_dup_id="3")
        elapsed = time.monotonic() - started
    assert again == f"0|IN_PROGRESS|{sim.processed[0].batch_id}"
    assert len(sim.processed) == 1
    assert sim.max_in_flight == 1
    assert elapsed < 5
    assert sim.requests[0].http_status is None and sim.requests[0].answer is None


def test_concurrent_requests_are_counted_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    """A request sent while another is still held raises max_in_flight to 2 and logs a warning."""
    with running_simulator(script="timeout", hang_seconds=30) as sim:
        data = csv('"447700900001","hi"')
        failures: list[BaseException] = []
        held = threading.Thread(
            target=post_without_answer, args=(sim, failures), kwargs={"data": data}
        )
        held.start()
        while not sim.requests:  # the first submission is processed and now held
            time.sleep(0.01)
        assert post(sim, batch_data=data).startswith("0|IN_PROGRESS|")
    held.join(timeout=5)
    assert len(failures) == 1  # the held request ended without an answer when the server stopped
    assert sim.max_in_flight == 2
    assert sim.connections_opened == 2
    assert "2 requests in flight at once" in caplog.text


def test_random_faults_follow_the_seed() -> None:
    """fault_rate answers that share of submissions with 40 or 503, the same for the same seed."""
    runs = []
    for _ in range(2):
        with running_simulator(fault_rate=0.5, seed=11) as sim:
            session = requests.Session()
            form = urlencode(
                {"username": SIM_USERNAME, "password": SIM_PASSWORD, "batch_data": csv("1234567,a")}
            )
            for _ in range(20):
                session.post(sim.url + SEND, data=form, headers=FORM, timeout=5)
            session.close()
        runs.append([r.fault for r in sim.requests])
    assert runs[0] == runs[1]
    assert {"random 40", "random 503", None} == set(runs[0])


def test_quote_sms_and_get_credits() -> None:
    """quote_sms answers `0|Quotation issued|<float>`; get_credits two decimals."""
    with running_simulator(credits="2101.15") as sim:
        quote = post(
            sim,
            "/submission/quote_sms/2/2.0",
            msisdn="447700900001,447700900002",
            message="a" * 200,
            allow_concat_text_sms="1",
        )
        assert quote == "0|Quotation issued|4.0"
        assert post(sim, "/user/get_credits/1/1.1") == "0|2101.15"


def test_requests_are_recorded_without_the_password() -> None:
    """Every request is kept with its params, minus the password."""
    with running_simulator() as sim:
        post(sim, batch_data=csv("447700900001,hi"), stop_dup_id="5")
    (request,) = sim.requests
    assert "password" not in request.params
    assert request.params["stop_dup_id"] == "5" and request.params["username"] == SIM_USERNAME
    assert SIM_PASSWORD not in repr(sim.requests) + repr(sim.processed)


def test_stop_ends_a_held_request_promptly() -> None:
    """Stopping the server while it holds an answer returns within a second."""
    sim = SimulatorServer(script="timeout", hang_seconds=60).start()
    failures: list[BaseException] = []
    worker = threading.Thread(
        target=post_without_answer, args=(sim, failures), kwargs={"data": "x"}
    )
    worker.start()
    while not sim.requests:
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    worker.join(timeout=5)
    assert time.monotonic() - started < 2.0
    assert not worker.is_alive()
    assert len(failures) == 1  # the held request got no answer, only a closed connection


@pytest.mark.parametrize(
    ("text", "fields", "bad"),
    [
        ('"a","b"\n', [("a", "b")], 0),
        ('"a\\"q\\"","x\\\\y"', [('a"q"', "x\\y")], 0),
        ('"line\\\nnext","raw\nnewline"', [("line\nnext", "raw\nnewline")], 0),
        ('"rfc ""doubled""",plain\r\n"c","d"', [('rfc "doubled"', "plain"), ("c", "d")], 0),
        ('"ok","1"\n"junk"after,"x"\n"e","f"', [("ok", "1"), ("e", "f")], 1),
        ('"a","b"\n"never closed\nmore', [("a", "b")], 1),
        ("\n\n", [], 0),
    ],
)
def test_reader_unescapes_and_skips_unreadable_lines(
    text: str, fields: list[tuple[str, ...]], bad: int
) -> None:
    """The CSV reader undoes backslash escapes, accepts "" doubling, and skips broken lines."""
    records, broken = read_records(text)
    assert [r.fields for r in records] == fields
    assert len(broken) == bad


def test_reader_numbers_lines_as_they_physically_start() -> None:
    """A record spanning lines is numbered by its first line; later records count every line."""
    read = read_batch('msisdn,message\n"1234567","a\\\nb"\n"12","bad"', "7bit", 1)
    assert [m.line for m in read.messages] == [2]
    assert [b.line for b in read.bad] == [4]


def test_script_items_are_checked() -> None:
    """A script item that is neither a number nor a known word is refused, naming it."""
    assert parse_script(" 40, 503 ,timeout,drop,garbage,0") == (
        "40",
        "503",
        "timeout",
        "drop",
        "garbage",
        "0",
    )
    with pytest.raises(ValueError, match="'slow'"):
        parse_script("40,slow")


COMMAND = [sys.executable, "-m", "bot", "simulator"]  # the real entry point (interface.md)


def command_env(**extra: str) -> dict[str, str]:
    """A clean environment for the simulator command (no Slack settings at all)."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **extra}


def test_command_serves_until_sigterm(tmp_path: Path) -> None:
    """`simulator --port 0` serves, checks EAPI_USERNAME/PASSWORD, logs no password, exits 0."""
    password = "cmd-Secret-99"  # a test value, checked below never to reach the log
    env = command_env(
        EAPI_URL="http://127.0.0.1:8025/eapi", EAPI_USERNAME="john", **{"EAPI_PASSWORD": password}
    )
    proc = subprocess.Popen(
        [*COMMAND, "--port", "0", "--credits", "5", "--script", "40"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[4]
        form = {"username": "john", "password": "cmd-Secret-99", "batch_data": csv("1234567,a")}
        session = requests.Session()
        answers = [session.post(url + SEND, data=form, timeout=5).text for _ in range(2)]
        credits = session.post(url + "/user/get_credits/1/1.1", data=form, timeout=5).text
        wrong = session.post(url + "/user/get_credits/1/1.1", data={**form, "password": "x"})
        session.close()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert answers[0].startswith("40|") and answers[1].startswith("0|IN_PROGRESS|")
    assert credits == "0|4.00"
    assert wrong.text.startswith("23|")
    assert proc.returncode == 0
    assert "cmd-Secret-99" not in stderr
    assert "send_batch/1/1.0" in stderr and "user=john" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--script", "40,slow"], "'slow'"),
        (["--fault-rate", "2"], "from 0 to 1"),
        (["--port", "99999"], "from 0 to 65535"),
    ],
)
def test_command_refuses_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    """Bad options end with exit 2 and a reason naming the value, not a traceback."""
    done = subprocess.run(
        [*COMMAND, *args],
        cwd=tmp_path,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_command_reports_a_busy_port(tmp_path: Path) -> None:
    """A port already in use ends with exit 2 and one line naming it."""
    with running_simulator() as sim:
        done = subprocess.run(
            [*COMMAND, "--port", str(sim.port)],
            cwd=tmp_path,
            env=command_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{sim.port}" in done.stderr
    assert "Traceback" not in done.stderr
