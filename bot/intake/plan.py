"""The intake: an upload or a paste becomes a `BatchPlan` in which every row is accounted for.

Pure: no I/O, no clock. Every data row ends in exactly one of `plan.messages` (sendable),
`plan.duplicates` (same number and same text as an earlier row), `plan.rejected` (with the
column and a reason a person can act on) or `plan.suppressed` (its number is on the suppression
list: the caller's `suppressed` answers which of the valid rows' numbers are, in one question,
so the intake never holds the whole list and never sees a database). Only an input that cannot
be read as CSV at all raises, and then only `IntakeError`.

- Bytes to text: `decode`. CSV dialect, header and columns: `csvread`. Numbers: `numbers`.
  Per-message columns and send options: `overrides`. Prices: `pricing` (all in `bot.intake`).
- A message goes out exactly as written, except that CRLF and CR line breaks become LF (what a
  phone shows either way). No Unicode normalisation: it could change what the recipient sees.
  (Spaces right after a delimiter belong to no cell, see `bot.intake.csvread`; other spaces stay.)
- Each message's encoding and parts come from `bot.intake.gsm.count_parts`; a message over
  `max_parts` is rejected, never truncated.
- Exact duplicates (same msisdn, same text) are sent once; per-row columns do not make rows
  different, since the recipient would get the same text twice. The same number with different
  texts is kept, and each such row is flagged.
- Chunks: all 7-bit messages first, then all 16-bit ones (one submission carries one dca),
  each in input order, at most `chunk_size` a chunk.
"""

from __future__ import annotations

import gc
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal

import phonenumbers

from bot.config import DEFAULT_MAX_FILE_BYTES, EAPI_MAX_CHUNK, Settings
from bot.errors import ConfigError, IntakeError
from bot.intake.csvread import Record, Table, read_table
from bot.intake.decode import decode_upload, refuse_binary_text
from bot.intake.gsm import Forced16Bit, first_non_7bit, parts_given, septets, utf16_units
from bot.intake.numbers import BadNumber, Number, parse_number
from bot.intake.overrides import OverrideProblem, RowOverrides, check_overrides, validate_options
from bot.intake.pricing import PriceTable
from bot.intake.spreadsheet import EMPTY_CELL, read_workbook, workbook_kind
from bot.intake.template import SPREADSHEET_ERRORS, MissingValue, RowTexts, row_texts
from bot.intake.twocores import parse_numbers
from bot.model import (
    BatchPlan,
    CostLine,
    Dca,
    DuplicateRow,
    Message,
    PlannedChunk,
    RejectedRow,
    SendOptions,
    SuppressedRow,
)

__all__ = ["IntakeLimits", "SuppressionCheck", "plan_batch", "plan_text", "validate_options"]

SuppressionCheck = Callable[[frozenset[str]], AbstractSet[str]]
"""Which of these numbers are on the suppression list (e.g. `frozenset(listed).intersection`)."""

_VALUE_MAX = 200  # characters of a rejected cell kept for the preview and the rejects file
# Control characters a phone does not show, and lone surrogates, which cannot be encoded.
_UNSHOWABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_QUESTION_IN_WORD = re.compile(r"[^\W\d_]\?[^\W\d_]")
_DELIMITER_WORDS = {",": "a comma", ";": "a semicolon", "\t": "a tab", "|": "a pipe"}
_EMPTY = "message is empty"
_NO_OVERRIDES = RowOverrides((), None)  # a file without per-message columns


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """The limits an upload is checked against (each one an `SMSBATCH_` variable)."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_rows: int = 100_000
    max_parts: int = 3
    chunk_size: int = 4000
    default_country: str = "GB"

    def __post_init__(self) -> None:
        problems = []
        if self.max_file_bytes < 1:
            problems.append("SMSBATCH_MAX_FILE_BYTES must be at least 1")
        if self.max_rows < 1:
            problems.append("SMSBATCH_MAX_ROWS must be at least 1")
        if not 1 <= self.max_parts <= 255:
            problems.append("SMSBATCH_MAX_PARTS must be between 1 and 255")
        if not 1 <= self.chunk_size <= EAPI_MAX_CHUNK:
            problems.append(f"SMSBATCH_CHUNK_SIZE must be between 1 and {EAPI_MAX_CHUNK}")
        if self.default_country not in phonenumbers.SUPPORTED_REGIONS:
            problems.append(
                f"SMSBATCH_DEFAULT_COUNTRY must be an ISO region such as GB, "
                f"got {self.default_country!r}"
            )
        if problems:
            raise ConfigError(problems)

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeLimits:
        """The limits configured in `settings`."""
        return cls(
            max_file_bytes=settings.max_file_bytes,
            max_rows=settings.max_rows,
            max_parts=settings.max_parts,
            chunk_size=settings.chunk_size,
            default_country=settings.default_country,
        )


def plan_batch(
    data: bytes,
    options: SendOptions,
    limits: IntakeLimits,
    prices: PriceTable,
    *,
    allow_empty: bool = False,
    suppressed: SuppressionCheck | None = None,
    two_cores: bool = False,
) -> BatchPlan:
    """Plan an uploaded file (CSV or a workbook); raises IntakeError (only) when unreadable.

    A header without data rows is unusable unless `allow_empty` (a plan of no rows).
    `two_cores`: the caller's process is single-threaded, so a big file's numbers may be
    parsed half in a forked child (`bot.intake.twocores`); the plan is the same either way.
    """
    with _gc_paused():
        return _plan_bytes(data, options, limits, prices, allow_empty, suppressed, two_cores)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic GC off while planning: a plan builds only acyclic values, yet each collection
    rescans every row object made so far (8 % of a 100,000-row check, more for larger files)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _plan_bytes(
    data: bytes,
    options: SendOptions,
    limits: IntakeLimits,
    prices: PriceTable,
    allow_empty: bool,
    suppressed: SuppressionCheck | None,
    two_cores: bool,
) -> BatchPlan:
    if len(data) > limits.max_file_bytes:
        raise IntakeError(
            f"the file is {len(data):,} bytes; the limit is {limits.max_file_bytes:,} bytes "
            "(SMSBATCH_MAX_FILE_BYTES) — split it into smaller files"
        )
    need_message = options.template is None
    kind = workbook_kind(data)
    if kind is not None:
        table = read_workbook(
            data, kind, limits.max_rows, allow_empty=allow_empty, need_message=need_message
        )
        return _plan(table, kind, options, limits, prices, suppressed, two_cores)
    decoded = decode_upload(data)
    encoding, text = decoded.encoding, decoded.text
    del decoded  # the text is freed once read: up to 4 bytes a character, the largest object
    table = read_table(text, limits.max_rows, allow_empty=allow_empty, need_message=need_message)
    del text
    return _plan(table, encoding, options, limits, prices, suppressed, two_cores)


def plan_text(
    text: str,
    options: SendOptions,
    limits: IntakeLimits,
    prices: PriceTable,
    *,
    suppressed: SuppressionCheck | None = None,
    two_cores: bool = False,
) -> BatchPlan:
    """Plan pasted CSV text (already decoded); raises IntakeError (only) when unusable.

    `two_cores` as for `plan_batch`.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_file_bytes:
        raise IntakeError(
            f"the pasted text is {size:,} bytes; the limit is {limits.max_file_bytes:,} bytes "
            "(SMSBATCH_MAX_FILE_BYTES) — upload a smaller file instead"
        )
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise IntakeError("the pasted text contains NUL characters; paste plain CSV text")
    refuse_binary_text(text)
    if not text or text.isspace():
        raise IntakeError("nothing to read: the pasted text is empty")
    table = read_table(text, limits.max_rows, need_message=options.template is None)
    return _plan(table, "utf-8", options, limits, prices, suppressed, two_cores)


@dataclass(frozen=True, slots=True)
class _Context:
    table: Table
    options: SendOptions
    limits: IntakeLimits
    override_columns: tuple[tuple[str, int], ...]  # (role, index) in column order
    row_label: dict[str, str]  # role -> the header the user wrote
    texts: RowTexts  # each row's message: the message cell, or a template filled from the row
    required: int  # cells a row needs for its number (and message) cell
    # Each distinct number cell parsed once: a list that repeats numbers pays for each only once.
    numbers: dict[str, Number | BadNumber] = field(default_factory=dict)
    # Looked up once, not per row (the row loop is the intake's hot path).
    width: int = field(init=False)
    number_at: int = field(init=False)
    max_parts: int = field(init=False)

    def __post_init__(self) -> None:
        columns = self.table.columns
        object.__setattr__(self, "width", columns.width)
        object.__setattr__(self, "number_at", columns.index["msisdn"])
        object.__setattr__(self, "max_parts", self.limits.max_parts)


def _plan(
    table: Table,
    encoding: str,
    options: SendOptions,
    limits: IntakeLimits,
    prices: PriceTable,
    suppressed: SuppressionCheck | None = None,
    two_cores: bool = False,
) -> BatchPlan:
    ctx = _context(table, options, limits)
    if two_cores:  # every distinct number cell parsed up front, on two cores when big
        at = ctx.number_at
        found = (r.cells[at] for r in table.records if r.error is None and at < len(r.cells))
        ctx.numbers.update(parse_numbers(list(dict.fromkeys(found)), limits.default_country))
    messages: list[Message] = []
    rejected: list[RejectedRow] = []
    groups: dict[int, int] = {}  # line -> the routing group a row's own column gives it
    data_in_ignored: set[int] = set()
    unnamed = [i for i, label in table.columns.ignored if label.endswith("(no header)")]
    for record in table.records:
        if unnamed:
            cells = record.cells
            data_in_ignored.update(i for i in unnamed if i < len(cells) and cells[i].strip())
        outcome = _check_row(record, ctx)
        if isinstance(outcome, RejectedRow):
            rejected.append(outcome)
        else:
            message, group = outcome
            messages.append(message)
            if group is not None:
                groups[message.line] = group
    messages, suppressed_rows = _drop_suppressed(messages, suppressed)
    kept, duplicates, texts_per_number = _drop_duplicates(messages)
    kept = _flag_same_number(kept, texts_per_number)
    cost = _cost(kept, groups, options, prices)
    return BatchPlan(
        rows=len(table.records),
        messages=tuple(kept),
        rejected=tuple(rejected),
        duplicates=tuple(duplicates),
        chunks=_chunks(kept, limits.chunk_size),
        cost=cost,
        credits=sum((line.credits for line in cost), Decimal(0)),
        options=options,
        text_encoding=encoding,
        delimiter=table.delimiter,
        columns=_used_columns(table, ctx.texts),
        ignored_columns=_ignored(table, data_in_ignored, ctx.texts),
        notes=_notes(table, encoding, prices),
        max_parts=limits.max_parts,
        suppressed=suppressed_rows,
    )


def _drop_suppressed(
    messages: list[Message], suppressed: SuppressionCheck | None
) -> tuple[list[Message], tuple[SuppressedRow, ...]]:
    """Set aside every row whose number is listed (one question for all the numbers)."""
    if suppressed is None or not messages:
        return messages, ()
    listed = suppressed(frozenset(m.msisdn for m in messages))
    if not listed:
        return messages, ()
    rows = tuple(SuppressedRow(m.line, m.msisdn) for m in messages if m.msisdn in listed)
    return [m for m in messages if m.msisdn not in listed], rows


def _context(table: Table, options: SendOptions, limits: IntakeLimits) -> _Context:
    index = table.columns.index
    overrides = tuple(
        sorted(
            ((role, i) for role, i in index.items() if role not in ("msisdn", "message")),
            key=lambda item: item[1],
        )
    )
    labels = dict(table.columns.used)
    if options.template is not None:
        labels["message"] = "template"
    message = None if options.template is not None else index.get("message")
    cells = (
        r.cells[message] for r in table.records if message is not None and message < len(r.cells)
    )
    texts = row_texts(table.columns.names, options.template, message, cells)
    roles = ("msisdn", "message") if options.template is None else ("msisdn",)
    required = 1 + max(index[role] for role in roles)
    return _Context(table, options, limits, overrides, labels, texts, required)


def _check_row(record: Record, ctx: _Context) -> RejectedRow | tuple[Message, int | None]:
    """One record to a message (and the routing group that prices it), or a rejected row."""
    line, cells = record.line, record.cells
    # A well-formed row (the usual case) skips the shape checks.
    if record.error is not None or not ctx.required <= len(cells) <= ctx.width:
        shape = _shape_problem(record, ctx)
        if shape is not None:
            return shape
    label = ctx.row_label
    cell = cells[ctx.number_at]
    number = ctx.numbers.get(cell)
    if number is None or ctx.table.spreadsheet:  # a workbook's cells have types: see _number
        number = _number(record, ctx)
    if isinstance(number, BadNumber):
        return RejectedRow(line, label["msisdn"], number.reason, _shorten(cell))
    raw_text = ctx.texts.text(cells)
    if isinstance(raw_text, MissingValue):
        value = raw_text.error or ""
        return RejectedRow(line, raw_text.header, _missing(raw_text, ctx.table), value)
    text = raw_text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in raw_text else raw_text
    forced = first_non_7bit(text)
    dca, parts = parts_given(text, forced)
    # A printable text has no control character and no line break: only emptiness and a
    # spreadsheet error are left to look for (most rows stop here).
    stripped = text.strip() if text.isprintable() else None
    if stripped and stripped not in SPREADSHEET_ERRORS:
        problem = None
    else:
        problem = _text_problem(text, ctx.table.delimiter, ctx.limits.default_country)
        if problem == _EMPTY and ctx.table.spreadsheet:
            problem = f"{_EMPTY} {EMPTY_CELL}"
    if problem is None and parts > ctx.max_parts:
        problem = _too_long(text, parts, ctx.max_parts, forced)
    if problem is not None:
        return RejectedRow(line, label["message"], problem, _shorten(raw_text))
    overrides: RowOverrides | OverrideProblem = _NO_OVERRIDES
    if ctx.override_columns:
        pairs = ((role, cells[i] if i < len(cells) else "") for role, i in ctx.override_columns)
        overrides = check_overrides(pairs, text, forced, ctx.options)
    if isinstance(overrides, OverrideProblem):
        return RejectedRow(line, label[overrides.role], overrides.reason, _shorten(overrides.value))
    message = Message(
        line=line,
        msisdn=number.msisdn,
        text=text,
        dca=dca,
        parts=parts,
        country=number.country,
        encoding_reason=None if forced is None else _forced_words(forced),
        overrides=overrides.values,
        flags=number.flags + _text_flags(text) if "?" in text else number.flags,
    )
    return message, overrides.routing_group


def _shape_problem(record: Record, ctx: _Context) -> RejectedRow | None:
    """A row that cannot be read, has cells past the header, or lacks a required cell."""
    line, cells = record.line, record.cells
    if record.error is not None:
        return RejectedRow(line, "row", record.error, _shorten("".join(cells)))
    columns, delimiter = ctx.table.columns, ctx.table.delimiter
    if len(cells) > columns.width and any(c.strip() for c in cells[columns.width :]):
        return RejectedRow(
            line,
            "row",
            f"the row has {_cells(len(cells))} but the header has {columns.width}; a message "
            f"that contains {_DELIMITER_WORDS[delimiter]} must be in double quotes",
            _shorten(delimiter.join(cells)),
        )
    for role in ("msisdn", "message") if ctx.options.template is None else ("msisdn",):
        if columns.index[role] >= len(cells):
            return RejectedRow(
                line,
                ctx.row_label[role],
                f"the {role} cell is missing: the row has only {_cells(len(cells))}",
                _shorten(delimiter.join(cells)),
            )
    return None


def _number(record: Record, ctx: _Context) -> Number | BadNumber:
    """The row's number; a workbook's TRUE/FALSE or decimal cell is refused as what it is."""
    at = ctx.table.columns.index["msisdn"]
    if ctx.table.not_numbers:  # only a workbook has typed cells
        typed = ctx.table.not_numbers.get((record.line, at))
        if typed is not None:
            return BadNumber(typed)
    cell = record.cells[at]
    number = ctx.numbers.get(cell)
    if number is None:
        number = ctx.numbers[cell] = parse_number(cell, ctx.limits.default_country)
    if isinstance(number, BadNumber) and ctx.table.spreadsheet and not cell.strip():
        return BadNumber(f"{number.reason} {EMPTY_CELL}")
    return number


def _missing(missing: MissingValue, table: Table) -> str:
    """The reason for a row whose cell for a placeholder is empty ("missing first name")."""
    if missing.error is not None:
        return (
            f"the “{missing.header}” cell holds the spreadsheet error {missing.error}, not a "
            f"value for (({missing.name})); fix the formula and export again"
        )
    reason = f"missing {missing.name}: the “{missing.header}” cell is empty"
    return f"{reason} {EMPTY_CELL}" if table.spreadsheet else reason


def _cells(count: int) -> str:
    return f"{count} cell" if count == 1 else f"{count} cells"


def _text_flags(text: str) -> tuple[str, ...]:
    """Warnings about a sendable text."""
    if "?" in text and _QUESTION_IN_WORD.search(text):  # `in` first: the regex is slow
        return (
            "a '?' inside a word: if Excel saved this file as plain 'CSV', letters it could "
            "not store became '?' — save it as CSV UTF-8",
        )
    return ()


def _text_problem(text: str, delimiter: str, region: str) -> str | None:
    """Why a message text cannot go as it is, or None."""
    stripped = text.strip()
    if not stripped:
        return _EMPTY
    if stripped in SPREADSHEET_ERRORS:
        return f"the cell holds the spreadsheet error {stripped}; fix the formula and export again"
    # Everything _UNSHOWABLE matches is unprintable; `isprintable` spares most texts the regex.
    bad = None if text.isprintable() else _UNSHOWABLE.search(text)
    if bad:
        return (
            f"character {bad.start() + 1} is the control character U+{ord(bad.group()):04X}, "
            "which phones do not show; remove it"
        )
    return _swallowed_rows(text, delimiter, region)


def _swallowed_rows(text: str, delimiter: str, region: str) -> str | None:
    """A multi-line message whose later lines look like rows: a quote was probably not closed.

    A line "looks like a row" only when it starts with a valid phone number and the delimiter:
    a code or an amount on a line of its own ("482913, valid 10 minutes") is a message.
    """
    if "\n" not in text:
        return None
    row = re.compile(r'\s*"?(\+?\d[\d \-().]{5,})"?\s*' + re.escape(delimiter))
    lines = text.split("\n")
    for number, line in enumerate(lines[1:], start=2):
        match = row.match(line)
        if match and isinstance(parse_number(match.group(1), region), Number):
            return (
                f"the message runs over {len(lines)} lines and its line {number} looks like "
                "another row (a number, then the delimiter): a double quote that opens the "
                "message is probably not closed"
            )
    return None


def _too_long(text: str, parts: int, limit: int, forced: Forced16Bit | None) -> str:
    if forced is None:
        size, why = f"{septets(text)} 7-bit characters", ""
    else:
        size = f"{utf16_units(text)} 16-bit characters"
        why = f"; it is 16-bit because of {_forced_words(forced)}"
    return (
        f"the message needs {parts} SMS parts ({size}); the limit is {limit} "
        f"(SMSBATCH_MAX_PARTS) — shorten it{why}"
    )


def _forced_words(forced: Forced16Bit) -> str:
    return f"character {forced.index + 1}: {forced.reason}"


def _shorten(value: str) -> str:
    return value if len(value) <= _VALUE_MAX else value[: _VALUE_MAX - 1] + "…"


def _drop_duplicates(
    messages: list[Message],
) -> tuple[list[Message], list[DuplicateRow], dict[str, int]]:
    """Keep the first of each (number, text); later ones become duplicates naming it.

    Also counts the texts each number keeps, so that `_flag_same_number` looks only at the
    numbers that get more than one.
    """
    first: dict[tuple[str, str], int] = {}
    texts: dict[str, int] = {}
    kept: list[Message] = []
    duplicates: list[DuplicateRow] = []
    for message in messages:
        msisdn = message.msisdn
        key = (msisdn, message.text)
        if key in first:
            duplicates.append(DuplicateRow(message.line, first[key], msisdn))
        else:
            first[key] = message.line
            texts[msisdn] = texts.get(msisdn, 0) + 1
            kept.append(message)
    return kept, duplicates, texts


def _flag_same_number(messages: list[Message], texts: dict[str, int]) -> list[Message]:
    """Flag every message whose number also gets a different text on another row.

    `texts` counts the kept texts of each number (`_drop_duplicates`).
    """
    lines: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        if texts[message.msisdn] > 1:
            lines[message.msisdn].append(message.line)
    if not lines:  # the usual file: one text for each number
        return messages
    flagged = []
    for message in messages:
        same = lines.get(message.msisdn)
        if same is None:
            flagged.append(message)
            continue
        # Only the first five others are named, so only six lines are looked at: linear overall
        # even when every row goes to one number.
        others = [n for n in same[:6] if n != message.line][:5]
        if others:
            more = ", …" if len(same) - 1 > 5 else ""
            shown = ", ".join(str(n) for n in others) + more
            flag = f"this number also gets a different text on line(s) {shown}"
            message = replace(message, flags=(*message.flags, flag))
        flagged.append(message)
    return flagged


def _chunks(messages: list[Message], size: int) -> tuple[PlannedChunk, ...]:
    """7-bit chunks first, then 16-bit ones, each in input order, at most `size` a chunk."""
    chunks: list[PlannedChunk] = []
    for dca in (Dca.SEVEN_BIT, Dca.SIXTEEN_BIT):
        lines = [m.line for m in messages if m.dca is dca]
        for start in range(0, len(lines), size):
            chunks.append(PlannedChunk(len(chunks), dca, tuple(lines[start : start + size])))
    return tuple(chunks)


def _cost(
    messages: list[Message],
    groups: dict[int, int],
    options: SendOptions,
    prices: PriceTable,
) -> tuple[CostLine, ...]:
    """Credits by destination country; a row's own routing group prices that row.

    Parts are summed per (country, group) first: one price lookup and one exact Decimal
    product per pair, not per message.
    """
    count: dict[str, int] = defaultdict(int)
    parts: dict[tuple[str, int | None], int] = defaultdict(int)
    default = options.routing_group
    for message in messages:
        country = message.country
        count[country] += 1
        group = (groups.get(message.line) or default) if groups else default
        parts[country, group] += message.parts
    parts_of: dict[str, int] = defaultdict(int)
    credits: dict[str, Decimal] = defaultdict(Decimal)
    for (country, group), total in parts.items():
        parts_of[country] += total
        credits[country] += prices.credits_per_part(country, group) * total
    lines = [CostLine(c, count[c], parts_of[c], credits[c]) for c in count]
    return tuple(sorted(lines, key=lambda line: (-line.credits, -line.messages, line.country)))


def _used_columns(table: Table, texts: RowTexts) -> tuple[tuple[str, str], ...]:
    """(role, header) of every column used; a template for every row leaves the message out."""
    used = table.columns.used
    if texts.template is not None:
        used = tuple(pair for pair in used if pair[0] != "message")
    return used + texts.used


def _ignored(table: Table, used: set[int], texts: RowTexts) -> tuple[str, ...]:
    """Headers kept out of the submission and not used by a template; an unnamed column only
    when it holds data. With a template for every row, an unused message column is listed."""
    filled = {header for _, header in texts.used}
    ignored = list(table.columns.ignored)
    if texts.template is not None and "message" in table.columns.index:
        at = table.columns.index["message"]
        names = table.columns.names
        label = names[at].strip() if at < len(names) else ""
        ignored = sorted([*ignored, (at, label or f"column {at + 1} (message)")])
    return tuple(
        label
        for i, label in ignored
        if label not in filled and (not label.endswith("(no header)") or i in used)
    )


def _notes(table: Table, encoding: str, prices: PriceTable) -> tuple[str, ...]:
    """File-level remarks a person should read before approving."""
    notes = list(table.notes)
    if encoding == "cp1252":
        notes.append(
            "the file is not UTF-8, so it was read as Windows-1252 (Excel's 'CSV'): check that "
            "accented letters and € look right in the sample"
        )
    if "dca" in table.columns.index:
        notes.append(
            "the dca column is only checked: smsbatch picks each message's encoding from its text"
        )
    if prices.is_default:
        notes.append("credits are estimated at 1 credit a part (no price table: SMSBATCH_PRICES)")
    return tuple(notes)
