""" "Which of these numbers are on the suppression list?" with nothing but `sqlite3`.

`SuppressionLookup` is what the intake is handed: picklable (a path), read-only, and light to
import, so that `smsbatch-bot check` and the upload checker's worker process pay neither for
`bot.store.db` nor for sqlite-utils. `listed_in` is the one query, shared with
`bot.store.suppression`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import IntakeError

Query = Callable[[str, list[str]], list[Any]]
_LOOKUP_CHUNK = 500  # numbers per IN (...) query: under SQLite's default 999 variables


def listed_in(query: Query, msisdns: Iterable[str]) -> frozenset[str]:
    """Those of the numbers that are listed (an indexed look-up per number, in chunks)."""
    wanted = sorted(set(msisdns))
    found: set[str] = set()
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        part = wanted[start : start + _LOOKUP_CHUNK]
        marks = ", ".join("?" * len(part))
        sql = f"SELECT msisdn FROM suppression WHERE msisdn IN ({marks})"  # noqa: S608 - marks only
        found.update(row[0] for row in query(sql, part))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class SuppressionLookup:
    """ "Which of these numbers are listed?" from the database at `path` (picklable).

    Opens its own read-only connection per question: it may run in another process.
    A database that does not exist yet has an empty list; one that cannot be read stops the
    check with an `IntakeError` (an upload is never passed as checked against a list nobody
    could read).
    """

    path: str

    def __call__(self, msisdns: frozenset[str]) -> frozenset[str]:
        """The listed ones among `msisdns`."""
        target = Path(self.path)
        if not msisdns or not target.is_file():
            return frozenset()
        uri = target.absolute().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=15.0)
            try:
                if not _has_list(conn):
                    return frozenset()
                return listed_in(lambda sql, params: conn.execute(sql, params).fetchall(), msisdns)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise IntakeError(
                f"the suppression list in {target} cannot be read ({exc}), so the numbers "
                "cannot be checked against it; check SMSBATCH_DB"
            ) from None


def _has_list(conn: sqlite3.Connection) -> bool:
    """False for a database made before the list existed (read-only: it is not migrated here)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'suppression'"
    ).fetchone()
    return row is not None
