"""The SQL of test sends (schema: migration 0007_stops_and_test_sends).

A test send is a batch's first message to one person's own phone: its own one-message
submission, with a stop_dup_id from the chunks' never-reused sequence, queued for the one
sender. Its states are a chunk's: queued → sending → accepted | scheduled | failed | unknown.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.store.db import Tx, _Reader

FINAL_TEST_STATES = ("accepted", "scheduled", "failed", "unknown")


@dataclass(frozen=True, slots=True)
class TestSendRecord:
    """One test send as stored (its parameters are read separately: `test_params`)."""

    __test__ = False  # not a pytest class

    id: int
    batch_id: int
    user_id: str
    channel_id: str
    thread_ts: str | None
    msisdn: str
    stop_dup_id: int
    state: str
    requested_at: float
    started_at: float | None
    finished_at: float | None
    http_status: int | None
    status_code: int | None
    description: str | None
    eapi_batch_id: int | None
    reported_at: float | None


@dataclass(frozen=True, slots=True)
class NewTestSend:
    """A test send to queue: who, where to tell them, the number and the final parameters."""

    batch_id: int
    user_id: str
    channel_id: str
    thread_ts: str | None
    msisdn: str
    params_json: str
    params_sha256: str
    stop_dup_id: int


_COLUMNS = (
    "id, batch_id, user_id, channel_id, thread_ts, msisdn, stop_dup_id, state, requested_at, "
    "started_at, finished_at, http_status, status_code, description, eapi_batch_id, reported_at"
)
_SELECT = f"SELECT {_COLUMNS} FROM test_sends "  # noqa: S608 - constant names


def _record(row: sqlite3.Row) -> TestSendRecord:
    return TestSendRecord(*(row[name] for name in _COLUMNS.split(", ")))


def insert_test_send(tx: Tx, new: NewTestSend, now: float) -> int:
    """Queue one test send; returns its id."""
    sql = (
        "INSERT INTO test_sends (batch_id, user_id, channel_id, thread_ts, msisdn, params, "
        "params_sha256, stop_dup_id, state, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        "'queued', ?)"
    )
    values = [new.batch_id, new.user_id, new.channel_id, new.thread_ts, new.msisdn]
    values += [new.params_json, new.params_sha256, new.stop_dup_id, now]
    cursor = tx._conn.execute(sql, values)
    return int(cursor.lastrowid or 0)


def last_test_at(read: _Reader, batch_id: int, user_id: str) -> float | None:
    """When this user last asked for a test of this batch, or None."""
    sql = "SELECT MAX(requested_at) FROM test_sends WHERE batch_id = ? AND user_id = ?"
    row = read._one(sql, [batch_id, user_id])
    return None if row is None or row[0] is None else float(row[0])


def find_test_send(read: _Reader, test_id: int) -> TestSendRecord | None:
    """One test send by id."""
    row = read._one(_SELECT + "WHERE id = ?", [test_id])
    return None if row is None else _record(row)


def tests_of(read: _Reader, batch_id: int) -> list[TestSendRecord]:
    """A batch's test sends, oldest first."""
    return [_record(r) for r in read._rows(_SELECT + "WHERE batch_id = ? ORDER BY id", [batch_id])]


def next_queued_test(read: _Reader) -> TestSendRecord | None:
    """The oldest test send waiting for the sender."""
    row = read._one(_SELECT + "WHERE state = 'queued' ORDER BY id LIMIT 1")
    return None if row is None else _record(row)


def stored_test_params(read: _Reader, test_id: int) -> tuple[str, str]:
    """A test send's stored parameters (JSON text) and their stored SHA-256."""
    row = read._one("SELECT params, params_sha256 FROM test_sends WHERE id = ?", [test_id])
    if row is None:
        raise LookupError(f"test send {test_id} is not in the database")
    return str(row[0]), str(row[1])


def start_test(tx: Tx, test_id: int, now: float) -> bool:
    """queued → sending, before its request goes out (the outbox); False if not queued."""
    sql = "UPDATE test_sends SET state = 'sending', started_at = ? "
    sql += "WHERE id = ? AND state = 'queued'"
    return tx._run(sql, [now, test_id]) == 1


def finish_test(
    tx: Tx,
    test_id: int,
    now: float,
    *,
    state: str,
    http_status: int | None = None,
    status_code: int | None = None,
    description: str | None = None,
    eapi_batch_id: int | None = None,
) -> bool:
    """A test send reaches its final state; False if it was final already."""
    if state not in FINAL_TEST_STATES:
        raise ValueError(f"{state!r} is not a final state of a test send")
    sql = (
        "UPDATE test_sends SET state = ?, finished_at = ?, http_status = ?, status_code = ?, "
        "description = ?, eapi_batch_id = ? WHERE id = ? AND state IN ('queued', 'sending')"
    )
    values = [state, now, http_status, status_code, description, eapi_batch_id, test_id]
    return tx._run(sql, values) == 1


def interrupted_tests(read: _Reader) -> list[TestSendRecord]:
    """Test sends whose request was under way when a sender stopped (state `sending`)."""
    return [_record(r) for r in read._rows(_SELECT + "WHERE state = 'sending' ORDER BY id")]


def unreported_tests(read: _Reader) -> list[TestSendRecord]:
    """Final test sends whose result the Slack layer never confirmed as shown."""
    marks = ", ".join("?" * len(FINAL_TEST_STATES))
    sql = _SELECT + f"WHERE reported_at IS NULL AND state IN ({marks}) ORDER BY id"
    return [_record(r) for r in read._rows(sql, FINAL_TEST_STATES)]


def mark_test_reported(read: _Reader, test_id: int, now: float) -> bool:
    """Record that the person was told the result; False if already marked or not final."""
    sql = (
        "UPDATE test_sends SET reported_at = ? WHERE id = ? AND reported_at IS NULL "
        "AND state IN ('accepted', 'scheduled', 'failed', 'unknown')"
    )
    return read._db().execute(sql, [now, test_id]).rowcount == 1
