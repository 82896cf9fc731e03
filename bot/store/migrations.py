"""The database schema as ordered migrations (sqlite-utils `Migrations`).

Never edit a migration that has run somewhere: add a new one. `apply(db)` runs inside one
`BEGIN IMMEDIATE` transaction, so two processes opening a new database at once cannot both
create it; sqlite-utils then wraps each migration in a savepoint and records it in
`_sqlite_migrations`.

Times are unix seconds (REAL, UTC) except `audit_log.at`, which is UTC ISO-8601 text because the
audit log is read by people and by tools that know nothing of this code.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bot.codec import PLAN_DECODE_ERRORS, plan_from_json
from bot.intake.summary import rejected_to_json, summarise, summary_columns

STOP_DUP_MODULUS = 2_147_483_647  # the EAPI's stop_dup_id is a positive int32: 1..2^31-1
GENESIS_HASH = "0" * 64  # the prev_hash of the first audit entry

migrations = Migrations("smsbatch")

_BATCH_STATES = (
    "'pending','approved','sending','sent','partly_sent','failed','outcome_unknown',"
    "'cancelled','expired'"
)
_CHUNK_STATES = "'queued','sending','accepted','scheduled','failed','unknown'"

_SCHEMA_1 = (
    f"""
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        state TEXT NOT NULL CHECK (state IN ({_BATCH_STATES})),
        plan TEXT NOT NULL,
        options TEXT NOT NULL,
        source BLOB NOT NULL,
        source_kind TEXT NOT NULL,
        file_id TEXT,
        file_name TEXT,
        digest TEXT NOT NULL,
        prepared_by TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        thread_ts TEXT,
        card_channel TEXT,
        card_ts TEXT,
        created_at REAL NOT NULL,
        decided_by TEXT,
        decided_at REAL,
        approved_seq INTEGER UNIQUE,
        finished_at REAL,
        simulated INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX batches_state ON batches (state, approved_seq)",
    "CREATE INDEX batches_channel ON batches (channel_id, id)",
    f"""
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        batch_id INTEGER NOT NULL REFERENCES batches (id),
        chunk_index INTEGER NOT NULL,
        dca TEXT NOT NULL,
        messages INTEGER NOT NULL,
        params TEXT NOT NULL,
        params_sha256 TEXT NOT NULL,
        stop_dup_id INTEGER NOT NULL UNIQUE CHECK (stop_dup_id BETWEEN 1 AND 2147483647),
        state TEXT NOT NULL CHECK (state IN ({_CHUNK_STATES})),
        attempts INTEGER NOT NULL DEFAULT 0,
        status_code INTEGER,
        description TEXT,
        eapi_batch_id INTEGER,
        reason TEXT,
        first_attempt_at REAL,
        next_attempt_at REAL,
        finished_at REAL,
        UNIQUE (batch_id, chunk_index)
    )
    """,
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id INTEGER NOT NULL REFERENCES chunks (id),
        number INTEGER NOT NULL,
        stop_dup_id INTEGER NOT NULL,
        owner TEXT NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL,
        outcome TEXT,
        http_status INTEGER,
        status_code INTEGER,
        raw_answer TEXT,
        error TEXT,
        duration REAL,
        UNIQUE (chunk_id, number)
    )
    """,
    "CREATE INDEX attempts_open ON attempts (finished_at, chunk_id)",
    """
    CREATE TABLE uploads (
        file_id TEXT PRIMARY KEY,
        channel_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        claimed_at REAL NOT NULL
    )
    """,
    "CREATE TABLE events (event_id TEXT PRIMARY KEY, claimed_at REAL NOT NULL)",
    """
    CREATE TABLE sender_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL
    )
    """,
    # One row; `next_seq` only grows and `base` never changes (the triggers below refuse).
    """
    CREATE TABLE stop_dup_sequence (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        base INTEGER NOT NULL CHECK (base BETWEEN 0 AND 2147483646),
        next_seq INTEGER NOT NULL CHECK (next_seq >= 0)
    )
    """,
    """
    CREATE TRIGGER stop_dup_sequence_only_grows BEFORE UPDATE ON stop_dup_sequence
    WHEN NEW.base IS NOT OLD.base OR NEW.next_seq <= OLD.next_seq
    BEGIN SELECT RAISE(ABORT, 'stop_dup_sequence never goes back: ids must never repeat'); END
    """,
    """
    CREATE TRIGGER stop_dup_sequence_kept BEFORE DELETE ON stop_dup_sequence
    BEGIN SELECT RAISE(ABORT, 'stop_dup_sequence cannot be deleted: ids must never repeat'); END
    """,
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        batch_id INTEGER,
        chunk_index INTEGER,
        actor TEXT NOT NULL,
        channel_id TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    )
    """,
    "CREATE INDEX audit_log_batch ON audit_log (batch_id, id)",
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END
    """,
    # A new entry must follow the last one: no gap in ids and no fork of the chain.
    f"""
    CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log
    WHEN NEW.id IS NOT (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log)
      OR NEW.prev_hash IS NOT COALESCE(
           (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), '{GENESIS_HASH}')
    BEGIN SELECT RAISE(ABORT, 'audit_log entries must extend the hash chain'); END
    """,  # noqa: S608 - GENESIS_HASH is a constant of zeros
)


def _execute_all(db: Database, statements: tuple[str, ...]) -> None:
    for statement in statements:
        db.execute(statement)


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    """Every table, plus the stop_dup_id sequence with its random base."""
    _execute_all(db, _SCHEMA_1)
    # A random base per database, so a re-created database does not reuse the ids of the one
    # before it (see bot.store.db.Tx.allocate_stop_dup_id for the residual risk).
    base = secrets.randbelow(STOP_DUP_MODULUS)
    db.execute("INSERT INTO stop_dup_sequence (id, base, next_seq) VALUES (1, ?, 0)", [base])


_SCHEMA_2 = (
    # When the Slack layer confirmed that a final result was posted (NULL: not yet). The sender
    # reports every unconfirmed one again when it takes the lease.
    "ALTER TABLE chunks ADD COLUMN reported_at REAL",
    "ALTER TABLE batches ADD COLUMN reported_at REAL",
    "CREATE INDEX chunks_unreported ON chunks (reported_at, state)",
    "CREATE INDEX batches_unreported ON batches (reported_at, state)",
    # Results of an older version were reported in memory, as far as anyone can tell now:
    # do not post them all again after the upgrade.
    # (The states are spelled out: a migration must not change when a constant does.)
    "UPDATE chunks SET reported_at = COALESCE(finished_at, 0) "
    "WHERE state IN ('accepted', 'scheduled', 'failed', 'unknown')",
    "UPDATE batches SET reported_at = COALESCE(finished_at, 0) "
    "WHERE state IN ('sent', 'partly_sent', 'failed', 'outcome_unknown', 'cancelled', 'expired')",
    # When the holder gave the lease up (a clean stop), for `health`; NULL while it is held.
    "ALTER TABLE sender_lease ADD COLUMN released_at REAL",
    "UPDATE sender_lease SET released_at = heartbeat_at WHERE expires_at = 0",
)


@migrations(name="0002_reported_at")
def _reported_at(db: Database) -> None:
    """reported_at on chunks and batches (at-least-once results), released_at on the lease."""
    _execute_all(db, _SCHEMA_2)


_SCHEMA_3 = (
    # An upload is claimed before it is downloaded and checked, and answered once Slack took the
    # answer (its card, or a reply saying why there is none). Claims never answered (the process
    # stopped in between) are worked on again at start-up, from what is kept here: the thread,
    # and the file object as Slack described it (id, name, size, links; never a token).
    "ALTER TABLE uploads ADD COLUMN state TEXT NOT NULL DEFAULT 'claimed' "
    "CHECK (state IN ('claimed', 'answered', 'abandoned'))",
    "ALTER TABLE uploads ADD COLUMN thread_ts TEXT",
    "ALTER TABLE uploads ADD COLUMN file TEXT",
    # How often work on it began: 1 at the claim, one more at each start-up that resumed it.
    "ALTER TABLE uploads ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1",
    # The batch prepared from it, set in the batch's own transaction: one batch per upload.
    "ALTER TABLE uploads ADD COLUMN batch_id INTEGER REFERENCES batches (id)",
    "ALTER TABLE uploads ADD COLUMN answered_at REAL",
    "ALTER TABLE uploads ADD COLUMN answer TEXT",
    # Claims of an older version were answered in memory, as far as anyone can tell now:
    # never work on them again after the upgrade.
    "UPDATE uploads SET state = 'answered', answer = 'unrecorded'",
    "CREATE INDEX uploads_unanswered ON uploads (state, claimed_at)",
)


@migrations(name="0003_upload_answers")
def _upload_answers(db: Database) -> None:
    """uploads: state, thread, file object, attempts, batch and answer (resumed at start-up)."""
    _execute_all(db, _SCHEMA_3)


_SCHEMA_4 = (
    # A batch's figures and its card's preview beside the plan, so that reading a batch for a
    # card, a status line or the sender never decodes the plan's every message (bot.intake.summary).
    "ALTER TABLE batches ADD COLUMN rows_read INTEGER",
    "ALTER TABLE batches ADD COLUMN recipients INTEGER",
    "ALTER TABLE batches ADD COLUMN parts INTEGER",
    "ALTER TABLE batches ADD COLUMN credits TEXT",  # a decimal as text: nothing is rounded
    "ALTER TABLE batches ADD COLUMN duplicate_count INTEGER",
    "ALTER TABLE batches ADD COLUMN rejected_count INTEGER",
    "ALTER TABLE batches ADD COLUMN chunk_count INTEGER",
    "ALTER TABLE batches ADD COLUMN preview TEXT",  # JSON: bot.intake.summary.summary_columns
    "ALTER TABLE batches ADD COLUMN rejected_rows TEXT",  # JSON: every rejected row, for the CSV
)


def _summary_values(plan_json: str) -> dict[str, Any] | None:
    """The new columns' values for a stored plan, or None when it cannot be decoded."""
    try:
        plan = plan_from_json(plan_json)
    except PLAN_DECODE_ERRORS:
        return None  # an unreadable plan stays unreadable: its batch reads as damaged
    return summary_columns(summarise(plan)) | {"rejected_rows": rejected_to_json(plan.rejected)}


@migrations(name="0004_batch_summaries")
def _batch_summaries(db: Database) -> None:
    """Summary columns on batches, filled for every batch already stored.

    The backfill uses today's `bot.intake.summary`; a later change to the preview's format needs its
    own migration that rewrites the column.
    """
    _execute_all(db, _SCHEMA_4)
    ids = [row[0] for row in db.execute("SELECT id FROM batches ORDER BY id").fetchall()]
    for batch_id in ids:  # one plan in memory at a time: each may be megabytes
        [(plan_json,)] = db.execute("SELECT plan FROM batches WHERE id = ?", [batch_id]).fetchall()
        values = _summary_values(plan_json)
        if values is not None:
            assignments = ", ".join(f"{name} = ?" for name in values)
            sql = f"UPDATE batches SET {assignments} WHERE id = ?"  # noqa: S608 - our own names
            db.execute(sql, [*values.values(), batch_id])


_SCHEMA_5 = (
    # One row per message of an approved batch (written with its chunks): what delivery reports
    # said of it. `source_id` is the one the submission carried (ours or the row's own), to tell
    # apart a number that appears twice in one submission; `status_code` the last report code.
    """
    CREATE TABLE report_messages (
        batch_id INTEGER NOT NULL REFERENCES batches (id),
        chunk_index INTEGER NOT NULL,
        position INTEGER NOT NULL,
        line INTEGER NOT NULL,
        msisdn TEXT NOT NULL,
        source_id TEXT,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'delivered', 'failed', 'unknown')),
        status_code INTEGER,
        completed_time TEXT,
        updated_at REAL,
        PRIMARY KEY (batch_id, chunk_index, position)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX report_messages_state ON report_messages (batch_id, state)",
    # One row per accepted submission: when its next get_report is due (NULL: no more).
    # `step` indexes SMSBATCH_REPORT_DELAYS, counted from `base_at` (acceptance, or the
    # scheduled send time); `failures` counts failed fetches in a row (retried, never spun).
    """
    CREATE TABLE report_schedules (
        batch_id INTEGER NOT NULL REFERENCES batches (id),
        chunk_index INTEGER NOT NULL,
        eapi_batch_id INTEGER NOT NULL,
        base_at REAL NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        next_at REAL,
        fetches INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        last_fetch_at REAL,
        last_error TEXT,
        PRIMARY KEY (batch_id, chunk_index)
    )
    """,
    "CREATE INDEX report_schedules_due ON report_schedules (next_at)",
    "CREATE INDEX chunks_eapi_batch ON chunks (eapi_batch_id)",
    # When the thread was told of the first reports, and of the final counts.
    "ALTER TABLE batches ADD COLUMN delivery_first_at REAL",
    "ALTER TABLE batches ADD COLUMN delivery_final_at REAL",
)


@migrations(name="0005_delivery_reports")
def _delivery_reports(db: Database) -> None:
    """Per-message delivery state and per-submission report schedules.

    Batches approved before this migration have no message rows: no reports are fetched for them.
    """
    _execute_all(db, _SCHEMA_5)


_SCHEMA_6 = (
    # The suppression list: numbers that are never sent to (normalised international digits).
    # `evidence` says why: the reply's msg_id, the report's EAPI batch id, the imported file.
    """
    CREATE TABLE suppression (
        msisdn TEXT PRIMARY KEY,
        source TEXT NOT NULL CHECK (source IN ('manual', 'import', 'reply', 'report')),
        added_by TEXT NOT NULL,
        added_at REAL NOT NULL,
        evidence TEXT
    ) WITHOUT ROWID
    """,
    # Replies read from the EAPI inbox (or pushed), once each: msg_id is the EAPI's own id.
    # `batch_id` is our batch when `referring_batch_id` is one of its submissions; `keyword` is
    # 'stop' or 'start' when the reply was one; `posted_at` is when Slack took it (NULL: not yet).
    """
    CREATE TABLE inbox (
        msg_id INTEGER PRIMARY KEY,
        sender TEXT NOT NULL,
        message TEXT NOT NULL,
        received_time TEXT NOT NULL,
        msisdn TEXT NOT NULL,
        referring_batch_id INTEGER NOT NULL,
        encoding TEXT NOT NULL,
        keyword TEXT CHECK (keyword IN ('stop', 'start')),
        batch_id INTEGER REFERENCES batches (id),
        via TEXT NOT NULL CHECK (via IN ('inbox', 'push')),
        stored_at REAL NOT NULL,
        posted_at REAL
    )
    """,
    "CREATE INDEX inbox_unposted ON inbox (posted_at, batch_id, msg_id)",
    # (chunks_eapi_batch, the index from chunks to an EAPI batch id, came with 0005.)
    # Where the last get_inbox left off; advanced only with the rows it returned.
    """
    CREATE TABLE inbox_cursor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_retrieved_id INTEGER NOT NULL,
        polled_at REAL
    )
    """,
    "INSERT INTO inbox_cursor (id, last_retrieved_id, polled_at) VALUES (1, 0, NULL)",
)


@migrations(name="0006_suppression_and_inbox")
def _suppression_and_inbox(db: Database) -> None:
    """The suppression list, the replies read from the inbox, and the inbox's cursor."""
    _execute_all(db, _SCHEMA_6)


_SCHEMA_7 = (
    # Stop: who stopped an approved batch and when. A stopped batch starts no submission after
    # this is committed; the sender checks it in the transaction that records each attempt.
    "ALTER TABLE batches ADD COLUMN stopped_at REAL",
    "ALTER TABLE batches ADD COLUMN stopped_by TEXT",
    # A chunk closed by a stop (state 'failed', never submitted); NULL for every other chunk.
    "ALTER TABLE chunks ADD COLUMN stopped_at REAL",
    # Test sends: a batch's first message to the clicking user's own phone, as its own
    # one-message submission with a stop_dup_id from the same sequence as the chunks'.
    """
    CREATE TABLE test_sends (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        batch_id INTEGER NOT NULL REFERENCES batches (id),
        user_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        thread_ts TEXT,
        msisdn TEXT NOT NULL,
        params TEXT NOT NULL,
        params_sha256 TEXT NOT NULL,
        stop_dup_id INTEGER NOT NULL UNIQUE CHECK (stop_dup_id BETWEEN 1 AND 2147483647),
        state TEXT NOT NULL
            CHECK (state IN ('queued', 'sending', 'accepted', 'scheduled', 'failed', 'unknown')),
        requested_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        http_status INTEGER,
        status_code INTEGER,
        description TEXT,
        eapi_batch_id INTEGER,
        reported_at REAL
    )
    """,
    "CREATE INDEX test_sends_state ON test_sends (state, id)",
    "CREATE INDEX test_sends_batch ON test_sends (batch_id, user_id, requested_at)",
)


@migrations(name="0007_stops_and_test_sends")
def _stops_and_test_sends(db: Database) -> None:
    """Stop columns on batches and chunks; the test_sends table."""
    _execute_all(db, _SCHEMA_7)


_SCHEMA_8 = (
    # Which database this file is: a token drawn when the app first claims the file on a
    # machine (NULL until then, and on databases made before this migration). The same token
    # sits in a marker file beside the database (bot.store.home); a database that arrives
    # without its marker was restored or copied from elsewhere, and the sender refuses it
    # until `smsbatch-bot restore` has made it safe.
    """
    CREATE TABLE db_home (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        token TEXT NOT NULL,
        claimed_at REAL NOT NULL
    )
    """,
    # One row per restore that went through the safety step (bot.store.restores).
    """
    CREATE TABLE restores (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        restored_at REAL NOT NULL,
        source TEXT NOT NULL,
        stop_dup_seq_before INTEGER NOT NULL,
        stop_dup_seq_after INTEGER NOT NULL,
        unknown_chunks INTEGER NOT NULL,
        unknown_batches INTEGER NOT NULL,
        cancelled_batches INTEGER NOT NULL
    )
    """,
)


@migrations(name="0008_restores")
def _restores(db: Database) -> None:
    """db_home (which file this is, for the restore guard) and restores (each safety step)."""
    _execute_all(db, _SCHEMA_8)


_SCHEMA_9 = (
    # A batch's plan (JSON, every message) and its upload, apart from its row: in `batches`
    # they came before most columns, so reading any of those walked every overflow page of
    # both (12 ms per read at 100,000 rows), and every update of the row (its card, its
    # decision, its end) rewrote them (290 ms of CPU and 88 MB of WAL for the card's position).
    """
    CREATE TABLE batch_content (
        batch_id INTEGER PRIMARY KEY REFERENCES batches (id),
        plan TEXT NOT NULL,
        source BLOB NOT NULL
    )
    """,
    "INSERT INTO batch_content (batch_id, plan, source) SELECT id, plan, source FROM batches",
    "ALTER TABLE batches DROP COLUMN plan",
    "ALTER TABLE batches DROP COLUMN source",
)


@migrations(name="0009_batch_content")
def _batch_content(db: Database) -> None:
    """Each batch's plan and upload moved to `batch_content`, out of the row read and updated."""
    _execute_all(db, _SCHEMA_9)


_SCHEMA_10 = (
    # A chunk's send_batch parameters (up to ~700 KB of JSON), apart from its row: every
    # change of the row's state (sending, accepted, a retry's time) changed the record's size,
    # so SQLite rewrote all its overflow pages, twice per attempt (1.4 MB of WAL each time for
    # a 700 KB chunk, one of them fsynced before the POST).
    """
    CREATE TABLE chunk_params (
        chunk_id INTEGER PRIMARY KEY REFERENCES chunks (id),
        params TEXT NOT NULL
    )
    """,
    "INSERT INTO chunk_params (chunk_id, params) SELECT id, params FROM chunks",
    "ALTER TABLE chunks DROP COLUMN params",
)


@migrations(name="0010_chunk_params")
def _chunk_params(db: Database) -> None:
    """Each chunk's parameters moved to `chunk_params`, out of the row the sender updates."""
    _execute_all(db, _SCHEMA_10)


def apply(db: Database) -> list[str]:
    """Apply pending migrations in one write transaction; return the names applied."""
    conn: Any = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        pending = [m.name for m in migrations.pending(db)]
        if pending:
            migrations.apply(db)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return pending
