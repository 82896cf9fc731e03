"""What the simulated EAPI does with a request, free of HTTP: the semantics of eapi-send-batch.txt.

send_batch, in the order the checks apply: a scripted or random fault; 23 on bad credentials; a
known `stop_dup_id` returns the original answer (only submissions that took effect are
remembered, for `dedup_seconds`); 201 over 30,000 lines; 24 when `batch_data` has no usable
header or no valid line (invalid lines are skipped and logged, as the real EAPI skips them); with
`test_always_fail=1` 22, with `test_always_succeed=1` a success that sends nothing; 25 when the
balance cannot pay one credit a part (nothing deducted); otherwise the credits are deducted, the
submission is recorded in `processed`, and the answer is 1 for a future send time, else 0, with a
new positive, increasing batch_id. Random faults (`fault_rate`) hit send_batch and get_report. A
message over `concat_text_sms_max_parts` (1 part without `allow_concat_text_sms=1`) is an invalid
line.

get_report (by `batch_id`, optionally one `msisdn`, with `optional_fields`): each accepted
message follows a path drawn from the delivery mix (`delivery`); the answer is the header
(`0|Returns to follow`, or `report_header`), a blank line and one `msisdn|code[|fields…]` row per
message with a known code; zero rows for an unknown batch_id or before any code is known. Its
faults come from `report_script` (the same tokens as `script`) or `fault_rate`.
"""

from __future__ import annotations

import hmac
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.eapi.simulator.delivery import DEFAULT_MIX, DeliveryModel, Path
from bot.eapi.simulator.inbox import GET_INBOX, SimInbox
from bot.eapi.simulator.reader import ReadBatch, read_batch

logger = logging.getLogger(__name__)

SEND_BATCH = "/submission/send_batch/1/1.0"
GET_CREDITS = "/user/get_credits/1/1.1"
QUOTE_SMS = "/submission/quote_sms/2/2.0"
GET_REPORT = "/status_reports/get_report/2/2.0"
REPORT_HEADER = "Returns to follow"
REPORT_FIELDS = ("source_id", "completed_time", "created_time", "credits", "body", "origin_address")
FAULT_WORDS = ("timeout", "drop", "garbage")
MAX_BATCH = 30_000
FIRST_BATCH_ID = 4_712_345_001
GARBAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>\n"


def parse_script(script: str | Iterable[str]) -> tuple[str, ...]:
    """Fault tokens from `40,503,timeout,0`: a status (<100), an HTTP status (>=100), or a word."""
    items = script.split(",") if isinstance(script, str) else list(script)
    tokens = tuple(str(item).strip().lower() for item in items if str(item).strip())
    for token in tokens:
        if token not in FAULT_WORDS and not token.isdigit():
            raise ValueError(
                f"script item {token!r} is not a status code, an HTTP status or one of "
                f"{', '.join(FAULT_WORDS)}"
            )
    return tokens


@dataclass(frozen=True, slots=True)
class Reply:
    """What to do with one request: answer it, or process and then hang or drop the connection."""

    http_status: int
    body: str
    fault: str | None = None  # the fault applied, e.g. "40", "503", "timeout", "random 503"
    hang: bool = False  # hold the connection without answering, then close it
    drop: bool = False  # close the connection at once without answering


@dataclass(frozen=True, slots=True)
class Submission:
    """A send_batch that took effect (or, with `test`, would have): what the EAPI understood."""

    stop_dup_id: int | None
    rows: tuple[tuple[str, str], ...]  # (msisdn, text), the text decoded back from its dca
    dca: str
    options: Mapping[str, str]  # batch-level form fields except credentials and batch_data
    batch_id: int
    status_code: int
    parts: int
    credits: Decimal
    invalid_lines: int
    row_fields: tuple[tuple[tuple[str, str], ...], ...] = ()  # per row: its other CSV columns
    test: bool = False


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as received (password removed) and what it got."""

    path: str
    params: Mapping[str, str]
    http_status: int | None  # None when the connection was held or dropped without an answer
    answer: str | None
    fault: str | None
    at: float
    method: str = "POST"  # the real EAPI also serves GET; smsbatch's client must never use it


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted submission's messages and the path each one's reports follow."""

    accepted_at: float  # when the paths start: acceptance, or the scheduled send time
    msisdns: tuple[str, ...]
    source_ids: tuple[str, ...]
    paths: tuple[Path, ...]


def _fail(code: int, description: str) -> str:
    """An error answer as the EAPI writes one: an empty batch_id field and a newline."""
    return f"{code}|{description}|\n"


def _int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _send_time(params: Mapping[str, str]) -> float | None:
    """The scheduled time of a submission in unix seconds (send_time is read as UTC)."""
    unix = _int(params.get("send_time_unixtime"))
    if unix is not None:
        return float(unix)
    raw = (params.get("send_time") or "").strip()
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _max_parts(params: Mapping[str, str]) -> int:
    if params.get("allow_concat_text_sms", "").strip().lower() not in ("1", "true"):
        return 1
    return _int(params.get("concat_text_sms_max_parts")) or 3


class EapiSimulator:
    """The simulated EAPI account: credentials, balance, de-duplication, faults and records."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        credits: Decimal | int | str = Decimal(10000),
        script: str | Iterable[str] = (),
        fault_rate: float = 0.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        dedup_seconds: float = 12 * 3600.0,
        delivery: DeliveryModel | None = None,
        report_script: str | Iterable[str] = (),
        report_header: str = REPORT_HEADER,
    ) -> None:
        self.username = username
        self.password = password
        self.credits = Decimal(credits)
        self.script = list(parse_script(script))
        self.fault_rate = fault_rate
        self.clock = clock
        self.dedup_seconds = dedup_seconds
        self.lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        self.processed: list[Submission] = []
        self.tested: list[Submission] = []
        self._random = random.Random(seed)
        self._answers: dict[int, tuple[float, str]] = {}  # stop_dup_id -> (when, answer)
        self._next_batch_id = FIRST_BATCH_ID
        self.delivery = delivery or DeliveryModel(DEFAULT_MIX)
        self.report_script = list(parse_script(report_script))
        self.report_header = report_header
        self.deliveries: dict[int, Delivery] = {}  # batch_id -> its messages' paths
        self.inbox = SimInbox()

    def handle(self, path: str, params: Mapping[str, str]) -> Reply:
        """The reply to one POST under /eapi (path without the /eapi prefix)."""
        with self.lock:
            if path == SEND_BATCH:
                return self._send_batch(params)
            if path == GET_CREDITS:
                return self._get_credits(params)
            if path == QUOTE_SMS:
                return self._quote_sms(params)
            if path == GET_REPORT:
                return self._get_report(params)
            if path == GET_INBOX:
                return self._get_inbox(params)
        return Reply(404, f"no EAPI call at {path}\n")

    def record(
        self, path: str, params: Mapping[str, str], reply: Reply | None, method: str = "POST"
    ) -> None:
        """Keep one request (never its password) with what it got, and its HTTP method."""
        safe = {k: v for k, v in params.items() if k != "password"}
        answered = reply is not None and not (reply.hang or reply.drop)
        with self.lock:
            self.requests.append(
                RequestRecord(
                    path,
                    safe,
                    reply.http_status if reply is not None and answered else None,
                    reply.body if reply is not None and answered else None,
                    reply.fault if reply is not None else None,
                    self.clock(),
                    method,
                )
            )

    def _authorised(self, params: Mapping[str, str]) -> bool:
        user, password = params.get("username", ""), params.get("password", "")
        if self.username is None or self.password is None:
            return bool(user and password)
        same_user = hmac.compare_digest(user.encode(), self.username.encode())
        return hmac.compare_digest(password.encode(), self.password.encode()) and same_user

    def _refused(self, params: Mapping[str, str]) -> str:
        return _fail(23, f"invalid credentials (username was: {params.get('username', '')})")

    def _fault(self) -> str | None:
        """The next scripted fault token, or a random one at `fault_rate`."""
        if self.script:
            return self.script.pop(0)
        if self.fault_rate and self._random.random() < self.fault_rate:
            return "random " + self._random.choice(("40", "503"))
        return None

    def _send_batch(self, params: Mapping[str, str]) -> Reply:
        fault = self._fault()
        word = (fault or "").removeprefix("random ")
        if word.isdigit() and word != "0":
            code = int(word)
            if code >= 100 and code != 201:
                return Reply(code, f"HTTP {code} (simulated)\n", fault)
            return Reply(200, _fail(code, "simulated status"), fault)
        if word == "garbage":
            return Reply(200, GARBAGE, fault)
        answer = self._process(params)
        return Reply(200, answer, fault, hang=word == "timeout", drop=word == "drop")

    def _process(self, params: Mapping[str, str]) -> str:
        """The submission's answer body, with its effects applied."""
        if not self._authorised(params):
            return self._refused(params)
        stop_dup_id = _int(params.get("stop_dup_id"))
        if stop_dup_id is not None and not 1 <= stop_dup_id <= 2_147_483_647:
            stop_dup_id = None
        remembered = self._answers.get(stop_dup_id) if stop_dup_id else None
        if remembered and self.clock() - remembered[0] < self.dedup_seconds:
            logger.info("send_batch: stop_dup_id %s seen before; original answer", stop_dup_id)
            return remembered[1]
        dca = (params.get("dca") or "7bit").strip().lower()
        read = read_batch(params.get("batch_data", ""), dca, _max_parts(params))
        for bad in read.bad:
            logger.info("send_batch: line %s ignored: %s", bad.line, bad.reason)
        if read.records > MAX_BATCH:
            return _fail(201, f"Maximum batch size exceeded ({read.records} > {MAX_BATCH})")
        if read.error or not read.messages:
            reason = read.error or f"no valid message among {read.records} lines"
            return _fail(24, f"Data validation failed: {reason}")
        if params.get("test_always_fail", "").strip() == "1":
            return _fail(22, "Internal fatal error (test_always_fail)")
        return self._accept(params, read, stop_dup_id, dca)

    def _accept(
        self, params: Mapping[str, str], read: ReadBatch, stop_dup_id: int | None, dca: str
    ) -> str:
        parts = sum(m.parts for m in read.messages)
        cost = Decimal(parts)
        test = params.get("test_always_succeed", "").strip() == "1"
        if not test and cost > self.credits:
            return _fail(25, f"Insufficient credits: {cost} needed, {self.credits:.2f} left")
        when = _send_time(params)
        status = 1 if when is not None and when > self.clock() else 0
        batch_id, self._next_batch_id = self._next_batch_id, self._next_batch_id + 1
        answer = f"{status}|{'SCHEDULED' if status else 'IN_PROGRESS'}|{batch_id}"
        options = {
            k: v for k, v in params.items() if k not in ("username", "password", "batch_data")
        }
        submission = Submission(
            stop_dup_id,
            tuple((m.msisdn, m.text) for m in read.messages),
            dca,
            options,
            batch_id,
            status,
            parts,
            Decimal(0) if test else cost,
            len(read.bad),
            tuple(m.fields for m in read.messages),
            test,
        )
        if test:
            self.tested.append(submission)
            return answer
        self.credits -= cost
        self.processed.append(submission)
        self._plan_delivery(submission, when if status else self.clock())
        if stop_dup_id is not None:
            self._answers[stop_dup_id] = (self.clock(), answer)
        logger.info(
            "send_batch: batch %s, %s messages, %s parts, %s invalid lines ignored",
            batch_id,
            len(read.messages),
            parts,
            len(read.bad),
        )
        return answer

    def _get_credits(self, params: Mapping[str, str]) -> Reply:
        if not self._authorised(params):
            return Reply(200, self._refused(params))
        return Reply(200, f"0|{self.credits:.2f}")

    def _get_inbox(self, params: Mapping[str, str]) -> Reply:
        if not self._authorised(params):
            return Reply(200, self._refused(params))
        return Reply(200, self.inbox.answer(params))

    def _quote_sms(self, params: Mapping[str, str]) -> Reply:
        """A quote like send_sms would cost: recipients x parts x one credit."""
        if not self._authorised(params):
            return Reply(200, self._refused(params))
        recipients = [m for m in params.get("msisdn", "").split(",") if m.strip()]
        message = params.get("message", "")
        if not recipients or not message:
            return Reply(200, _fail(24, "Data validation failed: msisdn and message are required"))
        dca = (params.get("dca") or "7bit").strip().lower()
        line = '"0000000","' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
        read = read_batch("msisdn,message\n" + line, dca, 255)
        if not read.messages:
            return Reply(200, _fail(24, "Data validation failed: the message cannot be read"))
        total = float(len(recipients) * read.messages[0].parts)
        return Reply(200, f"0|Quotation issued|{total}")

    # get_report

    def _plan_delivery(self, submission: Submission, start: float | None) -> None:
        """Draw every message's report path when its submission is accepted."""
        source_ids = tuple(dict(fields).get("source_id", "") for fields in submission.row_fields)
        self.deliveries[submission.batch_id] = Delivery(
            start if start is not None else self.clock(),
            tuple(msisdn for msisdn, _ in submission.rows),
            source_ids,
            tuple(self.delivery.path(self._random) for _ in submission.rows),
        )

    def report_codes(self, batch_id: int, at: float | None = None) -> list[int | None]:
        """Each message's code at `at` (now by default), in submission order; None: not yet."""
        delivery = self.deliveries[batch_id]
        elapsed = (self.clock() if at is None else at) - delivery.accepted_at
        return [self.delivery.code_at(path, elapsed) for path in delivery.paths]

    def _report_fault(self) -> str | None:
        if self.report_script:
            return self.report_script.pop(0)
        if self.fault_rate and self._random.random() < self.fault_rate:
            return "random " + self._random.choice(("40", "503"))
        return None

    def _get_report(self, params: Mapping[str, str]) -> Reply:
        fault = self._report_fault()
        word = (fault or "").removeprefix("random ")
        if word.isdigit() and word != "0":
            code = int(word)
            if code >= 100:
                return Reply(code, f"HTTP {code} (simulated)\n", fault)
            return Reply(200, _fail(code, "simulated status"), fault)
        if word == "garbage":
            return Reply(200, GARBAGE, fault)
        answer = self._report_answer(params)
        return Reply(200, answer, fault, hang=word == "timeout", drop=word == "drop")

    def _report_answer(self, params: Mapping[str, str]) -> str:
        if not self._authorised(params):
            return self._refused(params)
        batch_id = _int(params.get("batch_id"))
        if batch_id is None:
            return _fail(24, "Data validation failed: batch_id is required")
        fields = [f.strip() for f in params.get("optional_fields", "").split(",") if f.strip()]
        unknown = [f for f in fields if f not in REPORT_FIELDS]
        if unknown:
            return _fail(24, f"Data validation failed: unknown optional field {unknown[0]}")
        lines = [f"0|{self.report_header}", ""]
        delivery = self.deliveries.get(batch_id)
        if delivery is not None:  # an unknown batch gets zero rows, not an error
            only = (params.get("msisdn") or "").strip()
            for i, code in enumerate(self.report_codes(batch_id)):
                msisdn = delivery.msisdns[i]
                if code is None or (only and msisdn != only):
                    continue
                extra = [delivery.source_ids[i] if f == "source_id" else "" for f in fields]
                lines.append("|".join([msisdn, str(code), *extra]))
        return "\n".join(lines) + "\n"
