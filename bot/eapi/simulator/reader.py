"""The simulator's reading of `batch_data`: backslash-escaped CSV back into messages.

Written on purpose without any code from the client's writer (`bot.eapi.batchcsv`) or from
`bot.intake.gsm`: the round-trip property test only means something if the two sides were built
separately from the spec. Like the real EAPI it is lenient: a line it cannot read is skipped and
reported, never fatal; only a submission with nothing valid left fails.

Reading rules: records end at an LF outside quotes (a CR before it is dropped); fields split on
commas; a quoted field ends at a quote followed by a comma, a line end or the end of the text.
Inside a field a backslash escapes the next character (`\\"`, `\\\\`, backslash-LF); an RFC-4180
doubled quote `""` inside a quoted field is read as one quote too; a raw LF inside quotes is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 as BulkSMS takes it in its ISO-8859-1 form; Greek capitals arrive as spare bytes.
_GREEK_FROM_BYTE = {
    0xD0: "Δ",
    0xDE: "Φ",
    0xAC: "Γ",
    0xC2: "Λ",
    0xDB: "Ω",
    0xBA: "Π",
    0xDD: "Ψ",
    0xCA: "Σ",
    0xD4: "Θ",
    0xB1: "Ξ",
}
_GSM_ONE_SEPTET = set(
    "@£$¥èéùìòÇ\nØø\rÅå_ÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà"
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
) | set(_GREEK_FROM_BYTE.values())
_GSM_TWO_SEPTETS = set("^{}\\[~]|€")


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record and the physical line it starts on (the header is line 1)."""

    line: int
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line the simulator ignored, and why (the real EAPI ignores invalid lines silently)."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One message as the simulator understood it."""

    line: int
    msisdn: str
    text: str
    dca: str
    parts: int
    fields: tuple[tuple[str, str], ...]  # the other columns with a value, e.g. ("sender", "X")


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """What a `batch_data` holds: readable messages, skipped lines, or a fatal header problem."""

    records: int
    messages: tuple[SimMessage, ...]
    bad: tuple[BadLine, ...]
    error: str | None = None


class _Cursor:
    """Walks the text one character at a time, counting physical lines."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        if char == "\n":
            self.line += 1
        return char

    def skip_line(self) -> None:
        while self.peek() not in ("", "\n"):
            self.take()
        self.take()


def _escaped(cur: _Cursor) -> str:
    """The character after a backslash (CRLF counts as one LF); unknown escapes keep both."""
    nxt = cur.take()
    if nxt == "\r" and cur.peek() == "\n":
        return cur.take()
    if nxt in ('"', "\\", "\n"):
        return nxt
    return "\\" + nxt


def _quoted(cur: _Cursor) -> str:
    """A quoted field after its opening quote; ValueError on a missing closing quote or junk."""
    out: list[str] = []
    while True:
        char = cur.take()
        if char == "":
            raise ValueError("a quoted field is never closed")
        if char == "\\":
            out.append(_escaped(cur))
        elif char == '"' and cur.peek() == '"':
            out.append(cur.take())
        elif char == '"':
            if cur.peek() == "\r" and cur.peek(1) == "\n":
                cur.take()
            if cur.peek() not in ("", ",", "\n"):
                raise ValueError(f"unexpected {cur.peek()!r} after a closing quote")
            return "".join(out)
        else:
            out.append(char)


def _unquoted(cur: _Cursor) -> str:
    out: list[str] = []
    while cur.peek() not in ("", ",", "\n"):
        char = cur.take()
        out.append(_escaped(cur) if char == "\\" else char)
    return "".join(out).removesuffix("\r")


def read_records(text: str) -> tuple[list[Record], list[BadLine]]:
    """Every record of the CSV text, and the lines that could not be read (blank lines skipped)."""
    cur = _Cursor(text)
    records: list[Record] = []
    bad: list[BadLine] = []
    while cur.peek() != "":
        start = cur.line
        fields: list[str] = []
        try:
            while True:
                if cur.peek() == '"':
                    cur.take()
                    fields.append(_quoted(cur))
                else:
                    fields.append(_unquoted(cur))
                if cur.take() != ",":
                    break
        except ValueError as exc:
            bad.append(BadLine(start, str(exc)))
            cur.skip_line()
            continue
        if fields != [""]:
            records.append(Record(start, tuple(fields)))
    return records, bad


def septet_costs(text: str) -> list[int] | None:
    """Septets per character in GSM 7-bit, or None when a character is not GSM."""
    costs = []
    for char in text:
        if char in _GSM_ONE_SEPTET:
            costs.append(1)
        elif char in _GSM_TWO_SEPTETS:
            costs.append(2)
        else:
            return None
    return costs


def _split(costs: list[int], single: int, per_part: int) -> int:
    """Parts needed when atoms (an escape pair, a surrogate pair) are never split."""
    if sum(costs) <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def decode_7bit(field: str) -> str:
    """A 7-bit message field back to text: the spare Latin-1 bytes become Greek capitals."""
    return "".join(_GREEK_FROM_BYTE.get(ord(c), c) for c in field)


def decode_16bit(field: str) -> str:
    """A 16-bit message field (hex of UTF-16BE) back to text; ValueError when it is not that."""
    if len(field) % 4 or not all(c in "0123456789abcdefABCDEF" for c in field):
        raise ValueError("a 16-bit message must be hex digits in groups of four")
    try:
        return bytes.fromhex(field).decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise ValueError("a 16-bit message holds an unpaired surrogate") from exc


def message_parts(text: str, dca: str) -> int:
    """SMS parts for the text: 160/153 septets in 7-bit, 70/67 UTF-16 units in 16-bit."""
    if dca == "16bit":
        return _split([2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67)
    costs = septet_costs(text)
    if costs is None:  # the real EAPI replaces what is not GSM; the part count stays the same
        costs = [2 if c in _GSM_TWO_SEPTETS else 1 for c in text]
    return _split(costs, 160, 153)


def _text(field: str, dca: str) -> str:
    """The message text of a field in its dca; ValueError when the field cannot be that."""
    if dca == "16bit":
        return decode_16bit(field)
    if dca != "7bit":
        raise ValueError(f"dca {dca!r} is not simulated (only 7bit and 16bit)")
    text = decode_7bit(field)
    if septet_costs(text) is None:  # the real EAPI swaps what is not GSM for '?'
        text = "".join(c if septet_costs(c) is not None else "?" for c in text)
    return text


def _message(record: Record, columns: list[str], dca: str, max_parts: int) -> SimMessage:
    """One data record as a message; ValueError with the reason when the line is invalid."""
    if len(record.fields) != len(columns):
        raise ValueError(f"{len(record.fields)} fields where the header has {len(columns)}")
    values = dict(zip(columns, record.fields, strict=True))
    msisdn = values["msisdn"].strip().removeprefix("+")
    if not (msisdn.isascii() and msisdn.isdigit() and 7 <= len(msisdn) <= 15):
        raise ValueError(f"msisdn {values['msisdn']!r} is not 7 to 15 digits")
    row_dca = values.get("dca", "").strip().lower() or dca
    text = _text(values["message"], row_dca)
    if not text:
        raise ValueError("the message is empty")
    parts = message_parts(text, row_dca)
    if parts > max_parts:
        raise ValueError(f"{parts} parts, over the limit of {max_parts}")
    extra = tuple((k, v) for k, v in values.items() if k not in ("msisdn", "message") and v)
    return SimMessage(record.line, msisdn, text, row_dca, parts, extra)


def read_batch(data: str, dca: str, max_parts: int) -> ReadBatch:
    """Read a `batch_data` value: its messages, the lines skipped, or why nothing is readable."""
    records, bad = read_records(data)
    if not records:
        return ReadBatch(0, (), tuple(bad), "batch_data holds no lines")
    columns = [name.strip().lower() for name in records[0].fields]
    missing = [name for name in ("msisdn", "message") if name not in columns]
    if missing or len(set(columns)) != len(columns):
        problem = f"lacks {' and '.join(missing)}" if missing else "repeats a column"
        return ReadBatch(len(records) - 1, (), tuple(bad), f"the header line {problem}")
    messages: list[SimMessage] = []
    for record in records[1:]:
        try:
            messages.append(_message(record, columns, dca, max_parts))
        except ValueError as exc:
            bad.append(BadLine(record.line, str(exc)))
    return ReadBatch(len(records) - 1, tuple(messages), tuple(bad))
