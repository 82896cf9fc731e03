"""The SQLite store: every SQL statement of smsbatch lives here (schema: `migrations`).

One connection per thread (WAL, `busy_timeout`, `synchronous=FULL` so that a committed outbox
row survives a power cut; `write(durable=False)` for the sender's answers, which reach the disk
with the next durable commit or `flush_to_disk`, called before anything is shown in Slack),
opened in autocommit mode; every write is one `BEGIN IMMEDIATE`
transaction taken through `Store.write()`, which yields a `Tx` holding the write statements.
A state change is a conditional update (`... WHERE state = 'pending'`) written in the same
transaction as its audit entry, so of many concurrent deciders exactly one changes anything.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.codec import plan_digest, plan_from_json
from bot.errors import BatchNotFound, StoreError
from bot.intake.summary import FIGURE_COLUMNS, rejected_from_json
from bot.model import BatchPlan, BatchState, RejectedRow
from bot.store import migrations
from bot.store.audit import AuditEntry, AuditEvent, ChainEnd, seal
from bot.store.migrations import STOP_DUP_MODULUS
from bot.store.records import (
    AttemptAnswer,
    BatchHeader,
    BatchRecord,
    ChunkRecord,
    HealthSnapshot,
    NewChunk,
    UploadRecord,
    audit_entry,
    batch_header,
    batch_record,
    chunk_record,
    upload_record,
)

__all__ = [
    "AttemptAnswer",
    "BatchHeader",
    "BatchRecord",
    "ChunkRecord",
    "HealthSnapshot",
    "NewChunk",
    "Reader",
    "Store",
    "Tx",
    "UploadRecord",
]

BUSY_TIMEOUT_MS = 15_000
ACTIVE = (BatchState.APPROVED.value, BatchState.SENDING.value)
OPEN_CHUNK_STATES = ("queued", "sending")
FINAL_CHUNK_STATES = ("accepted", "scheduled", "failed", "unknown")
# Final batch states the sender reports (a cancellation is answered by the Slack layer itself).
REPORTED_BATCH_STATES = tuple(
    s.value for s in BatchState if s.final and s is not BatchState.CANCELLED
)


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL, retried: SQLite answers "locked" at once (the busy timeout does not
    apply) while another connection is switching a new database to WAL."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


_HEADER_COLUMNS = (
    "id, state, options, digest, source_kind, file_id, file_name, prepared_by, "
    "channel_id, thread_ts, card_channel, card_ts, created_at, decided_by, decided_at, "
    "approved_seq, finished_at, simulated, reported_at, stopped_at, stopped_by, "
    f"{', '.join(FIGURE_COLUMNS)}, preview"
)
# The header never names `plan`: a big batch's plan is megabytes of JSON to copy and decode.
# It and the upload live in `batch_content` (migration 0009), so that reading or updating a
# batch's row never walks or rewrites them.
_SELECT_HEADER = f"SELECT {_HEADER_COLUMNS} FROM batches "  # noqa: S608 - constant names
_WITH_CONTENT = "FROM batches JOIN batch_content ON batch_content.batch_id = batches.id "
_SELECT_BATCH = f"SELECT {_HEADER_COLUMNS}, plan {_WITH_CONTENT}"
_SELECT_CHUNK = (
    "SELECT id, batch_id, chunk_index, dca, messages, params_sha256, stop_dup_id, state, attempts, "
    "status_code, description, eapi_batch_id, reason, first_attempt_at, next_attempt_at, "
    "finished_at, reported_at, stopped_at FROM chunks "
)
_SELECT_UPLOAD = (
    "SELECT file_id, channel_id, user_id, thread_ts, file, state, claimed_at, attempts, "
    "batch_id, answered_at, answer FROM uploads "
)
# Durable reporting; only "?" marks are formatted into these statements.
_IN_FINAL_CHUNK = f"state IN ({', '.join('?' * len(FINAL_CHUNK_STATES))})"
_IN_REPORTED_BATCH = f"state IN ({', '.join('?' * len(REPORTED_BATCH_STATES))})"
_UNREPORTED_CHUNKS = (
    f"{_SELECT_CHUNK}WHERE reported_at IS NULL AND {_IN_FINAL_CHUNK} ORDER BY batch_id, chunk_index"
)
_UNREPORTED_BATCHES = (
    "SELECT id, state FROM batches "  # noqa: S608
    f"WHERE reported_at IS NULL AND {_IN_REPORTED_BATCH} ORDER BY id"
)
_MARK_CHUNK = (
    "UPDATE chunks SET reported_at = ? WHERE batch_id = ? AND chunk_index = ? "  # noqa: S608
    f"AND reported_at IS NULL AND {_IN_FINAL_CHUNK}"
)
_MARK_BATCH = (
    "UPDATE batches SET reported_at = ? WHERE id = ? "  # noqa: S608
    f"AND reported_at IS NULL AND {_IN_REPORTED_BATCH}"
)


def stored_plan_digest(path: str, batch_id: int) -> str:
    """`plan_digest` of a batch's stored plan, read over a read-only connection of this
    process's own: the planner's worker checks a 100,000-message plan (26 MB of JSON) without
    the app's process reading or sending it. PLAN_DECODE_ERRORS if the plan is damaged."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        sql = "SELECT CAST(plan AS BLOB) FROM batch_content WHERE batch_id = ?"
        row = conn.execute(sql, [batch_id]).fetchone()
    finally:
        conn.close()
    if row is None:
        raise BatchNotFound(f"there is no batch {batch_id}")
    return plan_digest(row[0])


class _Reader:
    """The read queries, shared by `Store` (autocommit) and `Tx` (inside the transaction)."""

    def __init__(self, connection: Callable[[], sqlite3.Connection]) -> None:
        self._db = connection

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db().execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db().execute(sql, params).fetchone()
        return row

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read, for the store's area modules (`suppression`, `inbox`)."""
        return self._rows(sql, params)

    def _batch_row(self, select: str, batch_id: int) -> sqlite3.Row:
        row = self._one(select + "WHERE id = ?", [batch_id])
        if row is None:
            raise BatchNotFound(
                f"there is no batch {batch_id}; `/smsbatch status` lists recent ones"
            )
        return row

    def batch(self, batch_id: int) -> BatchRecord:
        """The batch with this id, its plan decoded; `BatchNotFound` if there is none."""
        return batch_record(self._batch_row(_SELECT_BATCH, batch_id))

    def batch_header(self, batch_id: int) -> BatchHeader:
        """The batch without its messages (from columns only); `BatchNotFound` if none."""
        return batch_header(self._batch_row(_SELECT_HEADER, batch_id))

    def stored_plan(self, batch_id: int, digest: str) -> BatchPlan:
        """The batch's plan, decoded, as long as it still has this digest (else StoreError)."""
        sql = f"SELECT plan {_WITH_CONTENT}WHERE id = ? AND digest = ?"
        row = self._one(sql, [batch_id, digest])
        if row is None:
            self._batch_row("SELECT id FROM batches ", batch_id)  # BatchNotFound for a wrong id
            raise StoreError(f"batch {batch_id} was re-planned since it was read; read it again")
        return plan_from_json(row["plan"])

    def plan_bytes(self, batch_id: int) -> bytes:
        """The batch's plan as stored (UTF-8 JSON, not decoded), to check it against its digest."""
        row = self._batch_row(f"SELECT CAST(plan AS BLOB) AS plan {_WITH_CONTENT}", batch_id)
        return bytes(row["plan"])

    def rejected_rows(self, batch_id: int) -> list[RejectedRow]:
        """Every rejected row of the batch (read without its plan)."""
        row = self._batch_row("SELECT rejected_rows FROM batches ", batch_id)
        if row["rejected_rows"] is None:
            raise StoreError(f"batch {batch_id} is damaged: its stored plan cannot be read")
        return rejected_from_json(row["rejected_rows"])

    def chunks(self, batch_id: int) -> list[ChunkRecord]:
        """The batch's chunks in order (none before approval)."""
        sql = _SELECT_CHUNK + "WHERE batch_id = ? ORDER BY chunk_index"
        return [chunk_record(r) for r in self._rows(sql, [batch_id])]

    def chunk(self, chunk_id: int) -> ChunkRecord:
        """One chunk by its row id."""
        row = self._one(_SELECT_CHUNK + "WHERE id = ?", [chunk_id])
        if row is None:
            raise StoreError(f"chunk {chunk_id} is not in the database")
        return chunk_record(row)

    def queue_position(self, batch_id: int) -> int | None:
        """1 + the active batches approved before this one; None unless it is active."""
        row = self._one(
            "SELECT 1 + (SELECT COUNT(*) FROM batches o WHERE o.state IN (?, ?) "
            "AND o.approved_seq < b.approved_seq) "
            "FROM batches b WHERE b.id = ? AND b.state IN (?, ?)",
            [*ACTIVE, batch_id, *ACTIVE],
        )
        return None if row is None else int(row[0])

    def recent(self, limit: int, channel_id: str | None = None) -> list[BatchHeader]:
        """The newest batches first (headers: no plan), optionally of one channel."""
        if channel_id is None:
            rows = self._rows(_SELECT_HEADER + "ORDER BY id DESC LIMIT ?", [limit])
        else:
            sql = _SELECT_HEADER + "WHERE channel_id = ? ORDER BY id DESC LIMIT ?"
            rows = self._rows(sql, [channel_id, limit])
        return [batch_header(r) for r in rows]

    def attempt_history(self, chunk_id: int) -> tuple[bool, int]:
        """(any attempt may have been processed unseen, number of 26/28 answers) for a chunk.

        An attempt may have been processed when it got no EAPI status code at all: a timeout,
        a lost connection, an HTTP error page, an unreadable answer, or a crash mid-request.
        """
        row = self._one(
            "SELECT COALESCE(SUM(status_code IS NULL AND outcome IN ('retry', 'interrupted')), 0),"
            " COALESCE(SUM(outcome = 'retry_later'), 0) FROM attempts WHERE chunk_id = ?",
            [chunk_id],
        )
        return (False, 0) if row is None else (int(row[0]) > 0, int(row[1]))

    def upload(self, file_id: str) -> UploadRecord | None:
        """The claim of one uploaded file, or None if it was never claimed."""
        row = self._one(_SELECT_UPLOAD + "WHERE file_id = ?", [file_id])
        return None if row is None else upload_record(row)

    def audit_chain_end(self) -> ChainEnd | None:
        """The newest audit entry's id and hash (not its detail, which may be large), or None
        for an empty log."""
        row = self._one("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
        return None if row is None else ChainEnd(int(row[0]), str(row[1]))

    def lease_owner(self, now: float) -> str | None:
        """Who holds an unexpired lease, if anyone."""
        row = self._one("SELECT owner FROM sender_lease WHERE id = 1 AND expires_at > ?", [now])
        return None if row is None else str(row[0])

    def unreported_chunks(self) -> list[ChunkRecord]:
        """Final chunks whose result no notifier has confirmed as posted, in batch order."""
        rows = self._rows(_UNREPORTED_CHUNKS, FINAL_CHUNK_STATES)
        return [chunk_record(r) for r in rows]

    def unreported_batches(self) -> list[tuple[int, BatchState]]:
        """(id, state) of finished or expired batches whose FINISHED report was never confirmed."""
        rows = self._rows(_UNREPORTED_BATCHES, REPORTED_BATCH_STATES)
        return [(int(r["id"]), BatchState(r["state"])) for r in rows]


Reader = _Reader  # the read queries, as the store's area modules take them


class Tx(_Reader):
    """The write statements, valid only inside `Store.write()` (one BEGIN IMMEDIATE)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(lambda: conn)
        self._conn = conn
        # The chain's end as this transaction last wrote it: BEGIN IMMEDIATE holds the write
        # lock, so no other entry can come in between (the audit_log_chained trigger checks).
        self._chain_end: ChainEnd | None = None

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement in this transaction, for the store's area modules; rows changed."""
        return self._run(sql, params)

    def audit(
        self,
        event: AuditEvent,
        *,
        at: float,
        actor: str,
        batch_id: int | None = None,
        chunk_index: int | None = None,
        channel_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry to the hash chain, in this transaction."""
        entry = seal(
            self._chain_end or self.audit_chain_end(),
            at=at,
            event=event,
            actor=actor,
            batch_id=batch_id,
            chunk_index=chunk_index,
            channel_id=channel_id,
            detail=detail,
        )
        self._run(
            "INSERT INTO audit_log (id, at, event, batch_id, chunk_index, actor, channel_id, "
            "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*entry.hashed(), entry.hash],
        )
        self._chain_end = ChainEnd(entry.id, entry.hash)
        return entry

    def insert_batch(self, fields: dict[str, Any]) -> int:
        """A new pending batch (its `plan` and `source` among the fields); returns its id."""
        row = {k: v for k, v in fields.items() if k not in ("plan", "source")}
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        sql = f"INSERT INTO batches ({names}) VALUES ({marks})"  # noqa: S608 - our own keys
        batch_id = int(self._conn.execute(sql, list(row.values())).lastrowid or 0)
        self._run(
            "INSERT INTO batch_content (batch_id, plan, source) VALUES (?, ?, ?)",
            [batch_id, fields["plan"], fields["source"]],
        )
        return batch_id

    def link_upload(self, file_id: str, batch_id: int) -> bool:
        """Record the batch prepared from a claimed upload; False if it has one (or no claim)."""
        sql = "UPDATE uploads SET batch_id = ? WHERE file_id = ? AND batch_id IS NULL"
        return self._run(sql, [batch_id, file_id]) == 1

    def replan(self, batch_id: int, fields: dict[str, Any]) -> bool:
        """New plan columns (plan, options, digest, summary) for a pending batch; False if it
        is no longer pending."""
        row = {k: v for k, v in fields.items() if k != "plan"}
        assignments = ", ".join(f"{name} = ?" for name in row)
        sql = f"UPDATE batches SET {assignments} WHERE id = ? AND state = ?"  # noqa: S608 - our keys
        if self._run(sql, [*row.values(), batch_id, BatchState.PENDING.value]) != 1:
            return False
        plan = "UPDATE batch_content SET plan = ? WHERE batch_id = ?"
        return self._run(plan, [fields["plan"], batch_id]) == 1

    def set_card(self, batch_id: int, channel_id: str, ts: str) -> None:
        """Remember where the preview card was posted."""
        self._run(
            "UPDATE batches SET card_channel = ?, card_ts = ? WHERE id = ?",
            [channel_id, ts, batch_id],
        )

    def decide(
        self, batch_id: int, to: BatchState, actor: str, at: float, digest: str | None = None
    ) -> bool:
        """pending -> approved/cancelled/expired (with the approval order); False if not pending.

        With `digest`, the update also requires the stored digest to be exactly that one.
        """
        seq = None
        if to is BatchState.APPROVED:
            row = self._one("SELECT COALESCE(MAX(approved_seq), 0) + 1 FROM batches")
            seq = int(row[0]) if row is not None else 1
        finished = at if to.final else None
        params: list[Any] = [to.value, actor, at, seq, finished, batch_id, BatchState.PENDING.value]
        if digest is None:
            sql = (
                "UPDATE batches SET state = ?, decided_by = ?, decided_at = ?, approved_seq = ?, "
                "finished_at = ? WHERE id = ? AND state = ?"
            )
        else:
            sql = (
                "UPDATE batches SET state = ?, decided_by = ?, decided_at = ?, approved_seq = ?, "
                "finished_at = ? WHERE id = ? AND state = ? AND digest = ?"
            )
            params.append(digest)
        return self._run(sql, params) == 1

    def allocate_stop_dup_id(self) -> int:
        """The next stop_dup_id: (base + seq) % 2147483647 + 1 from a sequence that only grows.

        Never from the clock and never repeated within one database: the sequence is persisted
        in the same transaction as the chunk that uses it, and triggers refuse to lower or reset
        it. Across a re-created database the random base (drawn with `secrets` at creation)
        makes a clash with the old database's recent ids unlikely but not impossible: with n
        ids used by each inside the EAPI's de-duplication window the two ranges overlap with
        probability about 2n / 2^31 (1 in 100,000 for n = 10,000). A clash would make the EAPI
        ignore a submission as a duplicate (reported as accepted). Ids also wrap after
        2^31 - 1 submissions, and another program sending on the same account with its own
        ids shares the namespace; neither can be ruled out from here.
        """
        row = self._one("SELECT base, next_seq FROM stop_dup_sequence WHERE id = 1")
        if row is None:
            raise StoreError("the stop_dup_id sequence is missing: the database is damaged")
        self._run("UPDATE stop_dup_sequence SET next_seq = next_seq + 1 WHERE id = 1")
        return (int(row["base"]) + int(row["next_seq"])) % STOP_DUP_MODULUS + 1

    def insert_chunk(self, batch_id: int, chunk: NewChunk) -> None:
        """Materialise one chunk, queued, with its final parameters (in `chunk_params`, apart
        from the row the sender updates) and stop_dup_id."""
        inserted = self._conn.execute(
            "INSERT INTO chunks (batch_id, chunk_index, dca, messages, params_sha256, "
            "stop_dup_id, state) VALUES (?, ?, ?, ?, ?, ?, 'queued')",
            [
                batch_id,
                chunk.index,
                chunk.dca.value,
                chunk.messages,
                chunk.params_sha256,
                chunk.stop_dup_id,
            ],
        )
        self._run(
            "INSERT INTO chunk_params (chunk_id, params) VALUES (?, ?)",
            [inserted.lastrowid, chunk.params_json],
        )

    def start_attempt(self, chunk: ChunkRecord, owner: str, now: float) -> int:
        """Record an attempt before its request goes out (the outbox); returns its number."""
        number = chunk.attempts + 1
        self._run(
            "INSERT INTO attempts (chunk_id, number, stop_dup_id, owner, started_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [chunk.id, number, chunk.stop_dup_id, owner, now],
        )
        self._run(
            "UPDATE chunks SET state = 'sending', attempts = ?, next_attempt_at = NULL, "
            "first_attempt_at = COALESCE(first_attempt_at, ?) WHERE id = ?",
            [number, now, chunk.id],
        )
        self._run(
            "UPDATE batches SET state = ? WHERE id = ? AND state = ?",
            [BatchState.SENDING.value, chunk.batch_id, BatchState.APPROVED.value],
        )
        return number

    def finish_attempt(self, chunk_id: int, number: int, now: float, answer: AttemptAnswer) -> bool:
        """Record what an open attempt came back with; False if it was closed already."""
        sql = (
            "UPDATE attempts SET finished_at = ?, outcome = ?, http_status = ?, "
            "status_code = ?, raw_answer = ?, error = ?, duration = ? "
            "WHERE chunk_id = ? AND number = ? AND finished_at IS NULL"
        )
        values = [now, answer.outcome, answer.http_status, answer.status_code]
        values += [answer.raw_answer, answer.error, answer.duration, chunk_id, number]
        return self._run(sql, values) == 1

    def update_chunk(self, chunk_id: int, **fields: Any) -> None:
        """Set some of a chunk's state columns."""
        allowed = {"state", "status_code", "description", "eapi_batch_id", "reason"}
        allowed |= {"next_attempt_at", "finished_at", "reported_at"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"cannot update chunk columns {sorted(set(fields) - allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        sql = f"UPDATE chunks SET {assignments} WHERE id = ?"  # noqa: S608 - allowed names only
        self._run(sql, [*fields.values(), chunk_id])

    def finish_batch(self, batch_id: int, state: BatchState, now: float) -> bool:
        """An active batch reaches its final state; False if it was not active."""
        return (
            self._run(
                "UPDATE batches SET state = ?, finished_at = ? WHERE id = ? AND state IN (?, ?)",
                [state.value, now, batch_id, *ACTIVE],
            )
            == 1
        )

    def holds_lease(self, owner: str, now: float) -> bool:
        """True while `owner` holds the unexpired lease (a read: nothing is renewed)."""
        sql = "SELECT 1 FROM sender_lease WHERE id = 1 AND owner = ? AND expires_at > ?"
        return self._one(sql, [owner, now]) is not None

    def hold_lease(
        self, owner: str, now: float, ttl: float, *, replacing: str | None = None
    ) -> bool:
        """Take or renew the single sender lease; False while another owner's is unexpired.

        `replacing` names a holder known to be dead: its unexpired lease is taken over too.
        """
        row = self._one("SELECT owner, expires_at FROM sender_lease WHERE id = 1")
        if row is not None and row["owner"] not in (owner, replacing) and row["expires_at"] > now:
            return False
        self._run(
            "INSERT INTO sender_lease (id, owner, acquired_at, expires_at, heartbeat_at) "
            "VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "acquired_at = CASE WHEN owner = excluded.owner THEN acquired_at "
            "ELSE excluded.acquired_at END, owner = excluded.owner, "
            "expires_at = excluded.expires_at, heartbeat_at = excluded.heartbeat_at, "
            "released_at = NULL",
            [owner, now, now + ttl, now],
        )
        return True


class Store(_Reader):
    """The database: thread-local connections, migrations applied on open."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        """Prefer `Store.open`, which also checks the file and applies migrations."""
        super().__init__(self._connection)
        self.path = Path(path)
        self._busy_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._uri = self.path.absolute().as_uri() + "?mode=rwc"
        self._unsynced = 0  # `durable=False` commits `flush_to_disk` has not synced yet

    @classmethod
    def open(
        cls, path: Path, *, create: bool = True, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> Store:
        """Open (and with `create`, create) the database and bring its schema up to date."""
        path = Path(path)
        if not create and not path.is_file():
            raise StoreError(f"no database at {path}: check SMSBATCH_DB")
        store = cls(path, busy_timeout_ms=busy_timeout_ms)
        try:
            migrations.apply(Database(store._connection()))
        except sqlite3.DatabaseError as exc:
            store.close()
            raise StoreError(f"cannot open the database at {path}: {exc}") from exc
        return store

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._uri,
                uri=True,
                timeout=self._busy_ms / 1000,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # only `close()` touches another thread's connection
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            _enable_wal(conn, self._busy_ms / 1000)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened (call once, when the process stops)."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Tx]:
        """One write transaction (BEGIN IMMEDIATE): committed on success, else rolled back.

        `durable=False` commits without waiting for the disk (`synchronous=NORMAL`): the
        transaction survives a crash of the process at once, and a power cut once the next
        durable commit or `flush_to_disk` has synced the write-ahead log, this one included.
        """
        conn = self._connection()
        if not durable:
            conn.execute("PRAGMA synchronous = NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT can leave the transaction open
                    conn.execute("ROLLBACK")
                raise
            if not durable:
                with self._lock:
                    self._unsynced += 1
        finally:
            if not durable:
                conn.execute("PRAGMA synchronous = FULL")

    def flush_to_disk(self) -> None:
        """Wait until every transaction committed so far is on disk, `durable=False` ones too.

        Syncs the write-ahead log, where such a commit's pages are until a checkpoint copies
        them into the database (SQLite syncs that after every checkpoint). Free when no
        `durable=False` commit happened since the last call.
        """
        with self._lock:
            pending = self._unsynced
        if not pending:
            return
        try:
            handle = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:  # no log: everything is in the database file
            handle = None
        if handle is not None:
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
        with self._lock:
            self._unsynced -= pending

    @contextmanager
    def snapshot(self) -> Iterator[_Reader]:
        """Several reads that see one consistent state (one read transaction)."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            yield _Reader(lambda: conn)
        finally:
            conn.execute("COMMIT")

    # Slack-side de-duplication: one INSERT OR IGNORE each, atomic on its own.

    def claim_upload(
        self,
        file_id: str,
        channel_id: str,
        user_id: str,
        now: float,
        *,
        thread_ts: str | None = None,
        file_json: str | None = None,
    ) -> bool:
        """True the first time ever this Slack file id is claimed, False afterwards.

        The claim is unanswered until `answer_upload`; `thread_ts` and the file object (JSON,
        without any token) are what a start-up needs to work on it again.
        """
        sql = "INSERT OR IGNORE INTO uploads (file_id, channel_id, user_id, claimed_at, state, "
        sql += "thread_ts, file) VALUES (?, ?, ?, ?, 'claimed', ?, ?)"
        values = [file_id, channel_id, user_id, now, thread_ts, file_json]
        return self._connection().execute(sql, values).rowcount == 1

    def unanswered_uploads(self) -> list[UploadRecord]:
        """Every claim whose answer Slack never took, oldest first."""
        sql = _SELECT_UPLOAD + "WHERE state = 'claimed' ORDER BY claimed_at, file_id"
        return [upload_record(r) for r in self._rows(sql)]

    def retry_upload(self, file_id: str) -> bool:
        """Count one more attempt at an unanswered claim; False if it is answered or unknown."""
        sql = "UPDATE uploads SET attempts = attempts + 1 WHERE file_id = ? AND state = 'claimed'"
        return self._connection().execute(sql, [file_id]).rowcount == 1

    def answer_upload(self, file_id: str, answer: str, now: float) -> bool:
        """Record that Slack took the upload's answer (`answer` says which); False if done."""
        sql = "UPDATE uploads SET state = 'answered', answered_at = ?, answer = ? "
        sql += "WHERE file_id = ? AND state = 'claimed'"
        return self._connection().execute(sql, [now, answer, file_id]).rowcount == 1

    def abandon_upload(self, file_id: str, reason: str) -> bool:
        """Stop working on an unanswered claim without answering it; False if it was done."""
        sql = "UPDATE uploads SET state = 'abandoned', answer = ? "
        sql += "WHERE file_id = ? AND state = 'claimed'"
        return self._connection().execute(sql, [reason, file_id]).rowcount == 1

    def claim_event(self, event_id: str, now: float) -> bool:
        """True the first time ever this Slack event id is claimed, False afterwards."""
        sql = "INSERT OR IGNORE INTO events (event_id, claimed_at) VALUES (?, ?)"
        return self._connection().execute(sql, [event_id, now]).rowcount == 1

    # Reads for the service and the sender.

    def batch_source(self, batch_id: int) -> tuple[bytes, str]:
        """The original upload (or pasted text, UTF-8) and its kind, for re-planning."""
        sql = f"SELECT source, source_kind {_WITH_CONTENT}WHERE id = ?"
        row = self._one(sql, [batch_id])
        if row is None:
            raise BatchNotFound(f"there is no batch {batch_id}")
        return bytes(row["source"]), str(row["source_kind"])

    def head_batch_id(self) -> int | None:
        """The active batch approved first: the only one the sender works on."""
        sql = "SELECT id FROM batches WHERE state IN (?, ?) ORDER BY approved_seq LIMIT 1"
        row = self._one(sql, ACTIVE)
        return None if row is None else int(row[0])

    def head_batch(self) -> BatchHeader | None:
        """The header of the active batch approved first (`head_batch_id`), in one read."""
        row = self._one(
            _SELECT_HEADER + "WHERE state IN (?, ?) ORDER BY approved_seq LIMIT 1", ACTIVE
        )
        return None if row is None else batch_header(row)

    def next_chunk(self, batch_id: int) -> ChunkRecord | None:
        """The batch's first chunk that is not final yet."""
        sql = _SELECT_CHUNK + "WHERE batch_id = ? AND state IN (?, ?) ORDER BY chunk_index LIMIT 1"
        row = self._one(sql, [batch_id, *OPEN_CHUNK_STATES])
        return None if row is None else chunk_record(row)

    def chunk_params(self, chunk_id: int) -> tuple[str, str]:
        """A chunk's stored parameters (JSON text; empty if their row is gone, which matches no
        SHA-256 the sender accepts) and the SHA-256 stored with them."""
        sql = (
            "SELECT COALESCE(chunk_params.params, '') AS params, chunks.params_sha256 "
            "FROM chunks LEFT JOIN chunk_params ON chunk_params.chunk_id = chunks.id "
            "WHERE chunks.id = ?"
        )
        row = self._one(sql, [chunk_id])
        if row is None:
            raise StoreError(f"chunk {chunk_id} is not in the database")
        return str(row["params"]), str(row["params_sha256"])

    def open_attempts(self) -> list[tuple[int, int]]:
        """(chunk id, attempt number) of every attempt recorded without an answer."""
        sql = "SELECT chunk_id, number FROM attempts WHERE finished_at IS NULL ORDER BY id"
        return [(int(r[0]), int(r[1])) for r in self._rows(sql)]

    def pending_older_than(self, cutoff: float) -> list[int]:
        """Ids of pending batches created at or before `cutoff`."""
        sql = "SELECT id FROM batches WHERE state = ? AND created_at <= ? ORDER BY id"
        return [int(r[0]) for r in self._rows(sql, [BatchState.PENDING.value, cutoff])]

    def expire_due(self, now: float, ttl_seconds: float) -> list[int]:
        """Expire pending batches older than the TTL (audit `expired`); returns their ids."""
        expired = []
        for batch_id in self.pending_older_than(now - ttl_seconds):
            with self.write() as tx:
                if tx.decide(batch_id, BatchState.EXPIRED, "system", now):
                    batch = tx.batch_header(batch_id)
                    age = now - batch.created_at
                    tx.audit(
                        AuditEvent.EXPIRED,
                        at=now,
                        actor="system",
                        batch_id=batch_id,
                        channel_id=batch.channel_id,
                        detail={"reason": f"not approved within {ttl_seconds:g} s", "age": age},
                    )
                    expired.append(batch_id)
        return expired

    def audit_entries(self, batch_id: int | None = None) -> list[AuditEntry]:
        """Audit entries in chain order, all or those of one batch."""
        if batch_id is None:
            return [audit_entry(r) for r in self._rows("SELECT * FROM audit_log ORDER BY id")]
        sql = "SELECT * FROM audit_log WHERE batch_id = ? ORDER BY id"
        return [audit_entry(r) for r in self._rows(sql, [batch_id])]

    # The sender lease: one sender per database.

    def renew_lease(self, owner: str, now: float, ttl: float) -> bool:
        """Extend our lease and beat the heart; False if the lease is no longer ours."""
        sql = (
            "UPDATE sender_lease SET expires_at = ?, heartbeat_at = ?, released_at = NULL "
            "WHERE id = 1 AND owner = ?"
        )
        return self._connection().execute(sql, [now + ttl, now, owner]).rowcount == 1

    def release_lease(self, owner: str, now: float | None = None) -> None:
        """Give the lease up at once, so that another process may take over (`health` tells)."""
        at = time.time() if now is None else now
        sql = "UPDATE sender_lease SET expires_at = 0, released_at = ? WHERE id = 1 AND owner = ?"
        self._connection().execute(sql, [at, owner])

    # Durable reporting: final results are reported until the Slack layer confirms them.

    def mark_reported(self, batch_id: int, chunk_index: int | None, now: float) -> bool:
        """Record that a final chunk result (or, with None, the batch's end) was posted.

        False when there is nothing unconfirmed to mark (already marked, or not final).
        """
        if chunk_index is None:
            sql, params = _MARK_BATCH, [now, batch_id, *REPORTED_BATCH_STATES]
        else:
            sql, params = _MARK_CHUNK, [now, batch_id, chunk_index, *FINAL_CHUNK_STATES]
        return self._connection().execute(sql, params).rowcount == 1

    def health(self, now: float) -> HealthSnapshot:
        """Heartbeat age, queue length and ages, from one consistent read."""
        with self.snapshot() as read:
            lease = read._one(
                "SELECT owner, expires_at, heartbeat_at, released_at FROM sender_lease"
            )
            queue = read._one(
                "SELECT COUNT(*), MIN(decided_at) FROM batches WHERE state IN (?, ?)", ACTIVE
            )
            answer = read._one(
                "SELECT MAX(finished_at) FROM attempts WHERE status_code IS NOT NULL"
            )

        def age(value: Any) -> float | None:
            """Seconds since a stored time, or None."""
            return None if value is None else max(0.0, now - float(value))

        return HealthSnapshot(
            db_ok=True,
            sender_owner=None if lease is None else str(lease["owner"]),
            heartbeat_age_seconds=None if lease is None else age(lease["heartbeat_at"]),
            lease_expires_in_seconds=None if lease is None else lease["expires_at"] - now,
            queue_length=0 if queue is None else int(queue[0]),
            oldest_approved_age_seconds=None if queue is None else age(queue[1]),
            last_answer_age_seconds=None if answer is None else age(answer[0]),
            lease_released_at=None if lease is None else lease["released_at"],
        )
