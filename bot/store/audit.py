"""The hash-chained audit log: sealing entries, verifying the chain, and exporting it.

Each entry's `hash` is SHA-256 over the UTF-8 bytes of this canonical JSON array:

    ["smsbatch-audit-v1", id, at, event, batch_id, chunk_index, actor, channel_id, detail,
     prev_hash]

(keys sorted, no whitespace, non-ASCII kept; see `bot.codec.canonical_json`), where `detail` is
the stored JSON text itself and `prev_hash` is the previous entry's hash (64 zeros for the first
entry). So a changed, removed or inserted entry breaks the chain at or after itself. Removing
entries from the very end leaves a shorter, intact chain; compare the last hash with one kept
elsewhere (`audit --verify` prints it) to catch that.

This module does no I/O: `bot.store.db` reads and writes the `audit_log` table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.codec import canonical_json, sha256_hex
from bot.store.migrations import GENESIS_HASH

HASH_VERSION = "smsbatch-audit-v1"
COLUMNS = (
    "id",
    "at",
    "event",
    "batch_id",
    "chunk_index",
    "actor",
    "channel_id",
    "detail",
    "prev_hash",
    "hash",
)


class AuditEvent(StrEnum):
    """Every kind of audit entry."""

    BATCH_PREPARED = "batch_prepared"
    OPTIONS_CHANGED = "options_changed"
    OPTIONS_REFUSED = "options_refused"
    APPROVED = "approved"
    APPROVAL_REFUSED = "approval_refused"
    CANCELLED = "cancelled"
    CANCEL_REFUSED = "cancel_refused"
    EXPIRED = "expired"
    ATTEMPT_STARTED = "attempt_started"
    ATTEMPT_FINISHED = "attempt_finished"
    RETRY_SCHEDULED = "retry_scheduled"
    CHUNK_DONE = "chunk_done"
    BATCH_FINISHED = "batch_finished"
    OUTCOME_UNKNOWN = "outcome_unknown"
    PAYLOAD_MISMATCH = "payload_mismatch"
    UPLOAD_REFUSED = "upload_refused"
    RESTORED = "restored"
    REPORT_FETCHED = "report_fetched"  # one get_report: counts and the raw status line
    REPORT_FETCH_FAILED = "report_fetch_failed"  # no usable answer; tried again later
    REPORT_PUSHED = "report_pushed"  # a pushed report changed a message's state
    REPORTS_CLOSED = "reports_closed"  # the last fetch: what was still pending became unknown
    SUPPRESSION_ADDED = "suppression_added"
    SUPPRESSION_REMOVED = "suppression_removed"
    SUPPRESSION_REFUSED = "suppression_refused"
    SUBMISSION_TRIMMED = "submission_trimmed"
    INBOX_READ = "inbox_read"
    STOPPED = "stopped"
    STOP_REFUSED = "stop_refused"
    TEST_REQUESTED = "test_requested"
    TEST_REFUSED = "test_refused"
    TEST_ATTEMPT_STARTED = "test_attempt_started"
    TEST_FINISHED = "test_finished"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of `audit_log`, as stored."""

    id: int
    at: str
    event: str
    batch_id: int | None
    chunk_index: int | None
    actor: str
    channel_id: str | None
    detail: str  # canonical JSON text
    prev_hash: str
    hash: str

    def detail_dict(self) -> Any:
        """The detail parsed back from its JSON text."""
        return json.loads(self.detail)

    def hashed(self) -> tuple[Any, ...]:
        """Every column the hash covers, in `COLUMNS` order (all but `hash` itself)."""
        return (
            self.id,
            self.at,
            self.event,
            self.batch_id,
            self.chunk_index,
            self.actor,
            self.channel_id,
            self.detail,
            self.prev_hash,
        )


@dataclass(frozen=True, slots=True)
class ChainEnd:
    """The id and hash of the newest entry: all that sealing the next one needs."""

    id: int
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What walking the chain found: intact, or the first broken entry and why."""

    ok: bool
    entries: int
    last_hash: str
    broken_id: int | None = None
    reason: str | None = None


def utc_iso(timestamp: float) -> str:
    """Unix seconds as UTC ISO-8601 with microseconds and a `Z`."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def entry_hash(
    id: int,
    at: str,
    event: str,
    batch_id: int | None,
    chunk_index: int | None,
    actor: str,
    channel_id: str | None,
    detail: str,
    prev_hash: str,
) -> str:
    """The hash an entry with these columns must carry (see the module docstring)."""
    fields = [HASH_VERSION, id, at, event, batch_id, chunk_index, actor, channel_id, detail]
    return sha256_hex(canonical_json([*fields, prev_hash]))


def seal(
    previous: AuditEntry | ChainEnd | None,
    *,
    at: float,
    event: AuditEvent,
    actor: str,
    batch_id: int | None = None,
    chunk_index: int | None = None,
    channel_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """The next entry after `previous` (None: the first), with its id and hash filled in."""
    entry_id = 1 if previous is None else previous.id + 1
    prev_hash = GENESIS_HASH if previous is None else previous.hash
    fields = (
        entry_id,
        utc_iso(at),
        event.value,
        batch_id,
        chunk_index,
        actor,
        channel_id,
        canonical_json(detail or {}),
        prev_hash,
    )
    return AuditEntry(*fields, hash=entry_hash(*fields))


def _problem(entry: AuditEntry, expected_id: int, expected_prev: str) -> str | None:
    if entry.id != expected_id:
        return f"expected entry {expected_id} here: an entry was removed or inserted"
    if entry.prev_hash != expected_prev:
        return "its prev_hash is not the hash of the entry before it"
    recomputed = entry_hash(*entry.hashed())
    if recomputed != entry.hash:
        return "its hash does not match its content: the entry was changed"
    return None


def verify(entries: Iterable[AuditEntry]) -> VerifyResult:
    """Walk the chain in id order; report the first entry that breaks it."""
    count = 0
    last = GENESIS_HASH
    for count, entry in enumerate(entries, start=1):
        problem = _problem(entry, count, last)
        if problem is not None:
            return VerifyResult(False, count - 1, last, entry.id, problem)
        last = entry.hash
    return VerifyResult(True, count, last)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet will show as text: formula starters get a leading apostrophe."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV of the rows, every cell formula-safe (None as an empty cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise("" if cell is None else str(cell)) for cell in row])
    return out.getvalue()


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """The entries as formula-safe CSV, one row each, every column."""
    return csv_text(COLUMNS, ([getattr(e, c) for c in COLUMNS] for e in entries))


def to_json(entries: Iterable[AuditEntry]) -> str:
    """The entries as one JSON array of objects; `detail` parsed into an object."""
    items = []
    for entry in entries:
        item = asdict(entry)
        item["detail"] = entry.detail_dict()
        items.append(item)
    return json.dumps(items, ensure_ascii=False, indent=1)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def to_table(entries: Iterable[AuditEntry]) -> str:
    """The entries as an aligned text table for a terminal (detail shortened)."""
    header = ("id", "at", "event", "batch", "chunk", "actor", "channel", "detail")
    rows = [
        (
            str(e.id),
            e.at[:19] + "Z",
            e.event,
            "" if e.batch_id is None else str(e.batch_id),
            "" if e.chunk_index is None else str(e.chunk_index),
            e.actor,
            e.channel_id or "",
            _short(e.detail.replace("\n", " "), 80),
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    head = "  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True))
    return "\n".join([head.rstrip(), *(line.rstrip() for line in lines)])
