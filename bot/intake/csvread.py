"""CSV text to records: the delimiter, the header and its columns, and one record per row.

- Delimiter: taken from the header line among `,` `;` TAB `|`, counted outside quotes (never
  csv.Sniffer, which fails on quoted multi-line messages). On a tie, the one that makes sense of
  the header wins. Excel's `sep=;` first line is honoured.
- Records: `csv.reader` in strict mode, every cell a str. Quoted cells may span lines; a space
  right after a delimiter is not part of the next cell (`a, "b,c"` reads as `a` and `b,c`).
  Blank records (nothing but spaces or delimiters) are skipped and are not rows.
- Line numbers: a record is numbered as a spreadsheet numbers its row: the header is line 1 and
  a record whose quoted message spans several physical lines keeps the number of its first
  (Excel's row number, i.e. the CSV record number, blank records included).
- Columns: `msisdn` and `message`, case- and space-insensitive, with aliases; the per-message
  EAPI columns (sender, msg_class, dca, routing_group, source_id, repliable); everything else is
  ignored and named. A file without a header is read as number, text when its first line has
  exactly two cells and the first looks like a phone number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.errors import IntakeError
from bot.intake.numbers import looks_like_number

DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

# English names first; then what German, French, Spanish and Dutch Excel users write.
MSISDN_NAMES = (
    "msisdn", "phone", "phone_number", "phonenumber", "mobile", "mobile_number", "mobile_phone",
    "mobilephone", "number", "to", "recipient", "cell", "cell_phone", "cellphone", "tel",
    "telephone", "telefon", "telefonnummer", "handy", "handynummer", "mobilnummer", "rufnummer",
    "téléphone", "portable", "numéro", "teléfono", "móvil", "telefoonnummer", "mobiel",
)  # fmt: skip
MESSAGE_NAMES = (
    "message", "text", "body", "sms", "message_text", "sms_text", "msg", "nachricht",
    "mensaje", "bericht",
)  # fmt: skip
# Per-message EAPI columns (eapi-research.md 1.3) and the aliases people write for them.
OVERRIDE_NAMES = {
    "sender": ("sender", "sender_id"),
    "msg_class": ("msg_class", "message_class"),
    "dca": ("dca",),
    "routing_group": ("routing_group", "cost_route"),
    "source_id": ("source_id",),
    "repliable": ("repliable",),
}
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "msisdn": MSISDN_NAMES,
    "message": MESSAGE_NAMES,
    **OVERRIDE_NAMES,
}
_ALIAS_TO_ROLE = {alias: role for role, names in ROLE_NAMES.items() for alias in names}
_SPACES = re.compile(r"[\s\-]+")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")
# What `str.splitlines` ends a line at, besides CR and LF (each looked for with `in`: a
# regex class scans a text four times slower).
_OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SLICE = 1 << 20  # characters split at a time by `_sliced_lines`


@dataclass(frozen=True, slots=True)
class Record:
    """One row as read: its spreadsheet line and cells, or why it could not be read.

    When `error` is set, `cells` holds the raw line of the file where the record starts.
    """

    line: int
    cells: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Columns:
    """Which cell holds what: role -> index, the header each role used, and ignored headers."""

    index: dict[str, int]
    used: tuple[tuple[str, str], ...]  # (role, header as written), in column order
    ignored: tuple[tuple[int, str], ...]  # (index, header or "column N (no header)")
    width: int  # cells in the header line
    names: tuple[str, ...] = ()  # every header cell as written (placeholders match these)


@dataclass(frozen=True, slots=True)
class Table:
    """The parsed file: delimiter, columns, data records; `headerless` when row 1 is data."""

    delimiter: str
    columns: Columns
    records: tuple[Record, ...]
    headerless: bool
    notes: tuple[str, ...] = ()
    spreadsheet: bool = False  # read from a workbook: an empty cell may be a formula or error
    # (line, cell index) -> why a typed cell cannot be a phone number (a TRUE cell, decimals)
    not_numbers: dict[tuple[int, int], str] = field(default_factory=dict)


def delimiter_name(delimiter: str) -> str:
    """The delimiter in words, for messages ("comma", "tab", ...)."""
    return _DELIMITER_NAMES.get(delimiter, repr(delimiter))


def normalise_header(cell: str) -> str:
    """A header cell as compared: no BOM or outer spaces, lower case, spaces/dashes as `_`."""
    return _SPACES.sub("_", cell.replace("\ufeff", "").strip().strip("\"'").lower())


NO_ROWS = "the file has a header line but no rows below it"


def read_table(
    text: str, max_rows: int, *, allow_empty: bool = False, need_message: bool = True
) -> Table:
    """Parse CSV text into columns and records, raising IntakeError when it cannot be used.

    A header without data rows raises too, unless `allow_empty`: then it is a table of no
    records (`smsbatch-bot check` reports it as "nothing to send", not as unusable input).
    Without `need_message` (a template gives every row its text) only a number column is needed.
    """
    notes: list[str] = []
    text, forced = _sep_directive(text)
    if forced:
        notes.append(f"the file's first line 'sep={forced}' set the delimiter")
    first = _first_record_text(text)
    if first is None:
        raise IntakeError("the file is empty: it has no rows to read")
    delimiter, cells, columns = _choose_dialect(first, forced, need_message)
    records = _records(text, delimiter, max_rows + 2, line_offset=1 if forced else 0)
    if not records:
        raise IntakeError("the file is empty: it has no rows to read")
    headerless = columns is None
    if columns is None:
        columns = headerless_columns(len(cells))
        notes.append(headerless_note(len(cells)))
    else:
        records = records[1:]
    check_row_count(len(records), max_rows, allow_empty, notes)
    return Table(delimiter, columns, tuple(records), headerless, tuple(notes))


def check_row_count(count: int, max_rows: int, allow_empty: bool, notes: list[str]) -> None:
    """Refuse a table of no rows (unless `allow_empty`: a note) or of more than `max_rows`."""
    if not count:
        if not allow_empty:
            raise IntakeError(NO_ROWS)
        notes.append(NO_ROWS)
    if count > max_rows:
        raise IntakeError(
            f"the file has more than {max_rows:,} rows, the limit (SMSBATCH_MAX_ROWS); "
            "split it into smaller files"
        )


def physical_lines(text: str) -> Iterator[str]:
    """The text's lines with their endings (LF, CRLF or CR), one at a time.

    `io.StringIO(text, newline="")` splits the same way but first copies the whole text (four
    bytes a character once one emoji is in it). `str.splitlines` splits in C, but also at
    characters CSV keeps inside a cell (form feed, U+2028, …): it is used, a slice of about
    `_SLICE` characters at a time, only on text without them (almost every file).
    """
    if any(char in text for char in _OTHER_BREAKS):
        return (match.group() for match in _LINE.finditer(text))
    return _sliced_lines(text)


def _sliced_lines(text: str) -> Iterator[str]:
    """`text.splitlines(keepends=True)` a slice at a time, each slice ending after an LF.

    A CRLF is never split, since a slice ends after its LF; text with CR line ends only is one
    slice.
    """
    start = 0
    while start < len(text):
        end = text.find("\n", start + _SLICE)
        end = len(text) if end < 0 else end + 1
        yield from text[start:end].splitlines(keepends=True)
        start = end


def _sep_directive(text: str) -> tuple[str, str | None]:
    """Honour and drop Excel's `sep=X` first line."""
    end = text.find("\n")
    head = text if end < 0 else text[:end]
    match = re.fullmatch(r"\s*sep=(.)\s*", head[:20], flags=re.IGNORECASE)
    if match and match.group(1) in DELIMITERS:
        return ("" if end < 0 else text[end + 1 :]), match.group(1)
    return text, None


def _first_record_text(text: str) -> str | None:
    """The first non-blank record's text, from its line's start to a line break outside quotes."""
    offset = 0
    for line in physical_lines(text):
        if line.strip(" \t\r\n,;|"):
            break
        offset += len(line)
    else:
        return None
    quoted = False
    for index in range(offset, len(text)):
        char = text[index]
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            return text[offset:index]
    return text[offset:]


def _count_outside_quotes(line: str) -> dict[str, int]:
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return counts


def _choose_dialect(
    first: str, forced: str | None, need_message: bool = True
) -> tuple[str, list[str], Columns | None]:
    """The delimiter, the first record's cells, and its columns (None: the file is headerless)."""
    counts = _count_outside_quotes(first)
    if forced:
        candidates = [forced]
    else:
        ranked = sorted(DELIMITERS, key=lambda d: (-counts[d], DELIMITERS.index(d)))
        candidates = [d for d in ranked if counts[d]] or [","]
    for delimiter in candidates:
        cells = _split(first, delimiter)
        if _has_required(cells, need_message):
            return delimiter, cells, map_columns(cells, need_message=need_message)
        if is_headerless(cells, need_message):
            return delimiter, cells, None
    cells = _split(first, candidates[0])
    if looks_like_number(cells[0]):
        raise IntakeError(
            f"the first line looks like data, not a header, and has {len(cells)} cells: a file "
            "without a header must have exactly two columns (number, text). Add a header line "
            "such as msisdn,message, and put messages that contain the delimiter in double quotes"
        )
    return candidates[0], cells, map_columns(cells, need_message=need_message)


def _split(line: str, delimiter: str) -> list[str]:
    try:
        reader = csv.reader([line], delimiter=delimiter, skipinitialspace=True, strict=True)
        return next(reader, [])
    except csv.Error as exc:
        raise IntakeError(f"cannot read the first line: {exc}; check its double quotes") from exc


def _has_required(cells: list[str], need_message: bool = True) -> bool:
    roles = {_ALIAS_TO_ROLE.get(normalise_header(c)) for c in cells}
    return "msisdn" in roles and ("message" in roles or not need_message)


def map_columns(header: list[str], *, need_message: bool = True) -> Columns:
    """Assign each header cell a role, or raise IntakeError naming what was found."""
    claims: dict[str, list[int]] = {}
    ignored: list[tuple[int, str]] = []
    for index, cell in enumerate(header):
        role = _ALIAS_TO_ROLE.get(normalise_header(cell))
        if role is None:
            label = cell.strip() or f"column {index + 1} (no header)"
            ignored.append((index, label))
        else:
            claims.setdefault(role, []).append(index)
    index_of = {role: _one_column(role, found, header) for role, found in claims.items()}
    required = ("msisdn", "message") if need_message else ("msisdn",)
    missing = [role for role in required if role not in index_of]
    if missing:
        found = ", ".join(repr(c.strip()) for c in header) or "none"
        accepted = "; ".join(f"{role}: {', '.join(ROLE_NAMES[role])}" for role in missing)
        raise IntakeError(
            f"no {' or '.join(missing)} column. Headers found: {found}. Accepted names "
            f"(any case) — {accepted}"
        )
    used = tuple((role, header[i].strip()) for role, i in sorted(index_of.items(), key=_by_index))
    return Columns(index_of, used, tuple(ignored), len(header), tuple(header))


def _by_index(item: tuple[str, int]) -> int:
    return item[1]


def _one_column(role: str, found: list[int], header: list[str]) -> int:
    """The one column for a role; the exact role name wins over aliases, else refuse to guess."""
    if len(found) == 1:
        return found[0]
    exact = [i for i in found if normalise_header(header[i]) == role]
    if len(exact) == 1:
        return exact[0]
    names = ", ".join(repr(header[i].strip()) for i in found)
    raise IntakeError(
        f"more than one column could be the {role} column ({names}); rename the one to use "
        f"to '{role}' or remove the others"
    )


def is_headerless(cells: list[str], need_message: bool = True) -> bool:
    """True when a first row is data: number, text; or, with a template, a number alone."""
    widths = (2,) if need_message else (1, 2)
    return len(cells) in widths and looks_like_number(cells[0])


def headerless_columns(width: int) -> Columns:
    """The columns of a file without a header: number, text (or only the number)."""
    if width == 1:
        return Columns({"msisdn": 0}, (("msisdn", "column 1"),), (), 1)
    used = (("msisdn", "column 1"), ("message", "column 2"))
    return Columns({"msisdn": 0, "message": 1}, used, (), width)


def headerless_note(width: int) -> str:
    """The preview's note on how a file without a header was read."""
    if width == 1:
        return "no header line: column 1 is read as the number (the template gives the text)"
    return "no header line: column 1 is read as the number and column 2 as the text"


def _records(text: str, delimiter: str, limit: int, line_offset: int) -> list[Record]:
    """Every non-blank record up to `limit`, numbered by spreadsheet row (module doc).

    `line_offset` counts physical lines removed before `text` (a `sep=` line), so that a quote
    problem names the line of the file as an editor shows it.
    """
    reader = csv.reader(
        physical_lines(text), delimiter=delimiter, strict=True, skipinitialspace=True
    )
    records: list[Record] = []
    append = records.append
    physical: list[str] = []  # the file's lines, split only when a row cannot be read
    number = 0
    read = 0  # physical lines read up to the end of the last good record
    while len(records) < limit:
        try:
            # The reader's own loop, in C, until the end, the limit, or a row it cannot read.
            for row in reader:
                number += 1
                # The first cell usually settles it, without a generator per row.
                if (row and row[0].strip()) or any(cell.strip() for cell in row):
                    append(Record(number, tuple(row)))
                    if len(records) >= limit:
                        break
                read = reader.line_num
            break
        except csv.Error as exc:
            number += 1
            start = read + 1
            reason = _quote_problem(exc, start + line_offset)
            physical = physical or text.splitlines()
            raw = physical[start - 1] if start <= len(physical) else ""
            append(Record(number, (raw,), error=reason))
            read = reader.line_num
    return records


def _quote_problem(exc: csv.Error, start: int) -> str:
    """A row-level reason for a misplaced quote; an unclosed one stops the whole file."""
    detail = str(exc)
    if "end of data" in detail or "field limit" in detail:
        raise IntakeError(
            f"unbalanced quote near line {start}: a double quote opens a cell that never "
            "closes; fix that line and export again"
        )
    return (
        f"a double quote is misplaced ({detail}); put the whole cell in double quotes and "
        'write a quote inside it as ""'
    )
