"""`smsbatch-bot check FILE`: the preview the Slack app would show, in the terminal.

FILE is CSV/TSV text or a workbook (.xlsx, .xlsm, .xls, .ods: the first visible sheet);
`--template TEXT` gives every row that message, with `((column))` placeholders.

Touches no network. Exit 0 when at least one row is sendable, 1 when none is, 2 when the input
cannot be used (unreadable file, not CSV, over a limit, bad options), with one line on stderr.

`--format json` is indented for a person at a terminal; piped or redirected it is the same object
written compactly, the lists that grow with the file a thousand items at a time: `json.dump`
with an indent runs in pure Python (0.7 s of a 30,000-row run), `json.dumps` without one in C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from bot.config import load_settings
from bot.errors import IntakeError
from bot.intake.csvread import NO_ROWS, delimiter_name
from bot.intake.plan import IntakeLimits, plan_batch, validate_options
from bot.intake.pricing import PriceTable
from bot.model import (
    BatchPlan,
    CostLine,
    DuplicateRow,
    Message,
    RejectedRow,
    SendOptions,
    SuppressedRow,
)
from bot.store.lookup import SuppressionLookup

SHOWN_REJECTS = 20
SHOWN_SAMPLE = 5
JSON_BATCH = 1000  # list items encoded per json.dumps call: C speed, bounded memory
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
# A str as a JSON string as `_dumps` writes it (ensure_ascii=False): json's own, in C.
_string = json.encoder.encode_basestring


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the check command's arguments."""
    parser.add_argument(
        "file",
        metavar="FILE.csv",
        help="the CSV file or workbook (.xlsx, .xlsm, .xls, .ods) to check ('-' = stdin)",
    )
    parser.add_argument("--sender", help="sender id for the batch (as in the Options modal)")
    parser.add_argument(
        "--routing-group", type=int, metavar="N", help="routing group 1, 2 or 3 (prices the batch)"
    )
    parser.add_argument(
        "--template",
        metavar="TEXT",
        help="one message for every row, with ((column)) placeholders (the file then needs no "
        "message column)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    """Plan the file and print it; the exit code says whether anything can be sent."""
    options = SendOptions(
        sender=args.sender, routing_group=args.routing_group, template=args.template or None
    )
    problems = validate_options(options)
    if problems:
        return _fail("; ".join(problems))
    settings = load_settings(check_eapi=False)
    limits = IntakeLimits.from_settings(settings)
    prices = PriceTable.load(settings.prices_path)
    try:
        data = _read(args.file, limits.max_file_bytes)
        if len(data) > limits.max_file_bytes:
            return _fail(_too_big(args.file, limits.max_file_bytes))
        # A header without rows is a readable file with nothing to send: exit 1, not 2.
        # The suppression list of SMSBATCH_DB, read-only, when that database exists.
        listed = SuppressionLookup(str(settings.db_path))
        plan = plan_batch(
            data, options, limits, prices, allow_empty=True, suppressed=listed, two_cores=True
        )
    except (OSError, IntakeError) as exc:
        return _fail(_reason(exc, args.file))
    if not plan.rows:
        print(f"smsbatch-bot check: {args.file}: {NO_ROWS}", file=sys.stderr)
    if args.format == "json":
        write_json(plan, sys.stdout, pretty=sys.stdout.isatty())
    else:
        print_table(plan, args.file, sys.stdout)
    return 0 if plan.messages else 1


def _read(name: str, limit: int) -> bytes:
    """The file's bytes, at most one byte over the limit (enough for the intake to refuse)."""
    if name == "-":
        return sys.stdin.buffer.read(limit + 1)
    with Path(name).open("rb") as handle:
        return handle.read(limit + 1)


def _too_big(name: str, limit: int) -> str:
    """The size refusal; only `limit + 1` bytes were read, so the real size comes from stat."""
    size = 0 if name == "-" else Path(name).stat().st_size  # 0 for a pipe: size unknown
    got = f"is {size:,} bytes" if size > limit else f"has more than {limit:,} bytes"
    return (
        f"{name}: the file {got}; the limit is {limit:,} bytes "
        "(SMSBATCH_MAX_FILE_BYTES) — split it into smaller files"
    )


def _reason(exc: OSError | IntakeError, name: str) -> str:
    if isinstance(exc, IntakeError):
        return f"{name}: {exc}"
    if isinstance(exc, FileNotFoundError):
        return f"{name}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"{name}: is a directory, not a CSV file"
    return f"{name}: cannot read it ({exc.strerror or exc})"


def _fail(reason: str) -> int:
    print(f"smsbatch-bot check: {reason}", file=sys.stderr)
    return 2


def _number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: whole credits as an integer."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True, slots=True)
class _Rows:
    """A list that grows with the file: its items, how each one becomes JSON, and (for the
    messages, most of the output) how each is written as JSON text without the object."""

    items: Sequence[Any]
    convert: Callable[[Any], Any]
    text: Callable[[Any], str] | None = None


def plan_to_json(plan: BatchPlan) -> dict[str, Any]:
    """The plan as one JSON-ready object (the keys `interface.md` fixes, and more)."""
    fields = _plan_fields(plan)
    return {
        key: [value.convert(item) for item in value.items] if isinstance(value, _Rows) else value
        for key, value in fields.items()
    }


def write_json(plan: BatchPlan, out: TextIO, *, pretty: bool) -> None:
    """`plan_to_json(plan)` on `out`: indented when `pretty`, else compact and in pieces."""
    if pretty:
        json.dump(plan_to_json(plan), out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    out.write("{")
    for n, (key, value) in enumerate(_plan_fields(plan).items()):
        out.write(("," if n else "") + _dumps(key) + ":")
        if isinstance(value, _Rows):
            _write_rows(value, out)
        else:
            out.write(_dumps(value))
    out.write("}\n")


def _write_rows(rows: _Rows, out: TextIO) -> None:
    """A JSON array, JSON_BATCH items per C-encoded piece (never all the dicts at once)."""
    out.write("[")
    items = rows.items
    for start in range(0, len(items), JSON_BATCH):
        batch = items[start : start + JSON_BATCH]
        if rows.text is not None:
            piece = ",".join(map(rows.text, batch))
        else:
            piece = _dumps([rows.convert(item) for item in batch])[1:-1]
        out.write(("," if start else "") + piece)
    out.write("]")


def _message_text(message: Message) -> str:
    """`_dumps(_message_json(message))` without the dict: the messages are most of the output.

    The strings a person wrote go through json's own C string encoder; the msisdn (digits),
    country (an ISO code) and dca (`7bit`/`16bit`) need no escaping, and the rare overrides
    and flags go through `_dumps`. test_cli_check holds it to `_dumps(_message_json(...))`.
    """
    reason = message.encoding_reason
    return (
        f'{{"line":{message.line},"msisdn":"{message.msisdn}","text":{_string(message.text)},'
        f'"dca":"{message.dca.value}","parts":{message.parts},"country":"{message.country}",'
        f'"encoding_reason":{"null" if reason is None else _string(reason)},'
        f'"overrides":{_dumps(dict(message.overrides)) if message.overrides else "{}"},'
        f'"flags":{_dumps(list(message.flags)) if message.flags else "[]"}}}'
    )


def _plan_fields(plan: BatchPlan) -> dict[str, Any]:
    """The JSON object's fields in order, each list of rows left as `_Rows` to convert later."""
    seven = sum(1 for m in plan.messages if m.dca.value == "7bit")
    return {
        "rows": plan.rows,
        "recipients": len(plan.messages),
        "duplicates": len(plan.duplicates),
        "suppressed": len(plan.suppressed),
        "suppressed_rows": _Rows(plan.suppressed, _suppressed_json),
        "parts": plan.parts,
        "credits": _number(plan.credits),
        "rejected": _Rows(plan.rejected, _rejected_json),
        "messages": _Rows(plan.messages, _message_json, _message_text),
        "duplicate_rows": _Rows(plan.duplicates, _duplicate_json),
        "encoding": {"7bit": seven, "16bit": len(plan.messages) - seven},
        "cost": [_cost_json(c) for c in plan.cost],
        "chunks": [
            {"index": c.index, "dca": c.dca.value, "messages": len(c.lines), "lines": list(c.lines)}
            for c in plan.chunks
        ],
        "text_encoding": plan.text_encoding,
        "delimiter": plan.delimiter,
        "columns": dict(plan.columns),
        "ignored_columns": list(plan.ignored_columns),
        "notes": list(plan.notes),
        "options": {"sender": plan.options.sender, "routing_group": plan.options.routing_group},
        "template": plan.options.template,
    }


def _suppressed_json(row: SuppressedRow) -> dict[str, Any]:
    return {"line": row.line, "msisdn": row.msisdn}


def _rejected_json(row: RejectedRow) -> dict[str, Any]:
    return {"line": row.line, "column": row.column, "reason": row.reason, "value": row.value}


def _duplicate_json(row: DuplicateRow) -> dict[str, Any]:
    return {"line": row.line, "first_line": row.first_line, "msisdn": row.msisdn}


def _cost_json(line: CostLine) -> dict[str, Any]:
    return {
        "country": line.country,
        "messages": line.messages,
        "parts": line.parts,
        "credits": _number(line.credits),
    }


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "line": message.line,
        "msisdn": message.msisdn,
        "text": message.text,
        "dca": message.dca.value,
        "parts": message.parts,
        "country": message.country,
        "encoding_reason": message.encoding_reason,
        "overrides": dict(message.overrides),
        "flags": list(message.flags),
    }


def print_table(plan: BatchPlan, name: str, out: TextIO) -> None:
    """The plan as a person reads it: counts, cost, rejects, and a sample as it will go out."""
    seven = sum(1 for m in plan.messages if m.dca.value == "7bit")
    used = ", ".join(f"{role} = {header!r}" for role, header in plan.columns)
    lines = [
        f"File:        {name} ({_read_as(plan)})",
        f"Columns:     {used}",
        f"Rows read:   {plan.rows}",
        f"Recipients:  {len(plan.messages)} (7-bit {seven}, 16-bit {len(plan.messages) - seven})",
        f"Duplicates:  {len(plan.duplicates)} dropped",
        f"Rejected:    {len(plan.rejected)}",
        f"Suppressed:  {len(plan.suppressed)} (on the suppression list)",
        f"SMS parts:   {plan.parts}",
        f"Credits:     ~{plan.credits}",
    ]
    if plan.options.template is not None:
        lines.append(f"Template:    {_one_line(plan.options.template)}")
    if plan.ignored_columns:
        lines.append(f"Ignored:     {', '.join(_one_line(c) for c in plan.ignored_columns)}")
    lines += [f"Note:        {note}" for note in plan.notes]
    if plan.cost:
        lines.append("Cost by country:")
        lines += [
            f"  {c.country:<4} {c.messages:>7} messages {c.parts:>7} parts  ~{c.credits} credits"
            for c in plan.cost
        ]
    lines.append(f"Submissions: {len(plan.chunks)}")
    lines += [f"  {c.index + 1}: {len(c.lines)} messages, {c.dca.value}" for c in plan.chunks]
    lines += _rejects(plan)
    lines += _sample(plan)
    out.write("\n".join(lines) + "\n")


def _read_as(plan: BatchPlan) -> str:
    """How the file was read: its text encoding and delimiter, or the kind of workbook."""
    if not plan.delimiter:
        return f"{plan.text_encoding} workbook"
    return f"{plan.text_encoding}, {delimiter_name(plan.delimiter)}-separated"


def _rejects(plan: BatchPlan) -> list[str]:
    if not plan.rejected:
        return []
    shown = plan.rejected[:SHOWN_REJECTS]
    lines = [f"Rejected rows (first {len(shown)} of {len(plan.rejected)}):"]
    for r in shown:
        lines.append(f"  line {r.line}, {r.column}: {r.reason} [{_one_line(r.value)}]")
    return lines


def _sample(plan: BatchPlan) -> list[str]:
    if not plan.messages:
        return ["Nothing can be sent."]
    shown = plan.messages[:SHOWN_SAMPLE]
    lines = [f"First {len(shown)} messages, exactly as they will go out:"]
    for m in shown:
        plural = "s" if m.parts != 1 else ""
        lines.append(f"  line {m.line} -> {m.msisdn} ({m.dca.value}, {m.parts} part{plural}):")
        lines += [f"    | {text_line}" for text_line in m.text.split("\n")]
        if m.encoding_reason:
            lines.append(f"    16-bit because of {m.encoding_reason}")
        lines += [f"    ! {flag}" for flag in m.flags]
    return lines


def _one_line(value: str) -> str:
    """A cell on one terminal line: line breaks and control characters (ESC…) shown escaped."""
    return "".join(_SHOWN.get(c) or (c if c.isprintable() else f"\\x{ord(c):02x}") for c in value)


_SHOWN = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
