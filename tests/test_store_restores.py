"""The restore's safety step and the restore guard, on real SQLite files.

A restored database is a byte copy: these tests copy a database file as Litestream would give
it back, then check what the sender does with it before and after `make_safe`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.model import BatchState, ProgressKind
from bot.store.audit import verify
from bot.store.db import Store
from bot.store.home import (
    NotSafeToSend,
    check_home,
    current_marker,
    home_token,
    marker_path,
    write_marker,
)
from bot.store.restores import UNKNOWN_REASON, make_safe
from bot.testsend import TestAsk
from tests.core_helpers import CHANNEL, PREPARER, Core, FakeClock, csv_rows, make_core
from tests.eapi_fixtures import client_for, running_simulator


def copy_database(source: Store, to: Path) -> Path:
    """The file as a restore gives it back: its content, without the marker beside it."""
    source.close()
    shutil.copyfile(source.path, to)
    return to


def lost_in_flight(core: Core, clock: FakeClock) -> tuple[int, int, int]:
    """A batch with an attempt in flight, one approved and queued, one waiting: their ids."""
    check_home(core.store)  # the database was claimed on the lost machine, as the app does
    sending = core.approved(csv_rows(3))
    with core.store.write() as tx:
        [chunk] = tx.chunks(sending)
        tx.start_attempt(chunk, "lost-host:1", clock())
    queued = core.approved(csv_rows(2))
    waiting = core.prepare(csv_rows(1))
    return sending, queued, waiting


def test_make_safe_skips_ids_and_turns_every_unanswered_submission_unknown(tmp_path: Path) -> None:
    """In-flight and queued chunks become unknown, pending batches cancelled, ids skipped."""
    clock = FakeClock()
    core = make_core(tmp_path / "lost.db", clock=clock)
    sending, queued, waiting = lost_in_flight(core, clock)
    used = [c.stop_dup_id for b in (sending, queued) for c in core.store.chunks(b)]
    restored = Store.open(copy_database(core.store, tmp_path / "restored.db"))
    result = make_safe(restored, source="file:///replica", now=clock(), margin=1000)
    assert (result.seq_before, result.seq_after) == (2, 1002)
    assert result.unknown_batches == (sending, queued) and result.cancelled_batches == (waiting,)
    for batch_id in (sending, queued):
        [chunk] = restored.chunks(batch_id)
        assert chunk.state == "unknown" and chunk.reason == UNKNOWN_REASON
        assert restored.batch_header(batch_id).state is BatchState.UNKNOWN
    assert restored.batch_header(waiting).state is BatchState.CANCELLED
    assert restored.open_attempts() == []
    checked = verify(restored.audit_entries())
    assert checked.ok
    last = restored.audit_entries()[-1]
    assert last.event == "restored" and last.detail_dict()["stop_dup_seq_after"] == 1002
    with restored.write() as tx:
        fresh = tx.allocate_stop_dup_id()
    assert fresh not in used
    restored.close()


def test_the_sender_refuses_a_copy_until_it_is_made_safe_then_sends_nothing_lost(
    tmp_path: Path,
) -> None:
    """A copied database is refused; after make_safe and its marker the sender reports the
    unknown submissions to Slack and sends none of them."""
    clock = FakeClock()
    core = make_core(tmp_path / "lost.db", clock=clock)
    lost_in_flight(core, clock)
    path = copy_database(core.store, tmp_path / "restored.db")
    again = make_core(path, clock=clock)
    with running_simulator() as sim:
        client = client_for(sim)
        sender = again.sender(client)
        with pytest.raises(NotSafeToSend, match="smsbatch-bot restore"):
            sender.start()
        make_safe(again.store, source="file:///replica", now=clock(), margin=10)
        token = home_token(again.store)
        assert token is not None
        write_marker(marker_path(path), current_marker(again.store, token))
        check_home(again.store)  # accepted now
        while sender.run_once():
            pass
        assert sim.requests == []
        client.close()
    unknown = again.notifier.of(ProgressKind.UNKNOWN)
    assert len(unknown) == 2
    assert {e.state for e in again.notifier.of(ProgressKind.FINISHED)} == {BatchState.UNKNOWN}
    again.store.close()


def test_an_older_copy_put_in_place_of_the_database_is_refused(tmp_path: Path) -> None:
    """The marker remembers the high-water marks: a database behind them is refused."""
    clock = FakeClock()
    core = make_core(tmp_path / "app.db", clock=clock)
    check_home(core.store)  # claims the new database and writes its marker
    core.store.close()
    shutil.copyfile(core.store.path, tmp_path / "old.db")
    newer = make_core(tmp_path / "app.db", clock=clock)
    newer.approved(csv_rows(1))
    check_home(newer.store)  # the marker moves up
    newer.store.close()
    shutil.copyfile(tmp_path / "old.db", tmp_path / "app.db")
    older = Store.open(tmp_path / "app.db")
    with pytest.raises(NotSafeToSend, match="older than the one this machine last ran"):
        check_home(older)
    older.close()


def test_a_test_send_queued_before_the_loss_is_never_sent_after_the_restore(
    tmp_path: Path,
) -> None:
    """The lost tail may have sent a queued test: it becomes unknown, named in the audit entry."""
    clock = FakeClock()
    core = make_core(tmp_path / "lost.db", clock=clock)
    check_home(core.store)
    waiting = core.prepare(csv_rows(1))
    digest = core.service.get(waiting).digest
    ask = TestAsk(waiting, digest, PREPARER, "07700900123", CHANNEL, "1.0")
    queued = core.service.tests.request(ask)
    assert queued.ok and queued.test_id is not None
    restored = Store.open(copy_database(core.store, tmp_path / "restored.db"))
    result = make_safe(restored, source="file:///replica", now=clock(), margin=10)
    assert result.unknown_tests == (queued.test_id,)
    state = restored._one("SELECT state FROM test_sends WHERE id = ?", [queued.test_id])
    assert state is not None and state[0] == "unknown"
    assert restored.audit_entries()[-1].detail_dict()["unknown_tests"] == [queued.test_id]
    restored.close()


def test_a_file_put_in_place_of_the_database_is_refused_even_when_as_new(
    tmp_path: Path,
) -> None:
    """A restore or copy moved into the database's place (as `litestream restore` does) is
    another file: refused although nothing is behind; reopening the same file is accepted."""
    core = make_core(tmp_path / "app.db")
    check_home(core.store)
    core.store.close()
    same = Store.open(tmp_path / "app.db")
    check_home(same)  # the same file, reopened: accepted
    same.close()
    shutil.copyfile(tmp_path / "app.db", tmp_path / "restored.db")
    os.replace(tmp_path / "restored.db", tmp_path / "app.db")
    replaced = Store.open(tmp_path / "app.db")
    with pytest.raises(NotSafeToSend, match="is not the file this machine last ran"):
        check_home(replaced)
    replaced.close()
