"""Consent use cases: the suppression list by hand (Slack, CLI), by import, and from reports.

Who may change the list: anyone who may prepare batches may add a number (opting someone out
can only prevent a message); only an approver may take one off (it lets messages go to that
number again), whatever put it there. Removals by a START/UNSTOP reply are
`bot.sending.replies`'s, and lift only entries a STOP reply made. The command line stands for
the operator of the database and may do both (actor `cli`). Every change, and every refused
removal, is in the audit log.

Numbers are normalised like CSV numbers (`bot.intake.numbers`), so `07700 900123` and
`+44 7700 900123` are one entry.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.intake.decode import decode_upload
from bot.intake.numbers import BadNumber, parse_number
from bot.store import suppression
from bot.store.db import Store
from bot.store.suppression import Source, SuppressionEntry

CLI_ACTOR = "cli"
REMOVE_REFUSED = (
    "only an approver can take a number off the suppression list (SMSBATCH_APPROVERS); "
    "ask one, or the number can reply START if it opted out by replying STOP"
)
_NUMBER_HEADERS = frozenset(("msisdn", "phone", "number", "mobile", "to", "recipient", "cell"))


@dataclass(frozen=True, slots=True)
class ListChange:
    """What one add, remove or import did, number by number."""

    changed: tuple[str, ...] = ()  # added (or removed)
    unchanged: tuple[str, ...] = ()  # already listed (or not listed)
    invalid: tuple[tuple[str, str], ...] = ()  # (value as given, why it is not a number)
    refused: str | None = None  # why nothing was changed at all


def _normalise(values: Sequence[str], country: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The valid numbers (in order, once each) and the invalid values with their reasons."""
    numbers: list[str] = []
    invalid: list[tuple[str, str]] = []
    for value in values:
        parsed = parse_number(value, country)
        if isinstance(parsed, BadNumber):
            invalid.append((value, parsed.reason))
        elif parsed.msisdn not in numbers:
            numbers.append(parsed.msisdn)
    return numbers, invalid


def numbers_in_file(data: bytes) -> list[str]:
    """The number column of a CSV file (IntakeError when it is not text): the first column whose
    header has the word msisdn, phone, number, mobile, cell, to or recipient (`Phone number`),
    else the first column; a header row is skipped."""
    text = decode_upload(data).text
    sample = text[:4096]
    delimiter = max(",;\t|", key=sample.count) if any(d in sample for d in ",;\t|") else ","
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(row)]
    if not rows:
        return []
    header = [set(re.findall(r"[a-z]+", cell.lower())) for cell in rows[0]]
    named = [i for i, words in enumerate(header) if words & _NUMBER_HEADERS]
    column = named[0] if named else 0
    has_header = bool(named) or not any(ch.isdigit() for ch in rows[0][0])
    body = rows[1:] if has_header else rows
    return [row[column].strip() for row in body if len(row) > column and row[column].strip()]


class ConsentService:
    """Add, remove, list and import suppressed numbers; the report hook for status 32."""

    def __init__(
        self,
        store: Store,
        default_country: str,
        *,
        is_approver: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.default_country = default_country
        self._is_approver = is_approver
        self._clock = clock

    def add(
        self,
        values: Sequence[str],
        actor: str,
        *,
        source: Source = Source.MANUAL,
        evidence: str | None = None,
        channel_id: str | None = None,
    ) -> ListChange:
        """Put the numbers on the list; anyone may (it can only prevent messages)."""
        numbers, invalid = _normalise(values, self.default_country)
        added: list[str] = []
        now = self._clock()
        with self.store.write() as tx:
            for number in numbers:
                done = suppression.suppress(
                    tx,
                    number,
                    source,
                    actor=actor,
                    at=now,
                    evidence=evidence,
                    channel_id=channel_id,
                )
                if done:
                    added.append(number)
        kept = tuple(n for n in numbers if n not in added)
        return ListChange(tuple(added), kept, tuple(invalid))

    def remove(
        self, values: Sequence[str], actor: str, *, channel_id: str | None = None
    ) -> ListChange:
        """Take the numbers off the list: approvers (and the CLI) only; refusals are audited."""
        numbers, invalid = _normalise(values, self.default_country)
        if actor != CLI_ACTOR and not self._is_approver(actor):
            self._refuse(numbers, actor, channel_id)
            return ListChange(invalid=tuple(invalid), refused=REMOVE_REFUSED)
        why = "removed from the command line" if actor == CLI_ACTOR else "removed by an approver"
        now = self._clock()
        removed: list[str] = []
        with self.store.write() as tx:
            for number in numbers:
                gone = suppression.unsuppress(
                    tx, number, actor=actor, at=now, reason=why, channel_id=channel_id
                )
                if gone is not None:
                    removed.append(number)
        kept = tuple(n for n in numbers if n not in removed)
        return ListChange(tuple(removed), kept, tuple(invalid))

    def _refuse(self, numbers: Sequence[str], actor: str, channel_id: str | None) -> None:
        now = self._clock()
        with self.store.write() as tx:
            for number in numbers:
                suppression.refuse(
                    tx, number, actor=actor, at=now, reason=REMOVE_REFUSED, channel_id=channel_id
                )

    def import_file(
        self, data: bytes, actor: str, name: str, *, channel_id: str | None = None
    ) -> ListChange:
        """Add every number of a CSV file (source `import`, evidence the file's name)."""
        return self.add(
            numbers_in_file(data), actor, source=Source.IMPORT, evidence=name, channel_id=channel_id
        )

    def entries(self) -> list[SuppressionEntry]:
        """Every listed number, in number order."""
        return suppression.entries(self.store)

    def size(self) -> int:
        """How many numbers are listed."""
        return suppression.size(self.store)
