"""The SQLite store: schema, stop_dup_id sequence, durable de-duplication, lease, expiry."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.cli import health as cmd_health
from bot.errors import StoreError
from bot.model import BatchState
from bot.store.audit import AuditEvent
from bot.store.db import Store
from bot.store.migrations import STOP_DUP_MODULUS, migrations
from bot.views import when_text
from tests.core_helpers import FakeClock, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator

TABLES = {
    "batches",
    "chunks",
    "attempts",
    "uploads",
    "events",
    "sender_lease",
    "stop_dup_sequence",
    "audit_log",
    "_sqlite_migrations",
    "report_messages",
    "report_schedules",
    "batch_content",
    "chunk_params",
}

MIGRATIONS = [
    "0001_initial",
    "0002_reported_at",
    "0003_upload_answers",
    "0004_batch_summaries",
    "0005_delivery_reports",
    "0006_suppression_and_inbox",
    "0007_stops_and_test_sends",
    "0008_restores",
    "0009_batch_content",
    "0010_chunk_params",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A new store on a temporary file."""
    opened = Store.open(tmp_path / "smsbatch.db")
    yield opened
    opened.close()


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_open_creates_every_table_in_wal_mode(store: Store) -> None:
    """A new database has every table, WAL journaling and every migration applied once."""
    raw = _raw(store.path)
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names >= TABLES
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = raw.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert applied == [(name,) for name in MIGRATIONS]


def test_changing_a_big_batch_never_rewrites_its_plan_or_upload(tmp_path: Path) -> None:
    """Recording a 20,000-row batch's card position writes a few pages to the WAL, not the
    megabytes of its plan and upload (they live in `batch_content`, apart from its row)."""
    core = make_core(tmp_path / "big.db")
    batch_id = core.prepare(csv_rows(20_000))
    raw = _raw(core.store.path)
    plan_bytes = raw.execute("SELECT length(plan) FROM batch_content").fetchone()[0]
    assert plan_bytes > 2_000_000
    core.store._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    core.service.set_card(batch_id, "C1", "1700000000.000200")
    wal = Path(f"{core.store.path}-wal").stat().st_size
    assert wal < 100_000, wal
    assert core.store.batch_header(batch_id).card_ts == "1700000000.000200"
    assert core.store.batch_source(batch_id)[0] == csv_rows(20_000)


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    """Opening an existing database keeps its data and applies no migration again."""
    first = Store.open(tmp_path / "a.db")
    assert first.claim_event("Ev1", 1.0)
    first.close()
    second = Store.open(tmp_path / "a.db")
    assert not second.claim_event("Ev1", 2.0)
    count = _raw(second.path).execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0]
    assert count == len(MIGRATIONS)
    second.close()


def test_many_threads_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Concurrent first opens serialise on the migration lock: one schema, one record each."""
    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_it() -> None:
        """Open the shared path, keeping the store or the error."""
        try:
            stores.append(Store.open(tmp_path / "race.db"))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    count = _raw(tmp_path / "race.db").execute("SELECT COUNT(*) FROM _sqlite_migrations")
    assert count.fetchone()[0] == len(MIGRATIONS)
    for opened in stores:
        opened.close()


def test_open_without_create_refuses_a_missing_file_and_creates_nothing(tmp_path: Path) -> None:
    """Auditing a path that does not exist names the path and leaves no file behind."""
    missing = tmp_path / "nope.db"
    with pytest.raises(StoreError, match="no database at"):
        Store.open(missing, create=False)
    assert not missing.exists()


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    """A text file at SMSBATCH_DB is refused with a StoreError, not a raw sqlite3 error."""
    bogus = tmp_path / "bogus.db"
    bogus.write_text("this is not a database, just text " * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open(bogus, create=False)


def _allocate(store: Store, count: int) -> list[int]:
    with store.write() as tx:
        return [tx.allocate_stop_dup_id() for _ in range(count)]


def test_stop_dup_ids_are_in_range_and_never_repeat_across_reopening(tmp_path: Path) -> None:
    """Ids continue after a restart: no id is handed out twice, all within 1..2^31-1."""
    store = Store.open(tmp_path / "ids.db")
    first = _allocate(store, 50)
    store.close()
    store = Store.open(tmp_path / "ids.db")
    second = _allocate(store, 50)
    store.close()
    ids = first + second
    assert len(set(ids)) == 100
    assert all(1 <= i <= STOP_DUP_MODULUS for i in ids)
    assert ids == [(ids[0] - 1 + n) % STOP_DUP_MODULUS + 1 for n in range(100)]


def test_a_rolled_back_allocation_is_not_reused_by_anyone_else(store: Store) -> None:
    """An id allocated in a rolled-back transaction may come again, but never two live ones."""
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.allocate_stop_dup_id()
        raise RuntimeError("abandon the transaction")
    kept = _allocate(store, 3)
    assert len(set(kept)) == 3


def test_a_recreated_database_starts_at_a_different_id(tmp_path: Path) -> None:
    """Each new database draws a random base, so ids do not restart at the same value."""
    starts = set()
    for n in range(5):
        store = Store.open(tmp_path / f"fresh{n}.db")
        starts.add(_allocate(store, 1)[0])
        store.close()
    assert len(starts) == 5


def test_the_sequence_cannot_be_lowered_reset_or_deleted(store: Store) -> None:
    """Triggers refuse any change that could make an id come back."""
    _allocate(store, 2)
    raw = _raw(store.path)
    for sql in (
        "UPDATE stop_dup_sequence SET next_seq = 0",
        "UPDATE stop_dup_sequence SET base = base + 1",
        "DELETE FROM stop_dup_sequence",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="stop_dup_sequence"):
            raw.execute(sql)


def test_ids_wrap_within_range_at_the_top_of_int32(tmp_path: Path) -> None:
    """A base just below 2^31-1 yields 2147483647 and then 1, never 0 or 2^31."""
    store = Store.open(tmp_path / "wrap.db")
    raw = _raw(store.path)
    raw.execute("DROP TRIGGER stop_dup_sequence_only_grows")
    raw.execute("UPDATE stop_dup_sequence SET base = 2147483645, next_seq = 0")
    assert _allocate(store, 3) == [2147483646, 2147483647, 1]
    store.close()


def test_upload_and_event_claims_are_true_once_ever(store: Store) -> None:
    """The first claim of a file id or event id wins; every later claim is refused."""
    assert store.claim_upload("F1", "C1", "U1", 1.0)
    assert not store.claim_upload("F1", "C2", "U2", 2.0)
    assert store.claim_upload("F2", "C1", "U1", 3.0)
    assert store.claim_event("Ev1", 1.0)
    assert not store.claim_event("Ev1", 1.5)


def test_concurrent_claims_of_one_upload_have_one_winner(store: Store) -> None:
    """Sixteen threads claiming the same file id: exactly one gets True."""
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        """Claim the shared file id and keep the answer."""
        won = store.claim_upload("Fsame", "C1", "U1", 1.0)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]


def test_a_failed_transaction_leaves_neither_state_nor_audit(tmp_path: Path) -> None:
    """A write that raises rolls back its batch change and its audit entry together."""
    core = make_core(tmp_path / "tx.db")
    batch_id = core.prepare()
    before = len(core.store.audit_entries())
    with pytest.raises(RuntimeError), core.store.write() as tx:
        assert tx.decide(batch_id, BatchState.CANCELLED, "U9", 5.0)
        tx.audit(AuditEvent.CANCELLED, at=5.0, actor="U9", batch_id=batch_id)
        raise RuntimeError("crash before commit")
    assert core.store.batch(batch_id).state is BatchState.PENDING
    assert len(core.store.audit_entries()) == before


def test_the_lease_has_one_owner_until_it_expires_or_is_released(store: Store) -> None:
    """B cannot take A's lease before it expires; B can after expiry or release."""
    with store.write() as tx:
        assert tx.hold_lease("A", 100.0, 10.0)
    with store.write() as tx:
        assert not tx.hold_lease("B", 105.0, 10.0)
    assert store.renew_lease("A", 108.0, 10.0)
    assert not store.renew_lease("B", 108.0, 10.0)
    with store.write() as tx:
        assert not tx.hold_lease("B", 117.0, 10.0)  # A renewed until 118
        assert tx.hold_lease("B", 118.5, 10.0)
    assert store.lease_owner(119.0) == "B"
    assert not store.renew_lease("A", 119.0, 10.0)
    store.release_lease("B")
    with store.write() as tx:
        assert tx.hold_lease("A", 119.5, 10.0)


def test_holding_the_lease_is_read_without_renewing_it(store: Store) -> None:
    """`holds_lease` is true only for the owner of an unexpired lease, and extends nothing."""
    with store.write() as tx:
        assert tx.hold_lease("A", 100.0, 10.0)
    with store.write() as tx:
        assert tx.holds_lease("A", 109.0)
        assert not tx.holds_lease("B", 109.0)
        assert not tx.holds_lease("A", 110.0)  # expired at 110: reading it renewed nothing
    assert store.lease_owner(109.9) == "A" and store.lease_owner(110.0) is None


def test_expire_due_expires_only_old_pending_batches(tmp_path: Path) -> None:
    """Pending batches past the TTL expire with an audit entry; younger or approved ones stay."""
    clock = FakeClock()
    core = make_core(tmp_path / "ttl.db", clock=clock)
    old = core.prepare()
    old_approved = core.approved()
    clock.advance(50)
    young = core.prepare()
    clock.advance(60)
    assert core.store.expire_due(clock(), ttl_seconds=100) == [old]
    assert core.store.batch(old).state is BatchState.EXPIRED
    assert core.store.batch(young).state is BatchState.PENDING
    assert core.store.batch(old_approved).state is BatchState.APPROVED
    expired = [e for e in core.store.audit_entries(old) if e.event == "expired"]
    assert len(expired) == 1 and expired[0].actor == "system"
    assert core.store.expire_due(clock(), ttl_seconds=100) == []


def test_health_reports_heartbeat_and_queue(tmp_path: Path) -> None:
    """The snapshot gives heartbeat age, queue length and oldest approval age."""
    clock = FakeClock()
    core = make_core(tmp_path / "health.db", clock=clock)
    assert core.store.health(clock()).problem(30) == "no sender has ever run on this database"
    core.approved()
    with core.store.write() as tx:
        tx.hold_lease("sender-1", clock(), 20)
    clock.advance(12)
    snapshot = core.store.health(clock())
    assert snapshot.queue_length == 1
    assert snapshot.heartbeat_age_seconds == pytest.approx(12)
    assert snapshot.oldest_approved_age_seconds == pytest.approx(12)
    assert snapshot.problem(30) is None
    clock.advance(40)
    assert "52 s old" in (core.store.health(clock()).problem(30) or "")


def test_a_copy_of_the_file_is_a_complete_database(tmp_path: Path) -> None:
    """After close, the single file (WAL checkpointed) holds everything: copies are usable."""
    core = make_core(tmp_path / "orig.db")
    batch_id = core.prepare()
    core.store.close()
    shutil.copy(tmp_path / "orig.db", tmp_path / "copy.db")
    copy = Store.open(tmp_path / "copy.db", create=False)
    assert copy.batch(batch_id).prepared_by == core.store.batch(batch_id).prepared_by
    copy.close()


def _health(db: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setenv("SMSBATCH_DB", str(db))
    monkeypatch.chdir(db.parent)  # no stray .env is read
    parser = argparse.ArgumentParser()
    cmd_health.add_arguments(parser)
    return cmd_health.run(parser.parse_args(list(argv)))


def test_health_command_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No database: 2 (none created); no sender: 1 with a reason; a fresh heartbeat: 0."""
    db = tmp_path / "h.db"
    assert _health(db, monkeypatch) == 2
    assert not db.exists()
    store = Store.open(db)
    assert _health(db, monkeypatch) == 1
    assert "no sender has ever run" in capsys.readouterr().err
    with store.write() as tx:
        tx.hold_lease("sender-x", time.time(), 20)
    assert _health(db, monkeypatch) == 0
    assert capsys.readouterr().out.startswith("ok: sender heartbeat 0 s ago")
    assert _health(db, monkeypatch, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["sender_owner"] == "sender-x"
    with store.write() as tx:
        tx.hold_lease("sender-x", time.time() - 100, 20)
    assert _health(db, monkeypatch, "--max-age", "30") == 1
    err = capsys.readouterr().err.strip()
    assert "heartbeat is 100 s old" in err and len(err.splitlines()) == 1
    store.close()


def test_health_is_unhealthy_once_the_sender_released_its_lease(tmp_path: Path) -> None:
    """A clean stop gives the lease up: unhealthy at once, naming when, though the beat is fresh."""
    clock = FakeClock()
    core = make_core(tmp_path / "released.db", clock=clock)
    with core.store.write() as tx:
        tx.hold_lease("sender-1", clock(), 20)
    assert core.store.health(clock()).problem(30) is None
    clock.advance(2)
    core.store.release_lease("sender-1", clock())
    snapshot = core.store.health(clock())
    assert snapshot.heartbeat_age_seconds == pytest.approx(2)
    assert snapshot.problem(30) == (
        f"the sender is not running: it released its lease at {when_text(clock())} "
        "(a clean stop); start the app"
    )
    with core.store.write() as tx:
        tx.hold_lease("sender-2", clock(), 20)  # a new sender: healthy again
    assert core.store.health(clock()).problem(30) is None


def test_health_is_unhealthy_once_the_lease_expired(tmp_path: Path) -> None:
    """A lease that ran out (a dead or stuck sender) is unhealthy before the heartbeat limit."""
    clock = FakeClock()
    core = make_core(tmp_path / "expired.db", clock=clock)
    with core.store.write() as tx:
        tx.hold_lease("sender-1", clock(), 20)
    clock.advance(19)
    assert core.store.health(clock()).problem(30) is None
    clock.advance(6)
    assert core.store.health(clock()).problem(30) == (
        "the sender is not running: its lease expired 5 s ago (last heartbeat 25 s ago): "
        "is the app running?"
    )


def test_health_command_fails_after_a_clean_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real sender started and stopped: `health` exits 1 with one line naming the release."""
    core = make_core(tmp_path / "stop.db")
    with running_simulator() as sim:
        client = client_for(sim)
        sender = core.sender(client, idle_seconds=0.05)
        sender.start()
        deadline = time.monotonic() + 10
        while not sender.holding_lease and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _health(core.store.path, monkeypatch) == 0
        sender.stop()
        client.close()
    capsys.readouterr()
    assert _health(core.store.path, monkeypatch) == 1
    err = capsys.readouterr().err.strip()
    assert "the sender is not running: it released its lease at" in err
    assert len(err.splitlines()) == 1


def test_upgrading_keeps_old_results_reported_and_a_released_lease_released(
    tmp_path: Path,
) -> None:
    """A database made before 0002: its finished work is not reported again after the upgrade;
    open work stays unreported; a lease released by the old version reads as released."""
    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="0002_reported_at")
    batch = (
        "INSERT INTO batches (id, state, plan, options, source, source_kind, digest, "
        "prepared_by, channel_id, created_at, finished_at) "
        "VALUES (?, ?, '{}', '{}', x'00', 'bytes', 'd', 'U1', 'C1', 1.0, ?)"
    )
    old.execute(batch, [1, "sent", 5.0])
    old.execute(batch, [2, "sending", None])
    chunk = (
        "INSERT INTO chunks (batch_id, chunk_index, dca, messages, params, params_sha256, "
        "stop_dup_id, state, finished_at) VALUES (?, 0, '7bit', 1, '{}', 's', ?, ?, ?)"
    )
    old.execute(chunk, [1, 11, "accepted", 5.0])
    old.execute(chunk, [2, 12, "sending", None])
    old.execute(
        "INSERT INTO sender_lease (id, owner, acquired_at, expires_at, heartbeat_at) "
        "VALUES (1, 'old-sender', 1.0, 0, 7.0)"
    )
    old.conn.commit()
    old.close()
    store = Store.open(path)
    assert store.unreported_chunks() == [] and store.unreported_batches() == []
    assert [c.reported_at for c in store.chunks(1)] == [5.0]
    assert [c.reported_at for c in store.chunks(2)] == [None]
    assert store.health(100.0).lease_released_at == 7.0
    store.close()


def test_upgrading_moves_each_chunks_parameters_out_of_its_row(tmp_path: Path) -> None:
    """A database made before 0010: each chunk's parameters, byte for byte, are read from
    `chunk_params` after the upgrade, with the SHA-256 they were stored with."""
    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="0010_chunk_params")
    old.execute(
        "INSERT INTO batches (id, state, options, source_kind, digest, prepared_by, channel_id, "
        "created_at) VALUES (1, 'approved', '{}', 'bytes', 'd', 'U1', 'C1', 1.0)"
    )
    params = '{"batch_data":"msisdn,message\\n447400100000,\\"Hi\\" \u00e9"}'
    old.execute(
        "INSERT INTO chunks (id, batch_id, chunk_index, dca, messages, params, params_sha256, "
        "stop_dup_id, state) VALUES (7, 1, 0, '7bit', 1, ?, 'sha', 11, 'queued')",
        [params],
    )
    old.conn.commit()
    old.close()
    store = Store.open(path)
    assert store.chunk_params(7) == (params, "sha")
    columns = [r[1] for r in _raw(path).execute("PRAGMA table_info(chunks)")]
    assert "params" not in columns
    store.close()


def test_a_write_that_waits_for_the_disk_leaves_every_later_write_synced(tmp_path: Path) -> None:
    """`write()` commits with synchronous=FULL; `write(durable=False)` commits (seen by another
    connection) and, even when it fails, leaves the connection at FULL for the next outbox row."""
    core = make_core(tmp_path / "sync.db")
    batch_id = core.prepare()
    conn = core.store._connection()
    with core.store.write():
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with core.store.write(durable=False) as tx:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        tx.audit(AuditEvent.CANCELLED, at=5.0, actor="U9", batch_id=batch_id)
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    seen = _raw(core.store.path).execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    assert seen == len(core.store.audit_entries())
    with pytest.raises(RuntimeError), core.store.write(durable=False):
        raise RuntimeError("crash before commit")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_what_slack_is_shown_is_on_disk_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a commit that did not wait for the disk (the sender's answers), the next view the
    service builds (a card, a thread message, the Home tab) syncs the write-ahead log first,
    once; with nothing pending, reading a view does no disk I/O at all."""
    core = make_core(tmp_path / "flush.db")
    batch_id = core.prepare()
    synced: list[str] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    with core.store.write() as tx:
        tx.audit(AuditEvent.CANCELLED, at=5.0, actor="U9", batch_id=batch_id)
    core.service.get(batch_id)
    core.service.home()
    assert synced == []
    log = str(core.store.path.resolve()) + "-wal"
    for shown in (lambda: core.service.get(batch_id), core.service.home):
        with core.store.write(durable=False) as tx:
            tx.audit(AuditEvent.CANCELLED, at=6.0, actor="U9", batch_id=batch_id)
        before = len(synced)
        shown()
        shown()
        assert synced[before:] == [log]
