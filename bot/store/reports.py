"""Delivery reports in the database: per-message state, per-submission fetch schedules.

A report is keyed by the submission (EAPI batch_id, hence our batch and chunk) and the msisdn.
A number that appears twice in one submission was sent with a source_id (`report_messages`
keeps it): a report that echoes it finds its own message; one that does not is given to that
number's messages in line order, so the counts stay exact either way.

State changes follow one rule (`_changed`): delivered and failed are final and never change
again; unknown (status 70, or the end of the schedule) may still become delivered or failed but
never pending again. Each fetch is one transaction with one audit entry that sums it up.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.model import BatchState, DeliveryCounts, DeliveryState, ReportRow
from bot.store.audit import AuditEvent
from bot.store.db import Store, Tx
from bot.store.suppression import Source, suppress

ACTOR = "reports"
BLOCKED_STATUS = 32  # "blocked": the recipient opted out at the carrier (research §A.2, §B)
_PENDING = DeliveryState.PENDING.value
_UNKNOWN = DeliveryState.UNKNOWN.value


@dataclass(frozen=True, slots=True)
class Recipient:
    """One message of a submission as sent: its line, number and source_id (if any)."""

    line: int
    msisdn: str
    source_id: str | None


@dataclass(frozen=True, slots=True)
class Schedule:
    """The report schedule of one accepted submission."""

    batch_id: int
    chunk_index: int
    eapi_batch_id: int
    base_at: float
    step: int
    next_at: float | None
    fetches: int
    failures: int


@dataclass(frozen=True, slots=True)
class MessageReport:
    """One message's delivery state, for `report` and the failures CSV."""

    line: int
    msisdn: str
    state: DeliveryState
    status_code: int | None
    chunk_index: int


@dataclass(frozen=True, slots=True)
class DeliveryNews:
    """What the thread and the card should learn after reports were applied."""

    batch_id: int
    counts: DeliveryCounts
    announce: bool  # the first reports of the batch, or its final counts: say so in the thread
    final: bool  # no message of the batch is pending any more
    changed: int  # messages whose state or code changed


@dataclass(frozen=True, slots=True)
class Unscheduled:
    """An accepted submission that has no schedule yet."""

    batch_id: int
    chunk_index: int
    eapi_batch_id: int
    finished_at: float
    state: str


_SELECT_SCHEDULE = (
    "SELECT batch_id, chunk_index, eapi_batch_id, base_at, step, next_at, fetches, failures "
    "FROM report_schedules "
)
_UNSENT = (
    "SELECT c.batch_id, c.chunk_index, c.state FROM chunks c "
    "WHERE c.state IN ('failed', 'unknown') AND EXISTS (SELECT 1 FROM report_messages m "
    "WHERE m.batch_id = c.batch_id AND m.chunk_index = c.chunk_index AND m.state = 'pending') "
    "ORDER BY c.batch_id, c.chunk_index"
)
_UNSCHEDULED = (
    "SELECT c.batch_id, c.chunk_index, c.eapi_batch_id, c.finished_at, c.state FROM chunks c "
    "WHERE c.state IN ('accepted', 'scheduled') AND c.eapi_batch_id IS NOT NULL "
    "AND EXISTS (SELECT 1 FROM report_messages m "
    "WHERE m.batch_id = c.batch_id AND m.chunk_index = c.chunk_index) "
    "AND NOT EXISTS (SELECT 1 FROM report_schedules s "
    "WHERE s.batch_id = c.batch_id AND s.chunk_index = c.chunk_index) "
    "ORDER BY c.batch_id, c.chunk_index"
)


def add_recipients(tx: Tx, batch_id: int, chunk_index: int, rows: Sequence[Recipient]) -> None:
    """Record a submission's messages (at approval, with its chunk), all pending."""
    tx._conn.executemany(
        "INSERT INTO report_messages (batch_id, chunk_index, position, line, msisdn, source_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(batch_id, chunk_index, i, r.line, r.msisdn, r.source_id) for i, r in enumerate(rows)],
    )


def _schedule(row: sqlite3.Row) -> Schedule:
    return Schedule(*(row[i] for i in range(8)))


def _counts(conn: sqlite3.Connection, batch_id: int) -> DeliveryCounts:
    rows = conn.execute(
        "SELECT state, COUNT(*) FROM report_messages WHERE batch_id = ? GROUP BY state",
        [batch_id],
    ).fetchall()
    by_state = {str(r[0]): int(r[1]) for r in rows}
    return DeliveryCounts(**{s.value: by_state.get(s.value, 0) for s in DeliveryState})


def _changed(state: str, code: int | None, report: ReportRow) -> tuple[DeliveryState, int] | None:
    """The new (state, code) for a message, or None when the report changes nothing."""
    current = DeliveryState(state)
    if current.final:
        return None  # delivered and failed are final: late or repeated reports change nothing
    if current is DeliveryState.UNKNOWN and report.state is DeliveryState.PENDING:
        return None  # never back to pending
    if current is report.state and code == report.status_code:
        return None
    return report.state, report.status_code


def _match(
    messages: Sequence[sqlite3.Row], reports: Iterable[ReportRow]
) -> list[tuple[sqlite3.Row, ReportRow]]:
    """Pair each report with its message: by source_id when echoed, else by number in order."""
    by_number: dict[str, list[sqlite3.Row]] = defaultdict(list)
    by_source: dict[tuple[str, str], sqlite3.Row] = {}
    for row in messages:
        by_number[row["msisdn"]].append(row)
        if row["source_id"]:
            by_source[(row["msisdn"], row["source_id"])] = row
    taken: dict[str, int] = defaultdict(int)
    pairs = []
    for report in reports:
        exact = by_source.get((report.msisdn, report.source_id or ""))
        candidates = by_number.get(report.msisdn, [])
        if exact is not None:
            pairs.append((exact, report))
        elif candidates:
            index = min(taken[report.msisdn], len(candidates) - 1)
            taken[report.msisdn] += 1
            pairs.append((candidates[index], report))
    return pairs


class DeliveryStore:
    """Reads and writes of delivery reports over one `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _conn(self) -> sqlite3.Connection:
        return self.store._connection()

    # Reads

    def delivery_counts(self, batch_id: int) -> DeliveryCounts:
        """How many of the batch's messages are delivered, failed, pending and unknown."""
        return _counts(self._conn(), batch_id)

    def totals(self) -> dict[str, int]:
        """Messages of every batch by delivery state (every state present, zeros included)."""
        rows = (
            self._conn()
            .execute("SELECT state, COUNT(*) FROM report_messages GROUP BY state")
            .fetchall()
        )
        found = {str(state): int(count) for state, count in rows}
        return {state.value: found.get(state.value, 0) for state in DeliveryState}

    def has_reports(self, batch_id: int) -> bool:
        """True once any report of the batch has arrived (the card shows counts from then)."""
        row = (
            self._conn()
            .execute("SELECT delivery_first_at FROM batches WHERE id = ?", [batch_id])
            .fetchone()
        )
        return row is not None and row[0] is not None

    def messages(self, batch_id: int) -> list[MessageReport]:
        """Every message of the batch with its delivery state, in line order."""
        rows = self._conn().execute(
            "SELECT line, msisdn, state, status_code, chunk_index FROM report_messages "
            "WHERE batch_id = ? ORDER BY line",
            [batch_id],
        )
        return [MessageReport(r[0], r[1], DeliveryState(r[2]), r[3], r[4]) for r in rows.fetchall()]

    def next_fetch_at(self) -> float | None:
        """When the earliest scheduled fetch is due; None when none is scheduled."""
        row = self._conn().execute("SELECT MIN(next_at) FROM report_schedules").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def due(self, now: float) -> Schedule | None:
        """The schedule due first, if one is due by `now`."""
        row = (
            self._conn()
            .execute(_SELECT_SCHEDULE + "WHERE next_at <= ? ORDER BY next_at LIMIT 1", [now])
            .fetchone()
        )
        return None if row is None else _schedule(row)

    def schedule(self, batch_id: int, chunk_index: int) -> Schedule | None:
        """One submission's schedule, if it has one."""
        row = (
            self._conn()
            .execute(
                _SELECT_SCHEDULE + "WHERE batch_id = ? AND chunk_index = ?", [batch_id, chunk_index]
            )
            .fetchone()
        )
        return None if row is None else _schedule(row)

    def unscheduled(self) -> list[Unscheduled]:
        """Accepted submissions with messages on record but no schedule yet."""
        rows = self._conn().execute(_UNSCHEDULED).fetchall()
        return [Unscheduled(r[0], r[1], r[2], r[3] or 0.0, r[4]) for r in rows]

    def unsent(self) -> list[tuple[int, int, str]]:
        """(batch, chunk, chunk state) of failed or unknown submissions with pending messages."""
        rows = self._conn().execute(_UNSENT).fetchall()
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

    # Writes

    def settle_unsent(self, now: float) -> list[DeliveryNews]:
        """Messages of a submission that failed become failed; of one whose outcome is unknown,
        unknown (no report will ever come for them). One audit entry per submission."""
        news = []
        with self.store.write() as tx:
            settled: dict[int, int] = defaultdict(int)
            for row in tx._rows(_UNSENT):
                batch_id, chunk_index, chunk_state = int(row[0]), int(row[1]), str(row[2])
                state = DeliveryState.FAILED if chunk_state == "failed" else DeliveryState.UNKNOWN
                changed = tx._run(
                    "UPDATE report_messages SET state = ?, updated_at = ? "
                    "WHERE batch_id = ? AND chunk_index = ? AND state = ?",
                    [state.value, now, batch_id, chunk_index, _PENDING],
                )
                self._audit_at(
                    tx,
                    AuditEvent.REPORTS_CLOSED,
                    (batch_id, chunk_index),
                    now,
                    **{f"made_{state.value}": changed},
                    reason=f"the submission's outcome is {chunk_state}: no report will come",
                )
                settled[batch_id] += changed
            for batch_id, changed in settled.items():
                news.append(self._news(tx, batch_id, now, changed, any_report=False))
        return news

    def add_schedules(self, items: Sequence[tuple[Unscheduled, float, int, float]]) -> None:
        """Create schedules: (submission, base time, first step, first fetch time)."""
        with self.store.write() as tx:
            tx._conn.executemany(
                "INSERT OR IGNORE INTO report_schedules "
                "(batch_id, chunk_index, eapi_batch_id, base_at, step, next_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(u.batch_id, u.chunk_index, u.eapi_batch_id, *rest) for u, *rest in items],
            )

    def record_fetch(
        self,
        schedule: Schedule,
        reports: Sequence[ReportRow],
        *,
        status_line: str,
        skipped: int,
        now: float,
        next_step: int,
        next_at: float | None,
    ) -> DeliveryNews:
        """Apply one fetch's rows and move the schedule on (`next_at` None: the last fetch).

        After the last fetch, every message of the submission still pending becomes unknown.
        """
        with self.store.write() as tx:
            changed = self._apply(tx, schedule.batch_id, schedule.chunk_index, reports, now)
            closed = 0
            if next_at is None:
                closed = self._close(tx, schedule, now)
            else:
                next_at = self._sooner_if_final(tx, schedule, next_at)
            tx._run(
                "UPDATE report_schedules SET step = ?, next_at = ?, fetches = fetches + 1, "
                "failures = 0, last_fetch_at = ?, last_error = NULL "
                "WHERE batch_id = ? AND chunk_index = ?",
                [next_step, next_at, now, schedule.batch_id, schedule.chunk_index],
            )
            news = self._news(tx, schedule.batch_id, now, changed, any_report=bool(reports))
            self._audit_fetch(tx, schedule, now, reports, changed, skipped, status_line, news)
            if closed:
                self._audit(tx, AuditEvent.REPORTS_CLOSED, schedule, now, made_unknown=closed)
        return news

    def record_failure(
        self, schedule: Schedule, *, error: str, status_line: str, now: float, retry_at: float
    ) -> None:
        """A fetch that got nothing usable: try again at `retry_at` (the step does not move)."""
        with self.store.write() as tx:
            tx._run(
                "UPDATE report_schedules SET next_at = ?, failures = failures + 1, "
                "last_fetch_at = ?, last_error = ? WHERE batch_id = ? AND chunk_index = ?",
                [retry_at, now, error, schedule.batch_id, schedule.chunk_index],
            )
            self._audit(
                tx,
                AuditEvent.REPORT_FETCH_FAILED,
                schedule,
                now,
                eapi_batch_id=schedule.eapi_batch_id,
                error=error,
                status_line=status_line,
                failures=schedule.failures + 1,
                retry_in=round(retry_at - now, 3),
            )

    def give_up(self, schedule: Schedule, *, error: str, now: float) -> DeliveryNews:
        """No usable answer long after the last delay: stop, and pending becomes unknown."""
        with self.store.write() as tx:
            closed = self._close(tx, schedule, now)
            tx._run(
                "UPDATE report_schedules SET next_at = NULL, last_fetch_at = ?, last_error = ? "
                "WHERE batch_id = ? AND chunk_index = ?",
                [now, error, schedule.batch_id, schedule.chunk_index],
            )
            news = self._news(tx, schedule.batch_id, now, closed, any_report=False)
            self._audit(
                tx, AuditEvent.REPORTS_CLOSED, schedule, now, made_unknown=closed, error=error
            )
        return news

    def _close(self, tx: Tx, schedule: Schedule, now: float) -> int:
        """Every message of the submission still pending becomes unknown; returns how many."""
        return tx._run(
            "UPDATE report_messages SET state = ?, updated_at = ? "
            "WHERE batch_id = ? AND chunk_index = ? AND state = ?",
            [_UNKNOWN, now, schedule.batch_id, schedule.chunk_index, _PENDING],
        )

    def record_push(self, eapi_batch_id: int, report: ReportRow, now: float) -> DeliveryNews | None:
        """Apply one pushed report; None when its batch_id is none of ours."""
        with self.store.write() as tx:
            row = tx._one(
                "SELECT batch_id, chunk_index FROM chunks WHERE eapi_batch_id = ?",
                [eapi_batch_id],
            )
            if row is None:
                return None
            batch_id, chunk_index = int(row[0]), int(row[1])
            changed = self._apply(tx, batch_id, chunk_index, [report], now, push=True)
            news = self._news(tx, batch_id, now, changed, any_report=True)
            if changed:
                tx.audit(
                    AuditEvent.REPORT_PUSHED,
                    at=now,
                    actor=ACTOR,
                    batch_id=batch_id,
                    chunk_index=chunk_index,
                    channel_id=self._channel(tx, batch_id),
                    detail={
                        "eapi_batch_id": eapi_batch_id,
                        "msisdn": report.msisdn,
                        "status_code": report.status_code,
                        "state": report.state.value,
                        "counts": _counts_detail(news.counts),
                    },
                )
        return news

    # Inside a transaction

    def _apply(
        self,
        tx: Tx,
        batch_id: int,
        chunk_index: int,
        reports: Sequence[ReportRow],
        now: float,
        *,
        push: bool = False,
    ) -> int:
        """Apply reports to one submission's messages; returns how many changed."""
        if not reports:
            return 0
        messages = tx._rows(
            "SELECT position, msisdn, source_id, state, status_code FROM report_messages "
            "WHERE batch_id = ? AND chunk_index = ? ORDER BY position",
            [batch_id, chunk_index],
        )
        if push:  # one report: prefer a message of that number that is not final yet
            messages = sorted(messages, key=lambda r: DeliveryState(r["state"]).final)
        updates = []
        for message, report in _match(messages, reports):
            if report.status_code == BLOCKED_STATUS:  # the number refuses us: never again
                evidence = f"batch {batch_id}, submission {chunk_index + 1}, status 32"
                suppress(
                    tx, message["msisdn"], Source.REPORT, actor=ACTOR, at=now, evidence=evidence
                )
            change = _changed(message["state"], message["status_code"], report)
            if change is not None:
                state, code = change
                values = (state.value, code, report.completed_time, now)
                updates.append((*values, batch_id, chunk_index, message["position"]))
        tx._conn.executemany(
            "UPDATE report_messages SET state = ?, status_code = ?, "
            "completed_time = COALESCE(?, completed_time), updated_at = ? "
            "WHERE batch_id = ? AND chunk_index = ? AND position = ?",
            updates,
        )
        return len(updates)

    def _sooner_if_final(self, tx: Tx, schedule: Schedule, next_at: float) -> float | None:
        """No further fetch when no message of the submission is pending or unknown any more."""
        row = tx._one(
            "SELECT 1 FROM report_messages WHERE batch_id = ? AND chunk_index = ? "
            "AND state IN (?, ?) LIMIT 1",
            [schedule.batch_id, schedule.chunk_index, _PENDING, _UNKNOWN],
        )
        return next_at if row is not None else None

    def _news(
        self, tx: Tx, batch_id: int, now: float, changed: int, *, any_report: bool
    ) -> DeliveryNews:
        """The batch's counts, and whether the thread should be told (first reports, or final)."""
        counts = _counts(tx._conn, batch_id)
        if not counts.total:  # approved before reports were kept: nothing to tell
            return DeliveryNews(batch_id, counts, False, False, changed)
        row = tx._one(
            "SELECT state, delivery_first_at, delivery_final_at FROM batches WHERE id = ?",
            [batch_id],
        )
        assert row is not None  # report rows exist only for stored batches
        sending_done = BatchState(row["state"]).final
        final = sending_done and counts.pending == 0 and not self._open_schedules(tx, batch_id)
        announce = False
        if final and row["delivery_final_at"] is None:
            tx._run(
                "UPDATE batches SET delivery_final_at = ?, "
                "delivery_first_at = COALESCE(delivery_first_at, ?) WHERE id = ?",
                [now, now, batch_id],
            )
            announce = True
        elif any_report and row["delivery_first_at"] is None:
            tx._run("UPDATE batches SET delivery_first_at = ? WHERE id = ?", [now, batch_id])
            announce = True
        return DeliveryNews(batch_id, counts, announce, final, changed)

    def _open_schedules(self, tx: Tx, batch_id: int) -> bool:
        """True while a submission of the batch still has a fetch to come with pending rows."""
        row = tx._one(
            "SELECT 1 FROM report_schedules s WHERE s.batch_id = ? AND s.next_at IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM report_messages m WHERE m.batch_id = s.batch_id "
            "AND m.chunk_index = s.chunk_index AND m.state = ?) LIMIT 1",
            [batch_id, _PENDING],
        )
        return row is not None

    def _channel(self, tx: Tx, batch_id: int) -> str | None:
        row = tx._one("SELECT channel_id FROM batches WHERE id = ?", [batch_id])
        return None if row is None else str(row[0])

    def _audit(
        self, tx: Tx, event: AuditEvent, schedule: Schedule, now: float, **detail: Any
    ) -> None:
        self._audit_at(tx, event, (schedule.batch_id, schedule.chunk_index), now, **detail)

    def _audit_at(
        self, tx: Tx, event: AuditEvent, chunk: tuple[int, int], now: float, **detail: Any
    ) -> None:
        tx.audit(
            event,
            at=now,
            actor=ACTOR,
            batch_id=chunk[0],
            chunk_index=chunk[1],
            channel_id=self._channel(tx, chunk[0]),
            detail=detail,
        )

    def _audit_fetch(
        self,
        tx: Tx,
        schedule: Schedule,
        now: float,
        reports: Sequence[ReportRow],
        changed: int,
        skipped: int,
        status_line: str,
        news: DeliveryNews,
    ) -> None:
        by_state: dict[str, int] = defaultdict(int)
        for report in reports:
            by_state[report.state.value] += 1
        self._audit(
            tx,
            AuditEvent.REPORT_FETCHED,
            schedule,
            now,
            eapi_batch_id=schedule.eapi_batch_id,
            status_line=status_line,
            rows=len(reports),
            rows_by_state=dict(sorted(by_state.items())),
            changed=changed,
            skipped=skipped,
            fetch=schedule.fetches + 1,
            batch_counts=_counts_detail(news.counts),
        )


def _counts_detail(counts: DeliveryCounts) -> dict[str, int]:
    return {s.value: getattr(counts, s.value) for s in DeliveryState}
