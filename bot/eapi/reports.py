"""Delivery reports: the `get_report` request, its tolerant parser, and the status table.

The status table (research note §A.2) lives here and nowhere else: 11 is the only delivered
code; 0, 1, 10, 12, 40, 60–64 and every code not in the table stay pending; the failed codes are
final; 70 is unknown but may still change. The raw code is always kept beside its class.

A `get_report` answer is `0|Returns to follow` (or the older `0|Results to follow`), a blank
line, then `msisdn|status_code[|optional fields…]` rows; zero rows means "not known yet". An
error is `22|…|`, `23|…|` or `24|…|`. `fetch_report` never raises for the network or the EAPI:
it returns a `ReportFetch` saying whether to apply rows or to try again later.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from bot.eapi.client import EapiClient
from bot.model import DeliveryState, ReportRow

logger = logging.getLogger(__name__)

GET_REPORT_PATH = "/status_reports/get_report/2/2.0"
OPTIONAL_FIELDS = ("source_id",)  # asked for, and read back in this order
SOURCE_ID_MAX = 20
# A report is never urgent: a slow answer is given up sooner than a submission's (and asked
# again later), so a waiting submission is held up by at most this long.
REPORT_READ_TIMEOUT = 30.0
NOT_SENT = "not sent: its submission failed"  # a failed message without a report code
_HEADERS = ("returns to follow", "results to follow")
_QUOTE_LIMIT = 200

_FAILED = (22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 50, 51, 52, 53, 54, 55, 56, 57)
DELIVERY_CLASSES: Mapping[int, DeliveryState] = MappingProxyType(
    {11: DeliveryState.DELIVERED, 70: DeliveryState.UNKNOWN}
    | {code: DeliveryState.FAILED for code in _FAILED}
)
REPORT_MEANINGS: Mapping[int, str] = MappingProxyType(
    {
        0: "in progress",
        1: "scheduled",
        10: "delivered upstream",
        11: "delivered to mobile",
        12: "delivered upstream unacknowledged",
        22: "internal fatal error",
        23: "authentication failure",
        24: "data validation failed",
        25: "insufficient credits",
        26: "upstream credits not available",
        27: "daily quota exceeded",
        28: "upstream quota exceeded",
        29: "sending cancelled",
        31: "unroutable",
        32: "blocked (probably a recipient's complaint)",
        33: "failed: censored",
        40: "temporarily unavailable",
        50: "delivery failed: generic failure",
        51: "delivery to phone failed",
        52: "delivery to network failed",
        53: "message expired",
        54: "failed on remote network",
        55: "failed: remotely blocked",
        56: "failed: remotely censored",
        57: "failed due to a fault on the handset (e.g. SIM full)",
        60: "transient upstream failure",
        61: "upstream status update",
        62: "upstream cancel failed",
        63: "queued for retry after a temporary failure",
        64: "queued for retry after a temporary handset failure",
        70: "unknown upstream status",
    }
)


def delivery_state(status_code: int) -> DeliveryState:
    """The class of a per-message report code; a code not in the table stays pending."""
    return DELIVERY_CLASSES.get(status_code, DeliveryState.PENDING)


def report_meaning(status_code: int) -> str:
    """BulkSMS's meaning of a per-message report code, or 'unknown status code N'."""
    return REPORT_MEANINGS.get(status_code, f"unknown status code {status_code}")


@dataclass(frozen=True, slots=True)
class ReportFetch:
    """What one get_report request came back with.

    `rows` is None when nothing usable came back (`error` says why; try again later); an empty
    tuple is the EAPI saying it knows nothing yet.
    """

    rows: tuple[ReportRow, ...] | None
    status_line: str  # the answer's first line (or the transport error), for the audit log
    error: str | None
    skipped: int = 0  # rows that could not be read (logged, counted)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the rows can be applied."""
        return self.rows is not None


def _quote(text: str) -> str:
    return repr(text[:_QUOTE_LIMIT]) + (" …" if len(text) > _QUOTE_LIMIT else "")


def _row(line: str, fields: Sequence[str]) -> ReportRow | None:
    """One `msisdn|code[|optional…]` row, or None when it is not one."""
    parts = line.split("|")
    msisdn, code = parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""
    if not (msisdn.isascii() and msisdn.isdigit() and code.isascii() and code.isdigit()):
        return None
    extra = dict(zip(fields, (p.strip() for p in parts[2:]), strict=False))
    status = int(code)
    return ReportRow(
        msisdn,
        status,
        delivery_state(status),
        extra.get("source_id") or None,
        extra.get("completed_time") or None,
    )


def parse_report(text: str, fields: Sequence[str] = OPTIONAL_FIELDS) -> ReportFetch:
    """Parse a get_report body (rows carry `fields` in that order after the code)."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    head = lines[0].strip()
    code, _, description = head.partition("|")
    if not (code.isascii() and code.isdigit()) or not description:
        return ReportFetch(None, head[:_QUOTE_LIMIT], f"unreadable answer: {_quote(text)}")
    if int(code) != 0:
        reason = description.strip().rstrip("|").strip()
        return ReportFetch(
            None, head[:_QUOTE_LIMIT], f"get_report failed with status {code}: {reason}"
        )
    if description.strip().rstrip("|").strip().lower() not in _HEADERS:
        return ReportFetch(None, head[:_QUOTE_LIMIT], f"unexpected header: {_quote(head)}")
    rows, skipped = [], 0
    for line in lines[1:]:
        if not line.strip():
            continue
        row = _row(line, fields)
        if row is None:
            skipped += 1
            logger.warning("get_report: a row that is not 'msisdn|status_code': %s", _quote(line))
        else:
            rows.append(row)
    return ReportFetch(tuple(rows), head, None, skipped)


def fetch_report(client: EapiClient, eapi_batch_id: int) -> ReportFetch:
    """Ask for one submission's report through the client's one connection; never raises."""
    params = {"batch_id": str(eapi_batch_id), "optional_fields": ",".join(OPTIONAL_FIELDS)}
    reply = client.post_form(GET_REPORT_PATH, params, read_timeout=REPORT_READ_TIMEOUT)
    if reply.text is None or reply.http_status is None:
        error = reply.error or "no answer"
        return ReportFetch(None, error, error, duration_seconds=reply.duration_seconds)
    if reply.http_status != 200:
        error = f"HTTP {reply.http_status}"
        return ReportFetch(None, error, error, duration_seconds=reply.duration_seconds)
    parsed = parse_report(reply.text)
    logger.info(
        "get_report batch_id=%s: %s, %s rows, %.3f s",
        eapi_batch_id,
        parsed.error or parsed.status_line,
        len(parsed.rows or ()),
        reply.duration_seconds,
    )
    return ReportFetch(
        parsed.rows, parsed.status_line, parsed.error, parsed.skipped, reply.duration_seconds
    )


def row_references(rows: Sequence[tuple[int, str, str | None]]) -> list[str | None]:
    """Our source_id per row of one submission: `L{line}` where the number appears twice.

    `rows` are (line, msisdn, the row's own source_id). A row with its own source_id keeps it;
    a number that appears once needs none (msisdn alone finds it in the report); a repeated
    number without one gets `L` and its line, unique within the batch and within 20 characters.
    """
    repeats = Counter(msisdn for _, msisdn, _ in rows)
    return [
        own if own else (f"L{line}" if repeats[msisdn] > 1 else None) for line, msisdn, own in rows
    ]
