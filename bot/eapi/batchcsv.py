"""The form fields of one EAPI `send_batch` submission, and its backslash-escaped `batch_data` CSV.

`batch_data` as `eapi-send-batch.txt` shows it: a header line `msisdn,message[,column…]`, then one
line per message with every field quoted; inside a field a backslash escapes a double quote
(`\\"`), a backslash (`\\\\`) and a newline (a backslash before the literal LF). Line endings
inside texts are normalised to LF first (CRLF and lone CR both become LF), by design: that is how
the message is previewed and how it arrives.

The result is a plain `dict[str, str]` whose values all encode as ISO-8859-1, deterministic
(the same input gives an equal dict with the same key order), so the store can keep it, hash
it, and resend it byte for byte under the same `stop_dup_id`. Credentials are never part of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.intake.gsm import eapi_7bit_form, eapi_16bit_form
from bot.model import Dca, SendOptions, TestMode

MAX_BATCH_MESSAGES = 30_000  # the EAPI answers 201 above this
MAX_STOP_DUP_ID = 2_147_483_647
# Per-message CSV columns the EAPI accepts besides msisdn and message (a row's `dca` is handled
# apart: one dca per submission, so it may only repeat the submission's own).
PER_ROW_COLUMNS = ("sender", "msg_class", "routing_group", "source_id", "repliable")
_COLUMN_NAME = re.compile(r"[a-z_]+")


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One message of a submission: the number, the exact text, and per-row CSV columns."""

    msisdn: str
    text: str
    overrides: tuple[tuple[str, str], ...] = ()


def normalise_newlines(text: str) -> str:
    """The text with CRLF and lone CR turned into LF, as every message is sent."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def escape_field(value: str) -> str:
    """One quoted `batch_data` field: backslash, quote and newline escaped with a backslash."""
    escaped = normalise_newlines(value).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\\n") + '"'


def encode_text(text: str, dca: Dca) -> str:
    """The message field as the EAPI wants it for `dca` (ValueError if 7-bit cannot carry it)."""
    text = normalise_newlines(text)
    if dca is Dca.SIXTEEN_BIT:
        return eapi_16bit_form(text)
    return eapi_7bit_form(text)


def _override_columns(rows: Sequence[BatchRow], dca: Dca) -> list[str]:
    """The union of the rows' override columns in order of first appearance, checked."""
    columns: list[str] = []
    for number, row in enumerate(rows, start=1):
        for name, value in row.overrides:
            if name == "dca":
                if value.strip().lower() not in ("", dca.value):
                    raise ValueError(
                        f"row {number}: dca {value!r} contradicts the submission's dca {dca.value}"
                    )
                continue
            if name not in PER_ROW_COLUMNS or not _COLUMN_NAME.fullmatch(name):
                raise ValueError(
                    f"row {number}: {name!r} is not a per-message EAPI column "
                    f"(accepted: {', '.join(PER_ROW_COLUMNS)})"
                )
            if name not in columns:
                columns.append(name)
    return columns


def batch_data(
    rows: Sequence[BatchRow], dca: Dca, defaults: Mapping[str, str] | None = None
) -> str:
    """The `batch_data` CSV for the rows, every text encoded for `dca`.

    A row without a value in an override column gets the batch's own value from `defaults`
    (e.g. the batch sender): an empty field could read as "no sender" on that row, overriding
    the batch-level one. Without a batch value the field stays empty (the account default).
    """
    defaults = defaults or {}
    columns = _override_columns(rows, dca)
    lines = [",".join(["msisdn", "message", *columns])]
    for number, row in enumerate(rows, start=1):
        if not (row.msisdn.isascii() and row.msisdn.isdigit()):
            raise ValueError(f"row {number}: msisdn {row.msisdn!r} must be digits only, no '+'")
        try:
            message = encode_text(row.text, dca)
        except ValueError as exc:
            raise ValueError(f"row {number} (msisdn {row.msisdn}): {exc}") from exc
        given = dict(row.overrides)
        values = (given.get(name) or defaults.get(name, "") for name in columns)
        fields = [row.msisdn, message, *values]
        lines.append(",".join(escape_field(field) for field in fields))
    return "\n".join(lines)


def row_msisdns(data: str) -> list[str]:
    """The msisdn of every row of a `batch_data` CSV, in order (read without decoding texts).

    A row starts on a line whose previous line did not end in an escaping backslash (a message's
    newline is written as a backslash before the LF); its first field is the quoted digits.
    """
    numbers: list[str] = []
    continued = False
    for line in data.split("\n")[1:]:
        if not continued and line.startswith('"'):
            numbers.append(line[1 : line.index('"', 1)])
        backslashes = len(line) - len(line.rstrip("\\"))
        continued = backslashes % 2 == 1
    return numbers


def _batch_options(options: SendOptions) -> list[tuple[str, str]]:
    """The batch-level form fields that come from the user's send options."""
    fields: list[tuple[str, str]] = []
    if options.sender:
        fields.append(("sender", options.sender))
    if options.routing_group is not None:
        fields.append(("routing_group", str(options.routing_group)))
    if options.send_at is not None:
        fields.append(("send_time_unixtime", str(int(options.send_at))))
    if options.test_mode is TestMode.SUCCEED:
        fields.append(("test_always_succeed", "1"))
    elif options.test_mode is TestMode.FAIL:
        fields.append(("test_always_fail", "1"))
    return fields


def send_batch_params(
    rows: Sequence[BatchRow],
    dca: Dca,
    options: SendOptions,
    *,
    stop_dup_id: int,
    max_parts: int,
) -> dict[str, str]:
    """Every `send_batch` form field except username/password, deterministic and ISO-8859-1-safe.

    Raises ValueError for input the EAPI must never see: no rows, more than 30,000, a stop_dup_id
    outside 1..2147483647, a non-digit msisdn, a text that needs 16-bit submitted as 7-bit, an
    unknown per-row column, or a value that ISO-8859-1 cannot carry.
    """
    if not rows:
        raise ValueError("a submission needs at least one message")
    if len(rows) > MAX_BATCH_MESSAGES:
        raise ValueError(f"{len(rows)} messages exceed the EAPI's {MAX_BATCH_MESSAGES} a batch")
    if not 1 <= stop_dup_id <= MAX_STOP_DUP_ID:
        raise ValueError(f"stop_dup_id must be within 1..{MAX_STOP_DUP_ID}, got {stop_dup_id}")
    if max_parts < 1:
        raise ValueError(f"max_parts must be at least 1, got {max_parts}")
    batch_level = _batch_options(options)
    fields = [
        ("batch_data", batch_data(rows, dca, dict(batch_level))),
        ("dca", dca.value),
        *batch_level,
        ("stop_dup_id", str(stop_dup_id)),
        ("allow_concat_text_sms", "1"),
        ("concat_text_sms_max_parts", str(max_parts)),
        ("want_report", "1"),
    ]
    for name, value in fields:
        try:
            value.encode("iso-8859-1")
        except UnicodeEncodeError as exc:
            bad = value[exc.start]
            raise ValueError(
                f"{name}: {bad!r} (U+{ord(bad):04X}) cannot be sent in the EAPI's ISO-8859-1 form"
            ) from exc
    return dict(fields)
