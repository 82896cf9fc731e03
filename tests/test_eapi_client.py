"""The EAPI client: answers parsed and classified, forms built, and every failure a result."""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal
from itertools import count
from urllib.parse import unquote_plus, urlencode

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Secret, Settings
from bot.eapi.client import (
    STATUS_MEANINGS,
    BatchRow,
    EapiAnswer,
    EapiClient,
    Outcome,
    classify,
    create_client,
    form_body,
    meaning,
    parse_answer,
    send_batch_params,
)
from bot.errors import ConfigError, EapiError, EapiResponseError
from bot.model import Dca, SendOptions, TestMode
from tests.eapi_fixtures import SIM_PASSWORD, SIM_USERNAME, client_for, running_simulator

INVALID = "invalid credentials (username was: XXXXXXX)"
SPEC_TEXT = 'Hello again. Here is some "quoted text".\nThis text follows a newline'
# The spec's example batch_data, unencoded (eapi-send-batch.txt, "how to escape newlines").
SPEC_BATCH_DATA = (
    "msisdn,message\n"
    '"111111111","Hi there"\n'
    '"333333333","Hello again. Here is some \\"quoted text\\".\\\n'
    'This text follows a newline"'
)
SPEC_ENCODED = (
    "msisdn,message%0a%22111111111%22,%22Hi+there%22%0a%22333333333%22,%22Hello+again.+Here+is"
    "+some+%5C%22quoted+text%5C%22.%5C%0aThis+text+follows+a+newline%22"
)


def params_for(*texts: str, dca: Dca = Dca.SEVEN_BIT, stop_dup_id: int = 1) -> dict[str, str]:
    """Form fields for one message per text, to numbers 447700900001, 447700900002, …"""
    rows = [BatchRow(f"4477009000{n:02d}", text) for n, text in enumerate(texts, start=1)]
    return send_batch_params(rows, dca, SendOptions(), stop_dup_id=stop_dup_id, max_parts=3)


@pytest.mark.parametrize(
    ("body", "code", "description", "batch_id"),
    [
        ("0|IN_PROGRESS|4712345678", 0, "IN_PROGRESS", 4712345678),
        ("1|SCHEDULED|30430\r\n", 1, "SCHEDULED", 30430),
        ("23|invalid credentials (username was: XXXXXXX)|\n", 23, INVALID, None),
        ("0|IN_PROGRESS|", 0, "IN_PROGRESS", None),
        ("40|x", 40, "x", None),
        ("25|Insufficient credits|\r\n", 25, "Insufficient credits", None),
        ("\ufeff0|IN_PROGRESS|7", 0, "IN_PROGRESS", 7),
        ("201|Maximum batch size exceeded| ", 201, "Maximum batch size exceeded", None),
        ("24|bad line|see: docs|\n", 24, "bad line", None),
    ],
)
def test_parse_answer_reads_every_documented_shape(
    body: str, code: int, description: str, batch_id: int | None
) -> None:
    """Answers with trailing newlines, empty or missing batch_id parse; raw keeps the body."""
    assert parse_answer(body) == EapiAnswer(code, description, batch_id, body)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "\n",
        "OK",
        "0",
        "abc|def|1",
        "-1|negative|",
        "0|IN_PROGRESS|-5",
        "0|IN_PROGRESS|0",
        "0|IN_PROGRESS|12x",
        "1|SCHEDULED|soon",
        "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    ],
)
def test_parse_answer_refuses_what_is_not_an_answer(body: str) -> None:
    """Garbage, an HTML page or a bad batch_id raise EapiResponseError quoting the body."""
    with pytest.raises(EapiResponseError) as caught:
        parse_answer(body)
    assert repr(body[:40])[1:-1] in str(caught.value)


def test_parse_answer_quotes_at_most_200_characters() -> None:
    """A huge garbage page is quoted only by its first 200 characters."""
    body = "<html>" + "a" * 194 + "TAIL-NOT-QUOTED" + "b" * 5000
    with pytest.raises(EapiResponseError) as caught:
        parse_answer(body)
    message = str(caught.value)
    assert "<html>aaaa" in message
    assert "TAIL-NOT-QUOTED" not in message
    assert len(message) < 400


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, Outcome.ACCEPTED),
        (1, Outcome.SCHEDULED),
        (40, Outcome.RETRY),
        (26, Outcome.RETRY_LATER),
        (28, Outcome.RETRY_LATER),
        (22, Outcome.FATAL),
        (23, Outcome.FATAL),
        (24, Outcome.FATAL),
        (25, Outcome.FATAL),
        (27, Outcome.FATAL),
        (201, Outcome.FATAL),
        (2, Outcome.FATAL),
        (999, Outcome.FATAL),
    ],
)
def test_classify_follows_the_spec(code: int, outcome: Outcome) -> None:
    """0/1 succeed, 40 retries, 26/28 retry later, everything else is final."""
    assert classify(code) is outcome


def test_meanings_cover_the_documented_codes() -> None:
    """Every documented code has its meaning; an unknown one says so with its number."""
    assert set(STATUS_MEANINGS) == {0, 1, 22, 23, 24, 25, 26, 27, 28, 40, 201}
    assert meaning(25) == "you do not have sufficient credits"
    assert meaning(23) == "authentication failure"
    assert meaning(77) == "unknown status code 77"


def test_spec_example_is_written_exactly_as_the_spec_shows() -> None:
    """The spec's escaped example (quotes, newline) is what batch_data holds, byte for byte."""
    rows = [BatchRow("111111111", "Hi there"), BatchRow("333333333", SPEC_TEXT)]
    params = send_batch_params(rows, Dca.SEVEN_BIT, SendOptions(), stop_dup_id=9, max_parts=3)
    assert params["batch_data"] == SPEC_BATCH_DATA
    assert unquote_plus(urlencode({"b": params["batch_data"]})[2:]) == unquote_plus(SPEC_ENCODED)


def test_params_are_deterministic_and_complete() -> None:
    """Same input, equal dict in the same order; every batch-level option has its field."""
    rows = [BatchRow("447700900001", "Hi\r\nthere\rnow", (("sender", "ACME"),))]
    options = SendOptions(sender="Shop", routing_group=3, send_at=1_900_000_000)
    first = send_batch_params(rows, Dca.SEVEN_BIT, options, stop_dup_id=77, max_parts=4)
    second = send_batch_params(list(rows), Dca.SEVEN_BIT, options, stop_dup_id=77, max_parts=4)
    assert first == second and list(first.items()) == list(second.items())
    assert list(first.items()) == [
        ("batch_data", 'msisdn,message,sender\n"447700900001","Hi\\\nthere\\\nnow","ACME"'),
        ("dca", "7bit"),
        ("sender", "Shop"),
        ("routing_group", "3"),
        ("send_time_unixtime", "1900000000"),
        ("stop_dup_id", "77"),
        ("allow_concat_text_sms", "1"),
        ("concat_text_sms_max_parts", "4"),
        ("want_report", "1"),
    ]
    assert "username" not in first and "password" not in first


@pytest.mark.parametrize(
    ("mode", "field"),
    [(TestMode.SUCCEED, "test_always_succeed"), (TestMode.FAIL, "test_always_fail")],
)
def test_test_mode_sets_its_flag(mode: TestMode, field: str) -> None:
    """Test mode travels as the EAPI's test flag, and only that one."""
    rows = [BatchRow("447700900001", "Hi")]
    params = send_batch_params(
        rows, Dca.SEVEN_BIT, SendOptions(test_mode=mode), stop_dup_id=1, max_parts=1
    )
    assert params[field] == "1"
    assert {"test_always_succeed", "test_always_fail"} & set(params) == {field}


def test_encodings_greek_backslash_and_16bit() -> None:
    """7-bit maps Greek to its Latin-1 byte and escapes a backslash; 16-bit is UTF-16BE hex."""
    seven = params_for("ΔΩ a\\b")["batch_data"].splitlines()[1]
    assert seven == '"447700900001","\xd0\xdb a\\\\b"'
    sixteen = params_for("€ 😀", dca=Dca.SIXTEEN_BIT)
    assert sixteen["dca"] == "16bit"
    assert sixteen["batch_data"].splitlines()[1] == '"447700900001","20AC0020D83DDE00"'


def test_override_columns_are_the_union_over_rows() -> None:
    """Each row fills every override column, with an empty field where it has none."""
    rows = [
        BatchRow("447700900001", "a", (("sender", "ACME"),)),
        BatchRow("447700900002", "b", (("source_id", "x1"), ("dca", "7bit"))),
    ]
    params = send_batch_params(rows, Dca.SEVEN_BIT, SendOptions(), stop_dup_id=1, max_parts=1)
    assert params["batch_data"].splitlines() == [
        "msisdn,message,sender,source_id",
        '"447700900001","a","ACME",""',
        '"447700900002","b","","x1"',
    ]


def test_rows_without_their_own_sender_keep_the_batch_sender() -> None:
    """An empty per-row field could blank the batch's sender; the batch value fills it."""
    rows = [
        BatchRow("447700900001", "a", (("sender", "ACME"), ("routing_group", "1"))),
        BatchRow("447700900002", "b", (("source_id", "x1"),)),
    ]
    options = SendOptions(sender="Shop", routing_group=3)
    params = send_batch_params(rows, Dca.SEVEN_BIT, options, stop_dup_id=1, max_parts=1)
    assert params["batch_data"].splitlines() == [
        "msisdn,message,sender,routing_group,source_id",
        '"447700900001","a","ACME","1",""',
        '"447700900002","b","Shop","3","x1"',
    ]
    assert (params["sender"], params["routing_group"]) == ("Shop", "3")


@pytest.mark.parametrize(
    ("rows", "dca", "stop_dup_id", "words"),
    [
        ([BatchRow("447700900001", "Zoë")], Dca.SEVEN_BIT, 1, "row 1"),
        ([BatchRow("447700900001", "€5")], Dca.SEVEN_BIT, 1, "ISO-8859-1"),
        ([], Dca.SEVEN_BIT, 1, "at least one"),
        ([BatchRow("447700900001", "a")], Dca.SEVEN_BIT, 0, "stop_dup_id"),
        ([BatchRow("447700900001", "a")], Dca.SEVEN_BIT, 2**31, "stop_dup_id"),
        ([BatchRow("+447700900001", "a")], Dca.SEVEN_BIT, 1, "digits only"),
        ([BatchRow("447700900001", "a", (("colour", "red"),))], Dca.SEVEN_BIT, 1, "colour"),
        ([BatchRow("447700900001", "a", (("dca", "16bit"),))], Dca.SEVEN_BIT, 1, "contradicts"),
        ([BatchRow("447700900001", "a", (("sender", "Ω"),))], Dca.SEVEN_BIT, 1, "ISO-8859-1"),
    ],
)
def test_params_refuse_what_the_eapi_must_never_see(
    rows: list[BatchRow], dca: Dca, stop_dup_id: int, words: str
) -> None:
    """A 16-bit text as 7-bit, bad ids, numbers or columns raise ValueError saying which."""
    with pytest.raises(ValueError, match=words):
        send_batch_params(rows, dca, SendOptions(), stop_dup_id=stop_dup_id, max_parts=3)


def test_send_batch_posts_the_form_and_reads_the_answer() -> None:
    """The simulator receives exactly the params plus the user name, and the text as written."""
    params = params_for("Grüße, café à 5 £", 'He said "no" \\ ok')
    with running_simulator() as sim:
        client = client_for(sim)
        result = client.send_batch(params)
        client.close()
    assert result.outcome is Outcome.ACCEPTED
    assert result.http_status == 200 and result.error is None
    assert (
        result.answer is not None and result.answer.raw == f"0|IN_PROGRESS|{result.answer.batch_id}"
    )
    assert result.status_code == 0
    (request,) = sim.requests
    assert request.path == "/eapi/submission/send_batch/1/1.0"
    assert dict(request.params) == {"username": SIM_USERNAME, **params}
    (submission,) = sim.processed
    assert submission.rows == (
        ("447700900001", "Grüße, café à 5 £"),
        ("447700900002", 'He said "no" \\ ok'),
    )
    assert submission.batch_id == result.answer.batch_id


def test_one_kept_alive_connection_carries_every_request() -> None:
    """Several submissions and a balance query reuse one TCP connection."""
    with running_simulator() as sim:
        client = client_for(sim)
        for stop_dup_id in (1, 2, 3):
            assert client.send_batch(params_for("hi", stop_dup_id=stop_dup_id)).status_code == 0
        client.get_credits()
        client.close()
    assert sim.connections_opened == 1
    assert sim.max_in_flight == 1
    assert len(sim.processed) == 3


def test_duration_comes_from_the_injected_clock() -> None:
    """duration_seconds is measured with the clock the client was given."""
    ticks = count(start=100, step=2)
    with running_simulator() as sim:
        client = EapiClient(
            sim.url, SIM_USERNAME, Secret(SIM_PASSWORD), clock=lambda: float(next(ticks))
        )
        result = client.send_batch(params_for("hi"))
        client.close()
    assert result.duration_seconds == 2.0


@pytest.mark.parametrize(
    ("script", "outcome", "http_status", "status_code", "error"),
    [
        ("503", Outcome.RETRY, 503, None, "HTTP 503"),
        ("40", Outcome.RETRY, 200, 40, None),
        ("26", Outcome.RETRY_LATER, 200, 26, None),
        ("28", Outcome.RETRY_LATER, 200, 28, None),
        ("25", Outcome.FATAL, 200, 25, None),
        ("24", Outcome.FATAL, 200, 24, None),
        ("garbage", Outcome.RETRY, 200, None, "unparseable answer: '<html>"),
        ("drop", Outcome.RETRY, None, None, "connection closed without an answer"),
    ],
)
def test_every_failure_is_a_result_never_an_exception(
    script: str, outcome: Outcome, http_status: int | None, status_code: int | None, error: str
) -> None:
    """HTTP errors, retryable and fatal codes, garbage and a dropped connection are results."""
    with running_simulator(script=script) as sim:
        client = client_for(sim)
        result = client.send_batch(params_for("hi"))
        client.close()
    assert (result.outcome, result.http_status, result.status_code) == (
        outcome,
        http_status,
        status_code,
    )
    assert (result.error or "").startswith(error or "")
    assert (result.error is None) == (error is None)


def test_timeout_is_a_retry_and_the_submission_may_have_happened() -> None:
    """A held answer times out as RETRY; the resend with the same id gets the original answer."""
    with running_simulator(script="timeout", hang_seconds=10) as sim:
        client = client_for(sim, read_timeout=0.3)
        first = client.send_batch(params_for("hi", stop_dup_id=5))
        second = client.send_batch(params_for("hi", stop_dup_id=5))
        client.close()
    assert first.outcome is Outcome.RETRY
    assert (first.http_status, first.answer, first.error) == (None, None, "timed out after 0.3 s")
    assert second.outcome is Outcome.ACCEPTED
    assert len(sim.processed) == 1
    assert second.answer is not None and second.answer.batch_id == sim.processed[0].batch_id


def free_port() -> int:
    """A local port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused_is_a_retry() -> None:
    """Nobody listening: RETRY with no HTTP status and 'connection refused'."""
    client = EapiClient(
        f"http://127.0.0.1:{free_port()}/eapi", "u", Secret("pw-Refused-1"), connect_timeout=2
    )
    result = client.send_batch(params_for("hi"))
    client.close()
    assert (result.outcome, result.http_status, result.error) == (
        Outcome.RETRY,
        None,
        "connection refused",
    )


def test_balance_waits_for_a_submission_in_flight() -> None:
    """get_credits never overlaps a send_batch: it waits, or says the client is busy."""
    with running_simulator(latency=0.5) as sim:
        client = client_for(sim)
        sender = threading.Thread(target=client.send_batch, args=(params_for("hi"),))
        sender.start()
        while not sim.max_in_flight:
            time.sleep(0.01)
        client.busy_timeout = 0.05
        with pytest.raises(EapiError, match="still in flight"):
            client.get_credits()
        client.busy_timeout = 5.0
        assert client.get_credits() == Decimal("9999.00")
        sender.join()
        client.close()
    assert sim.max_in_flight == 1
    assert [r.path.rsplit("/", 3)[1] for r in sim.requests] == ["send_batch", "get_credits"]


def test_credentials_are_never_params() -> None:
    """Passing username or password in params is a programming error, refused before sending."""
    client = EapiClient("http://127.0.0.1:9/eapi", "u", Secret("pw"))
    with pytest.raises(ValueError, match="credentials"):
        client.send_batch({"password": "x", "batch_data": "msisdn,message"})
    client.close()


def test_get_credits_returns_the_balance_as_decimal() -> None:
    """get_credits reads `0|2101.15` into Decimal('2101.15')."""
    with running_simulator(credits="2101.15") as sim:
        client = client_for(sim)
        assert client.get_credits() == Decimal("2101.15")
        client.close()


def test_get_credits_failures_raise_eapi_error() -> None:
    """Bad credentials, a wrong base URL and no server raise EapiError saying what happened."""
    with running_simulator() as sim:
        wrong = client_for(sim, password="not-the-password")
        with pytest.raises(EapiError, match=r"status 23 \(authentication failure\)"):
            wrong.get_credits()
        wrong.close()
        misplaced = EapiClient(sim.url.removesuffix("/eapi"), SIM_USERNAME, Secret(SIM_PASSWORD))
        with pytest.raises(EapiError, match="HTTP 404"):
            misplaced.get_credits()
        misplaced.close()
    nobody = EapiClient(f"http://127.0.0.1:{free_port()}/eapi", "u", Secret("pw"))
    with pytest.raises(EapiError, match="connection refused"):
        nobody.get_credits()
    nobody.close()


def test_create_client_runs_the_simulator_in_process() -> None:
    """EAPI_URL=simulator gives a simulated client whose close() also stops the simulator."""
    client = create_client(Settings())
    assert client.simulated and client.simulator is not None
    sim = client.simulator
    assert client.get_credits() == Decimal("10000.00")
    assert client.send_batch(params_for("hi")).outcome is Outcome.ACCEPTED
    assert len(sim.processed) == 1
    client.close()
    after = EapiClient(sim.url, "simulator", Secret("simulator"), connect_timeout=1)
    assert after.send_batch(params_for("hi")).error == "connection refused"
    after.close()


def test_create_client_for_a_real_account() -> None:
    """A configured EAPI_URL gives a plain client for it; missing credentials are refused."""
    settings = Settings(
        eapi_url="https://bulksms.example/eapi", eapi_username="john", eapi_password=Secret("pw")
    )
    client = create_client(settings)
    assert (client.base_url, client.username, client.simulated) == (
        "https://bulksms.example/eapi",
        "john",
        False,
    )
    assert client.simulator is None
    client.close()
    with pytest.raises(ConfigError, match="EAPI_PASSWORD"):
        create_client(Settings(eapi_url="https://bulksms.example/eapi", eapi_username="john"))


def test_credentials_the_latin1_form_cannot_carry_are_refused_up_front() -> None:
    """A password with '€' could never be sent: one ConfigError at start, never the secret."""
    url = "https://bulksms.example/eapi"
    with pytest.raises(ConfigError, match="EAPI_PASSWORD holds a character") as caught:
        create_client(Settings(eapi_url=url, eapi_username="john", eapi_password=Secret("s€cr3t")))
    assert "s€cr3t" not in str(caught.value)
    with pytest.raises(ConfigError, match="EAPI_USERNAME"):
        EapiClient(url, "jōhn", Secret("pw"))
    EapiClient(url, "jöhn", Secret("pässwörd")).close()  # Latin-1 letters are fine


LEAKY_PASSWORD = "Pw-LEAK-canary&= 7"  # its urlencoded form differs: check both


def test_password_never_reaches_logs_errors_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    """Through success, HTTP error, timeout, garbage, refusal and bad credentials: no password."""
    caplog.set_level("DEBUG")
    texts: list[str] = []
    with running_simulator(
        script="0,503,timeout,garbage", hang_seconds=5, password=LEAKY_PASSWORD
    ) as sim:
        client = client_for(sim, password=LEAKY_PASSWORD, read_timeout=0.3)
        for stop_dup_id in (1, 2, 3, 4):
            texts.append(repr(client.send_batch(params_for("hi", stop_dup_id=stop_dup_id))))
        texts.append(repr(client.get_credits()))
        texts.append(repr(client))
        client.close()
        wrong = client_for(sim, password=LEAKY_PASSWORD[::-1])
        with pytest.raises(EapiError) as refused:
            wrong.get_credits()
        texts.append(str(refused.value))
        wrong.close()
        texts.extend(repr(request) for request in sim.requests)
    nobody = EapiClient(f"http://127.0.0.1:{free_port()}/eapi", "u", Secret(LEAKY_PASSWORD))
    texts.append(repr(nobody.send_batch(params_for("hi"))))
    with pytest.raises(EapiError) as unreachable:
        nobody.get_credits()
    texts.append(str(unreachable.value))
    nobody.close()
    seen = "\n".join([caplog.text, *texts])
    assert "urllib3.connectionpool" in caplog.text or "Starting new HTTP" in caplog.text
    for form in (LEAKY_PASSWORD, LEAKY_PASSWORD[::-1], urlencode({"p": LEAKY_PASSWORD})[2:]):
        assert form not in seen
    assert "HTTP 503" in seen and "timed out after 0.3 s" in seen and "connection refused" in seen


class CannedAdapter(requests.adapters.BaseAdapter):
    """A hand-written transport: records each request and answers with the next canned reply."""

    def __init__(self, *replies: tuple[int, bytes, dict[str, str]]) -> None:
        super().__init__()
        self.replies = list(replies)
        self.sent: list[tuple[requests.PreparedRequest, object]] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: object = None, **kwargs: object
    ) -> requests.Response:
        """Answer the next canned reply, remembering the request and its timeout."""
        self.sent.append((request, timeout))
        status, body, headers = self.replies.pop(0)
        response = requests.Response()
        response.status_code, response._content = status, body
        response.headers.update(headers)
        response.request, response.url = request, request.url or ""
        return response

    def close(self) -> None:
        """Nothing to release."""


def canned_client(*replies: tuple[int, bytes, dict[str, str]]) -> tuple[EapiClient, CannedAdapter]:
    """A client whose session answers from `replies` instead of the network."""
    adapter = CannedAdapter(*replies)
    session = requests.Session()
    session.mount("https://eapi.test/", adapter)
    return EapiClient("https://eapi.test/eapi", "jöhn", Secret("pä55"), session=session), adapter


def test_the_wire_form_is_iso_8859_1_post_with_timeouts() -> None:
    """The body is ISO-8859-1 urlencoded, POSTed as a form with (connect, read) timeouts."""
    client, adapter = canned_client((200, b"0|IN_PROGRESS|5", {}))
    client.send_batch(params_for("café"))
    ((request, timeout),) = adapter.sent
    assert request.method == "POST"
    assert request.url == "https://eapi.test/eapi/submission/send_batch/1/1.0"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert timeout == (10.0, 120.0)
    assert isinstance(request.body, bytes)
    assert request.body.startswith(b"username=j%F6hn&password=p%E455&batch_data=")
    assert b"caf%E9" in request.body


LATIN_1 = st.text(st.characters(max_codepoint=255), max_size=40)


@given(st.lists(st.tuples(LATIN_1, LATIN_1), max_size=5))
def test_the_form_is_byte_for_byte_what_urlencode_writes(fields: list[tuple[str, str]]) -> None:
    """Any ISO-8859-1 keys and values ("%", "+", spaces, controls, accents among them) give
    exactly urllib's urlencode body."""
    assert form_body(fields) == urlencode(fields, encoding="iso-8859-1").encode("ascii")


def test_a_character_outside_iso_8859_1_is_refused_like_urlencode_does() -> None:
    """A message character the form cannot carry raises, as urlencode does: nothing is sent."""
    with pytest.raises(UnicodeEncodeError):
        form_body([("batch_data", "msisdn,message\n447400100001,10 €\n")])


def test_a_redirect_is_not_followed_and_names_the_target() -> None:
    """A 301 is a RETRY whose error names where it pointed, so EAPI_URL can be fixed."""
    client, adapter = canned_client((301, b"", {"Location": "https://other.test/eapi"}))
    result = client.send_batch(params_for("hi"))
    assert result.outcome is Outcome.RETRY and len(adapter.sent) == 1
    assert result.error == "HTTP 301 (redirect to https://other.test/eapi; check EAPI_URL)"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"0|abc", "not a number"),
        (b"0|NaN", "not a number"),
        (b"0|", "not a number"),
        (b"<html>login</html>", "not 'status_code|credits'"),
    ],
)
def test_get_credits_refuses_a_malformed_balance(body: bytes, error: str) -> None:
    """A balance that is not a finite number raises EapiResponseError quoting the answer."""
    client, _ = canned_client((200, body, {}))
    with pytest.raises(EapiResponseError, match=error):
        client.get_credits()


def test_get_credits_tolerates_line_ends() -> None:
    """`0|2101.15` with CRLF still reads as Decimal('2101.15')."""
    client, _ = canned_client((200, b"0|2101.15\r\n", {}))
    assert client.get_credits() == Decimal("2101.15")
