"""Templates with GOV.UK Notify's placeholders: `((name))` and `((name??text))`, filled per row.

The rules are Notify's (reports-replies-templates-research.md §C), so a template written for
Notify means the same here:
- a placeholder is `((…))` whose body holds no `(` or `)`; `((name??text))` is conditional: the
  name is the part before the first `??`, and `text` shows only when the row's value is one of
  yes/y/true/t/1/include/show (any case); any other value hides it;
- a placeholder matches a column when both are equal after lower-casing and removing spaces,
  `_` and `-` (other punctuation counts), so `((First Name))` matches `first_name` or `FIRSTNAME`;
- every placeholder needs a non-empty cell: an empty one (conditionals included) is a missing
  value, and the row is rejected. Values are used without their outer spaces.
Beyond Notify: a cell holding a spreadsheet error (`#N/A`, `#REF!`…) rejects its row too, rather
than sending "Hi #N/A".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.errors import IntakeError

_PLACEHOLDER = re.compile(r"\({2}([^()]+)\){2}")
_KEY_DROPS = str.maketrans("", "", " _-")
TRUTHY = frozenset(("yes", "y", "true", "t", "1", "include", "show"))
# What Excel writes into a CSV cell whose formula failed: never a value to put in a message.
SPREADSHEET_ERRORS = frozenset(
    ("#NAME?", "#VALUE!", "#REF!", "#DIV/0!", "#N/A", "#NUM!", "#NULL!", "#SPILL!", "#CALC!")
)


def column_key(name: str) -> str:
    """The form in which a placeholder and a column header are compared (Notify's rule)."""
    return name.translate(_KEY_DROPS).lower()


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `((…))` in a template: its name, and the conditional text (None: a plain value)."""

    name: str
    conditional: str | None = None

    @property
    def key(self) -> str:
        """The name as matched against column headers."""
        return column_key(self.name)


@dataclass(frozen=True, slots=True)
class Template:
    """A template split into literal text and placeholders, in order."""

    text: str
    pieces: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        """Every placeholder, in order of appearance (repeats included)."""
        return tuple(p for p in self.pieces if isinstance(p, Placeholder))

    @property
    def keys(self) -> tuple[str, ...]:
        """The column keys the template needs, each once, in order of first use."""
        return tuple(dict.fromkeys(p.key for p in self.placeholders))


def parse_template(text: str) -> Template:
    """Split a template into literal text and placeholders."""
    pieces: list[str | Placeholder] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > position:
            pieces.append(text[position : match.start()])
        name, marker, conditional = match.group(1).partition("??")
        pieces.append(Placeholder(name.strip(), conditional if marker else None))
        position = match.end()
    if position < len(text):
        pieces.append(text[position:])
    return Template(text, tuple(pieces))


def has_placeholders(text: str) -> bool:
    """True when the text holds at least one `((…))` placeholder."""
    return "((" in text and _PLACEHOLDER.search(text) is not None


@dataclass(frozen=True, slots=True)
class Fields:
    """Which cell fills which placeholder: column key -> (cell index, header as written)."""

    columns: dict[str, tuple[int, str]]

    @classmethod
    def from_header(cls, header: Sequence[str]) -> Fields:
        """Map each header's key to its column; when two headers share a key, the first wins."""
        columns: dict[str, tuple[int, str]] = {}
        for index, cell in enumerate(header):
            if cell.strip():
                columns.setdefault(column_key(cell.strip()), (index, cell.strip()))
        return cls(columns)

    def missing(self, template: Template) -> tuple[str, ...]:
        """The placeholder names (as written) that no column matches, each once."""
        names = {p.key: p.name for p in template.placeholders if p.key not in self.columns}
        return tuple(names.values())

    def header_of(self, key: str) -> str:
        """The header, as the file writes it, of the column that fills `key`."""
        return self.columns[key][1]


@dataclass(frozen=True, slots=True)
class MissingValue:
    """A row whose cell for a placeholder is empty, or holds a spreadsheet `error`: the
    placeholder's name and the header of its column."""

    name: str
    header: str
    error: str | None = None


def fill(template: Template, fields: Fields, cells: Sequence[str]) -> str | MissingValue:
    """The template filled from one row's cells, or the first placeholder whose cell is empty."""
    out: list[str] = []
    for piece in template.pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        index, header = fields.columns[piece.key]
        value = cells[index].strip() if index < len(cells) else ""
        if not value:
            return MissingValue(piece.name, header)
        if value in SPREADSHEET_ERRORS:
            return MissingValue(piece.name, header, value)
        if piece.conditional is None:
            out.append(value)
        elif value.lower() in TRUTHY:
            out.append(piece.conditional)
    return "".join(out)


def missing_columns_error(missing: Sequence[str], header: Sequence[str], where: str) -> IntakeError:
    """The whole-upload refusal for placeholders no column matches, naming what the file has."""
    called = "a column called" if len(missing) == 1 else "columns called"
    names = _and(f"‘{name}’" for name in missing)
    has = _and(f"‘{cell.strip()}’" for cell in header if cell.strip()) or "none"
    return IntakeError(
        f"{where} uses {_and(f'(({n}))' for n in missing)}, but the file is missing {called} "
        f"{names}. Its columns are {has}. Column names match placeholders ignoring case, "
        "spaces, _ and -"
    )


def _and(items: Iterable[str]) -> str:
    listed = list(items)
    if len(listed) <= 1:
        return "".join(listed)
    return ", ".join(listed[:-1]) + " and " + listed[-1]


@dataclass(frozen=True, slots=True)
class RowTexts:
    """Where each row's text comes from: one template for every row, or the row's message cell
    (which may itself be a template using its own row's columns)."""

    fields: Fields
    template: Template | None
    message_index: int | None
    used: tuple[tuple[str, str], ...]  # ("((name))", header that fills it), in first-use order

    def text(self, cells: Sequence[str]) -> str | MissingValue:
        """The row's message, filled; or the placeholder whose cell is empty."""
        if self.template is not None:
            return fill(self.template, self.fields, cells)
        raw = cells[self.message_index] if self.message_index is not None else ""
        if not has_placeholders(raw):
            return raw
        return fill(_parsed(raw), self.fields, cells)


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Template:
    """Parsed once per distinct text: a message column usually repeats one template."""
    return parse_template(text)


def row_texts(
    header: Sequence[str],
    template: str | None,
    message_index: int | None,
    messages: Iterable[str],
) -> RowTexts:
    """How the rows get their text; IntakeError naming placeholders that no column matches.

    `messages` are the message cells, scanned for placeholders when there is no `template`.
    """
    fields = Fields.from_header(header)
    if template is not None:
        templates = [parse_template(template)]
        where = "the template"
    else:
        # Only cells with placeholders are kept: a set of every distinct text costs megabytes.
        templates = [_parsed(m) for m in dict.fromkeys(m for m in messages if has_placeholders(m))]
        where = "the message column"
    missing = tuple(dict.fromkeys(n for t in templates for n in fields.missing(t)))
    if missing:
        raise missing_columns_error(missing, header, where)
    used = {p.key: p.name for t in templates for p in t.placeholders}
    pairs = tuple((f"(({name}))", fields.header_of(key)) for key, name in used.items())
    return RowTexts(fields, templates[0] if template is not None else None, message_index, pairs)
