"""The suppression list's SQL: numbers that are never sent to, each add and removal audited.

Numbers arrive normalised (international digits, no `+`: `bot.intake.numbers`). Every change is
written with its audit entry in the caller's transaction (`Store.write()`), and a second add of
a listed number changes nothing (the first entry, with its source and evidence, stays).

The look-up the intake is handed ("which of these numbers are listed?") is
`bot.store.lookup.SuppressionLookup`: a path, so the upload checker's worker process asks SQLite
itself instead of being handed a million-number set.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.store.audit import AuditEvent
from bot.store.db import Reader, Tx
from bot.store.lookup import listed_in


class Source(StrEnum):
    """How a number came onto the list."""

    MANUAL = "manual"
    IMPORT = "import"
    REPLY = "reply"
    REPORT = "report"


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    """One listed number: why, by whom, when."""

    msisdn: str
    source: Source
    added_by: str
    added_at: float
    evidence: str | None


def _entry(row: sqlite3.Row) -> SuppressionEntry:
    return SuppressionEntry(
        row["msisdn"], Source(row["source"]), row["added_by"], row["added_at"], row["evidence"]
    )


def suppress(
    tx: Tx,
    msisdn: str,
    source: Source,
    *,
    actor: str,
    at: float,
    evidence: str | None = None,
    channel_id: str | None = None,
) -> bool:
    """List the number (audit `suppression_added`); False, and no entry, if it was listed."""
    added = tx.run(
        "INSERT INTO suppression (msisdn, source, added_by, added_at, evidence) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (msisdn) DO NOTHING",
        [msisdn, source.value, actor, at, evidence],
    )
    if added:
        detail = {"msisdn": msisdn, "source": source.value, "evidence": evidence}
        tx.audit(
            AuditEvent.SUPPRESSION_ADDED, at=at, actor=actor, channel_id=channel_id, detail=detail
        )
    return added == 1


def unsuppress(
    tx: Tx,
    msisdn: str,
    *,
    actor: str,
    at: float,
    reason: str,
    only_source: Source | None = None,
    channel_id: str | None = None,
) -> SuppressionEntry | None:
    """Take the number off (audit `suppression_removed`); the entry removed, or None.

    With `only_source`, an entry of another source stays (a START reply lifts only what a
    STOP reply put there).
    """
    found = entry(tx, msisdn)
    if found is None or (only_source is not None and found.source is not only_source):
        return None
    tx.run("DELETE FROM suppression WHERE msisdn = ?", [msisdn])
    detail = {
        "msisdn": msisdn,
        "source": found.source.value,
        "added_by": found.added_by,
        "evidence": found.evidence,
        "reason": reason,
    }
    tx.audit(
        AuditEvent.SUPPRESSION_REMOVED, at=at, actor=actor, channel_id=channel_id, detail=detail
    )
    return found


def trim_chunk(tx: Tx, chunk_id: int, params_json: str, params_sha256: str, messages: int) -> bool:
    """A queued, never-attempted chunk's new parameters (some numbers dropped); False if it was
    attempted meanwhile (a resend must keep the body its stop_dup_id covers)."""
    changed = tx.run(
        "UPDATE chunks SET params_sha256 = ?, messages = ? "
        "WHERE id = ? AND attempts = 0 AND state = 'queued'",
        [params_sha256, messages, chunk_id],
    )
    if changed != 1:
        return False
    tx.run("UPDATE chunk_params SET params = ? WHERE chunk_id = ?", [params_json, chunk_id])
    return True


def refuse(
    tx: Tx, msisdn: str, *, actor: str, at: float, reason: str, channel_id: str | None
) -> None:
    """Record a refused change of the list (audit `suppression_refused`)."""
    tx.audit(
        AuditEvent.SUPPRESSION_REFUSED,
        at=at,
        actor=actor,
        channel_id=channel_id,
        detail={"msisdn": msisdn, "reason": reason},
    )


def entry(read: Reader, msisdn: str) -> SuppressionEntry | None:
    """The number's entry, or None when it is not listed."""
    rows = read.query("SELECT * FROM suppression WHERE msisdn = ?", [msisdn])
    return _entry(rows[0]) if rows else None


def entries(read: Reader) -> list[SuppressionEntry]:
    """Every listed number, in number order."""
    return [_entry(r) for r in read.query("SELECT * FROM suppression ORDER BY msisdn")]


def size(read: Reader) -> int:
    """How many numbers are listed (for the Home tab and the metrics)."""
    return int(read.query("SELECT COUNT(*) FROM suppression")[0][0])


def any_listed(read: Reader) -> bool:
    """True when at least one number is listed (cheap: no count)."""
    return bool(read.query("SELECT 1 FROM suppression LIMIT 1"))


def listed_among(read: Reader, msisdns: Iterable[str]) -> frozenset[str]:
    """Those of the numbers that are listed (an indexed look-up per number, in chunks)."""
    return listed_in(read.query, msisdns)
