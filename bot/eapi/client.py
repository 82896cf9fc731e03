"""The BulkSMS EAPI client: the only code that talks to the EAPI.

What an answer means (`classify`) follows `eapi-send-batch.txt`: 0 and 1 succeed; 40, any HTTP
status but 200, a timeout, a connection failure and an unreadable 200 body may be resent with
the same `stop_dup_id` (the EAPI de-duplicates it); 26 and 28 may be resent later; every other
code is final. `EapiClient.send_batch` never raises for any of these: it returns a
`SubmitResult` that the sender records. The password travels only in the POST body; it is never
logged, never put in a message, and `repr` never shows it.
"""

from __future__ import annotations

import logging
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

import requests

from bot.config import Secret, Settings
from bot.eapi.batchcsv import PER_ROW_COLUMNS, BatchRow, send_batch_params
from bot.eapi.metrics import endpoint_of, request_histogram
from bot.errors import ConfigError, EapiError, EapiResponseError

if TYPE_CHECKING:
    from bot.eapi.simulator.server import SimulatorServer

__all__ = [
    "PER_ROW_COLUMNS",
    "STATUS_MEANINGS",
    "BatchRow",
    "EapiAnswer",
    "EapiClient",
    "Outcome",
    "RawReply",
    "SubmitResult",
    "classify",
    "create_client",
    "form_body",
    "meaning",
    "parse_answer",
    "send_batch_params",
]

logger = logging.getLogger(__name__)

SEND_BATCH_PATH = "/submission/send_batch/1/1.0"
GET_CREDITS_PATH = "/user/get_credits/1/1.1"
SIMULATOR_CREDENTIALS = ("simulator", "simulator")
_QUOTE_LIMIT = 200


class Outcome(StrEnum):
    """What the sender should do after one submission attempt."""

    ACCEPTED = "accepted"  # status 0
    SCHEDULED = "scheduled"  # status 1
    RETRY = "retry"  # 40, HTTP != 200, timeout, connection error, unreadable 200 body
    RETRY_LATER = "retry_later"  # 26, 28
    FATAL = "fatal"  # every other code


STATUS_MEANINGS: Mapping[int, str] = MappingProxyType(
    {
        0: "in progress",
        1: "scheduled",
        22: "internal fatal error",
        23: "authentication failure",
        24: "data validation failed",
        25: "you do not have sufficient credits",
        26: "upstream credits not available",
        27: "you have exceeded your daily quota",
        28: "upstream quota exceeded",
        40: "temporarily unavailable",
        201: "maximum batch size exceeded (current maximum size: 30,000 messages)",
    }
)
_OUTCOMES = {0: Outcome.ACCEPTED, 1: Outcome.SCHEDULED, 40: Outcome.RETRY}


# The form's bytes as `urlencode(..., encoding="iso-8859-1")` writes them (its quote_plus): ASCII
# letters, digits and "_.-~" as they are, a space as "+", every other byte as %XX.
_FORM_SAFE = (string.ascii_letters + string.digits + "_.-~").encode()
_FORM_CODE = {b: b"+" if b == 0x20 else b"%%%02X" % b for b in range(256) if b not in _FORM_SAFE}
# "%" first and "+" before the space: the escapes written for them must not be escaped again.
_FORM_FIRST = (ord("%"), ord("+"))


def _form_quote(text: str) -> bytes:
    """One key or value as the form writes it: one C-level replace per distinct byte to
    escape, where urllib escapes byte by byte in Python (20 ms for a 400 KB batch_data)."""
    raw = text.encode("iso-8859-1")
    present = set(raw.translate(None, _FORM_SAFE))
    for byte in (*(b for b in _FORM_FIRST if b in present), *(present - set(_FORM_FIRST))):
        raw = raw.replace(bytes((byte,)), _FORM_CODE[byte])
    return raw


def form_body(fields: Iterable[tuple[str, str]]) -> bytes:
    """The fields urlencoded as ISO-8859-1, byte for byte what `urllib.parse.urlencode` gives
    (2 ms instead of 20 for a 400 KB batch_data); UnicodeEncodeError for a character outside
    ISO-8859-1, as urlencode raises."""
    return b"&".join(_form_quote(key) + b"=" + _form_quote(value) for key, value in fields)


def classify(status_code: int) -> Outcome:
    """The outcome the EAPI's documentation assigns to a status code."""
    if status_code in (26, 28):
        return Outcome.RETRY_LATER
    return _OUTCOMES.get(status_code, Outcome.FATAL)


def meaning(status_code: int) -> str:
    """The documented meaning of a status code, or 'unknown status code N'."""
    return STATUS_MEANINGS.get(status_code, f"unknown status code {status_code}")


@dataclass(frozen=True, slots=True)
class EapiAnswer:
    """A parsed `status_code|status_description[|batch_id]` answer."""

    status_code: int
    description: str
    batch_id: int | None
    raw: str  # the body as received (we never send secrets back, so none can be in it)


def _quote(body: str) -> str:
    return repr(body[:_QUOTE_LIMIT]) + (" …" if len(body) > _QUOTE_LIMIT else "")


def parse_answer(body: str) -> EapiAnswer:
    """Parse a send_batch answer; raise EapiResponseError (quoting ≤200 chars) if it is not one."""
    text = body.lstrip("\ufeff").strip()
    fields = text.split("|", 2)
    code = fields[0].strip()
    if len(fields) < 2 or not (code.isascii() and code.isdigit()):
        raise EapiResponseError(
            "the EAPI answered something that is not 'status_code|description[|batch_id]': "
            f"{_quote(body)}; check EAPI_URL points at the EAPI (…/eapi)"
        )
    batch = fields[2].strip() if len(fields) == 3 else ""
    if batch and not (batch.isascii() and batch.isdigit() and int(batch) > 0):
        if int(code) in (0, 1):  # a success must carry a usable batch_id, or none at all
            raise EapiResponseError(
                f"the EAPI's batch_id is not a positive whole number in {_quote(body)}"
            )
        batch = ""  # an error's third field is not a batch_id; the raw body keeps it
    return EapiAnswer(int(code), fields[1], int(batch) if batch else None, body)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The result of one send_batch attempt, whatever happened; never carries a secret."""

    outcome: Outcome
    http_status: int | None  # None when no HTTP answer came (timeout, connection error)
    answer: EapiAnswer | None
    error: str | None  # why there is no usable answer, e.g. "HTTP 503", "timed out after 120 s"
    duration_seconds: float

    @property
    def status_code(self) -> int | None:
        """The EAPI status code, when it answered one."""
        return None if self.answer is None else self.answer.status_code


@dataclass(frozen=True, slots=True)
class RawReply:
    """What one POST came back with: the HTTP status and body, or why there was none."""

    http_status: int | None
    text: str | None
    error: str | None  # e.g. "timed out after 120 s"; never holds a secret
    duration_seconds: float


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _transport_reason(exc: requests.RequestException) -> str:
    """A short reason for a transport failure; never the exceptions' text (it names the URL)."""
    seen: BaseException | None = exc
    chain: list[BaseException] = []
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for item in chain:
        if isinstance(item, ConnectionRefusedError) or "Connection refused" in str(item):
            return "connection refused"
        if isinstance(item, ConnectionResetError) or "Connection reset" in str(item):
            return "connection reset"
        if "RemoteDisconnected" in type(item).__name__ or "without response" in str(item):
            return "connection closed without an answer"
        if "NameResolution" in type(item).__name__ or "getaddrinfo" in str(item):
            return "could not resolve the EAPI host name"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    return f"connection failed ({type(exc).__name__})"


class EapiClient:
    """Talks to one EAPI base URL over one kept-alive session: POST only, explicit timeouts."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: Secret,
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        busy_timeout: float = 15.0,
    ) -> None:
        _check_form_safe(username, password)
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._session = session if session is not None else requests.Session()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._clock = clock
        self.busy_timeout = busy_timeout
        # The EAPI asks for one request at a time: the sender and a balance query share this.
        self._one_at_a_time = threading.Lock()
        self.simulated = False
        self._simulator: SimulatorServer | None = None
        self.request_seconds = request_histogram()  # served by the app's /metrics

    def __repr__(self) -> str:
        return (
            f"EapiClient(base_url={self.base_url!r}, username={self.username!r}, "
            f"password={self._password!r}, simulated={self.simulated})"
        )

    @property
    def simulator(self) -> SimulatorServer | None:
        """The in-process simulator this client talks to (EAPI_URL=simulator), else None."""
        return self._simulator

    def _body(self, params: Mapping[str, str]) -> bytes:
        """The urlencoded ISO-8859-1 form: credentials first, then the params in their order."""
        if "username" in params or "password" in params:
            raise ValueError("params must not carry credentials; the client adds them")
        fields = [("username", self.username), ("password", self._password.reveal())]
        fields.extend(params.items())
        return form_body(fields)

    def _post(
        self, path: str, body: bytes, *, read_timeout: float | None = None
    ) -> requests.Response:
        """POST a form; requests' own errors propagate (their text holds no body, so no secret)."""
        started = time.perf_counter()
        try:
            return self._session.post(
                self.base_url + path,
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=(self.connect_timeout, read_timeout or self.read_timeout),
                allow_redirects=False,  # a redirected POST could be resent as GET with credentials
            )
        finally:
            seconds = time.perf_counter() - started
            self.request_seconds.labels(endpoint=endpoint_of(path)).observe(seconds)

    def _redact(self, text: str) -> str:
        secret = self._password.reveal()
        return text.replace(secret, "********") if secret else text

    def _failure(self, exc: requests.RequestException, read_timeout: float | None = None) -> str:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return f"could not connect within {_seconds(self.connect_timeout)}"
        if isinstance(exc, requests.Timeout):
            return f"timed out after {_seconds(read_timeout or self.read_timeout)}"
        return _transport_reason(exc)

    def send_batch(self, params: Mapping[str, str]) -> SubmitResult:
        """POST one submission and classify what happened; never raises for EAPI or network."""
        body = self._body(params)
        started = self._clock()
        try:
            with self._one_at_a_time:
                response = self._post(SEND_BATCH_PATH, body)
        except requests.RequestException as exc:
            error = self._redact(self._failure(exc))
            logger.warning("send_batch got no answer: %s", error)
            return SubmitResult(Outcome.RETRY, None, None, error, self._clock() - started)
        duration = self._clock() - started
        status = response.status_code
        if status != 200:
            error = f"HTTP {status}"
            if 300 <= status < 400 and response.headers.get("Location"):
                error += f" (redirect to {response.headers['Location']}; check EAPI_URL)"
            logger.warning("send_batch answered %s", error)
            return SubmitResult(Outcome.RETRY, status, None, self._redact(error), duration)
        text = _decode(response.content)
        try:
            answer = parse_answer(text)
        except EapiResponseError:
            error = self._redact(f"unparseable answer: {_quote(text)}")
            logger.warning("send_batch: %s", error)
            return SubmitResult(Outcome.RETRY, status, None, error, duration)
        outcome = classify(answer.status_code)
        logger.info(
            "send_batch answered status=%s outcome=%s batch_id=%s in %.3f s",
            answer.status_code,
            outcome,
            answer.batch_id,
            duration,
        )
        return SubmitResult(outcome, status, answer, None, duration)

    def post_form(
        self, path: str, params: Mapping[str, str], *, read_timeout: float | None = None
    ) -> RawReply:
        """POST any EAPI call through the one lock and session; never raises for the network.

        `read_timeout` (at most the client's own) bounds how long a request that is not a
        submission may hold the one connection."""
        body = self._body(params)
        started = self._clock()
        wait = self.read_timeout if read_timeout is None else min(read_timeout, self.read_timeout)
        try:
            with self._one_at_a_time:
                response = self._post(path, body, read_timeout=wait)
        except requests.RequestException as exc:
            error = self._redact(self._failure(exc, wait))
            return RawReply(None, None, error, self._clock() - started)
        text = self._redact(_decode(response.content))
        return RawReply(response.status_code, text, None, self._clock() - started)

    def get_credits(self) -> Decimal:
        """The account's credit balance; raises EapiError (without any secret) otherwise.

        Waits at most `busy_timeout` seconds for a submission in flight to finish first.
        """
        if not self._one_at_a_time.acquire(timeout=self.busy_timeout):
            raise EapiError(
                "the balance was not checked: a submission is still in flight; try again shortly"
            )
        try:
            response = self._post(GET_CREDITS_PATH, self._body({}))
        except requests.RequestException as exc:
            reason = self._redact(self._failure(exc))
            raise EapiError(f"could not ask the EAPI for the balance: {reason}") from exc
        finally:
            self._one_at_a_time.release()
        text = _decode(response.content)
        if response.status_code != 200:
            raise EapiError(
                f"the EAPI answered HTTP {response.status_code} to get_credits; try again later"
            )
        code, _, value = text.strip().partition("|")
        if not (code.isascii() and code.isdigit()):
            raise EapiResponseError(
                f"get_credits answered something that is not 'status_code|credits': {_quote(text)}"
            )
        if int(code) != 0:
            raise EapiError(
                f"get_credits failed with status {code} ({meaning(int(code))}): "
                f"{self._redact(value.strip())}"
            )
        try:
            balance = Decimal(value.strip())
        except InvalidOperation:
            balance = Decimal("NaN")
        if not balance.is_finite():
            raise EapiResponseError(
                f"get_credits answered a balance that is not a number: {_quote(text)}"
            )
        return balance

    def post_text(self, path: str, params: Mapping[str, str], *, what: str) -> str:
        """POST `params` to `path` (after any request in flight) and return the 200 answer's text.

        For the read calls besides send_batch (`get_inbox`, …): EapiError, naming `what` and
        never a secret, when no 200 answer came.
        """
        body = self._body(params)
        if not self._one_at_a_time.acquire(timeout=self.busy_timeout):
            raise EapiError(f"{what} was not asked: another EAPI request is still in flight")
        try:
            response = self._post(path, body)
        except requests.RequestException as exc:
            raise EapiError(f"{what} got no answer: {self._redact(self._failure(exc))}") from None
        finally:
            self._one_at_a_time.release()
        if response.status_code != 200:
            raise EapiError(f"the EAPI answered HTTP {response.status_code} to {what}")
        return self._redact(_decode(response.content))

    def close(self) -> None:
        """Close the session (also one that was passed in) and stop an in-process simulator."""
        self._session.close()
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None


def _check_form_safe(username: str, password: Secret) -> None:
    """Refuse credentials the ISO-8859-1 form cannot carry, before any request (no secret shown).

    Otherwise every submission would fail inside the form encoder, over and over.
    """
    problems = []
    for name, value in (("EAPI_USERNAME", username), ("EAPI_PASSWORD", password.reveal())):
        try:
            value.encode("iso-8859-1")
        except UnicodeEncodeError:
            problems.append(
                f"{name} holds a character the EAPI's ISO-8859-1 form cannot carry; check it"
            )
    if problems:
        raise ConfigError(problems)


def _decode(content: bytes) -> str:
    """An answer body as text: UTF-8 when it is, else ISO-8859-1 (which always decodes)."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("iso-8859-1")


def create_client(settings: Settings) -> EapiClient:
    """The client the settings ask for; `EAPI_URL=simulator` starts an in-process simulator."""
    if settings.simulated:
        from bot.eapi.simulator.server import (
            SimulatorServer,  # local: only the simulator path needs it
        )

        username, password = SIMULATOR_CREDENTIALS
        server = SimulatorServer(username=username, password=password).start()
        client = EapiClient(server.url, username, Secret(password))
        client.simulated = True
        client._simulator = server
        logger.info("EAPI_URL=simulator: submissions go to %s; nothing is sent", server.url)
        return client
    if settings.eapi_username is None or settings.eapi_password is None:
        raise ConfigError(
            ["EAPI_USERNAME and EAPI_PASSWORD are required unless EAPI_URL=simulator"]
        )
    return EapiClient(settings.eapi_url, settings.eapi_username, settings.eapi_password)
