"""Replication and restore with the real `litestream` binary and a `file://` replica.

The app (`python -m bot`, HTTP mode) replicates its database while it prepares and sends
batches; the machine is then "lost" (SIGKILL, every file beside the database deleted). A plain
`litestream restore` gives back a database the app refuses to send from; `smsbatch-bot restore`
gives back one that verifies, holds every batch the replica had, hands out stop_dup_ids past
every id the lost database used, and sends again.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.cli.replicate import litestream_binary
from bot.store.restores import DEFAULT_MARGIN
from tests.test_handlers_http_mode import free_port
from tests.test_system_blackbox import (
    APPROVER,
    CSV,
    World,
    approve_and_wait,
    running_world,
    wait,
)

LITESTREAM_PID = re.compile(r"litestream started \(pid (\d+)\)")
STOP_DUP_IDS = re.compile(r"send_batch/1/1.0 user=\S+ stop_dup_id=(\d+)")


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of one read-only query on a database file."""
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def replica_audit_count(url: str, probe: Path) -> int:
    """How many audit entries the replica holds now (restored into a scratch file)."""
    for side in ("", "-wal", "-shm"):
        Path(f"{probe}{side}").unlink(missing_ok=True)
    argv = [str(litestream_binary()), "restore", "-o", str(probe), url]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not probe.exists():
        return -1
    return int(query(probe, "SELECT COUNT(*) FROM audit_log")[0][0])  # type: ignore[call-overload]


def lose_the_machine(world: World, db: Path) -> None:
    """SIGKILL the app, wait for its litestream to go, and delete every local file of the db."""
    assert world.app is not None
    pid = int(LITESTREAM_PID.findall(world.app.output)[-1])
    world.app.kill()
    wait(lambda: not _alive(pid), 15, "litestream to stop with the app")
    for path in db.parent.glob(db.name + "*"):
        path.unlink()
    shutil.rmtree(db.parent / f".{db.name}-litestream", ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def start_refused(world: World) -> subprocess.CompletedProcess[str]:
    """`python -m bot` on the world's database; it must exit by itself."""
    env = world.app_env | {"PORT": str(free_port())}
    argv = [sys.executable, "-m", "bot"]
    return subprocess.run(
        argv, env=env, cwd=world.tmp_path, capture_output=True, text=True, timeout=60
    )


def test_a_lost_database_comes_back_from_its_replica_safe_to_send_from(tmp_path: Path) -> None:
    """Send, lose the machine, restore: verified, complete, ids moved on, refused until safe,
    and replicating again afterwards."""
    url = (tmp_path / "replica").as_uri()
    db = tmp_path / "app.db"
    with running_world(tmp_path, SMSBATCH_REPLICA_URL=url) as world:
        for name in ("one.csv", "two.csv"):
            approve_and_wait(world, world.upload(name, CSV))
        world.wait_card(world.upload("three.csv", CSV))  # left waiting for approval
        entries = int(query(db, "SELECT COUNT(*) FROM audit_log")[0][0])  # type: ignore[call-overload]
        synced = wait(
            lambda: replica_audit_count(url, tmp_path / "probe.db") == entries,
            20,
            "the replica to hold every audit entry",
        )
        assert synced
        used = {int(r[0]) for r in query(db, "SELECT stop_dup_id FROM chunks")}  # type: ignore[call-overload]
        next_seq = int(query(db, "SELECT next_seq FROM stop_dup_sequence")[0][0])  # type: ignore[call-overload]
        states = query(db, "SELECT id, state FROM batches ORDER BY id")
        assert states == [(1, "sent"), (2, "sent"), (3, "pending")]
        lose_the_machine(world, db)

        by_hand = subprocess.run(
            [str(litestream_binary()), "restore", "-o", str(db), url],
            capture_output=True,
            check=False,
        )
        assert by_hand.returncode == 0 and db.exists()
        refused = start_refused(world)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "smsbatch-bot restore" in refused.stderr and "Traceback" not in refused.stderr
        assert "restored or copied from elsewhere" in refused.stderr
        for path in db.parent.glob(db.name + "*"):
            path.unlink()

        restored = world.cli("restore", "--from", url)
        assert restored.returncode == 0, restored.stderr
        assert f"moved from {next_seq} to {next_seq + DEFAULT_MARGIN}" in restored.stdout
        verified = world.cli("audit", "--verify")
        assert verified.returncode == 0, verified.stdout
        after = query(db, "SELECT id, state FROM batches ORDER BY id")
        assert after == [(1, "sent"), (2, "sent"), (3, "cancelled")]
        events = [str(r[0]) for r in query(db, "SELECT event FROM audit_log ORDER BY id")]
        assert events[-1] == "restored" and len(events) == entries + 2  # cancelled + restored
        restored_seq = int(query(db, "SELECT next_seq FROM stop_dup_sequence")[0][0])  # type: ignore[call-overload]
        assert restored_seq == next_seq + DEFAULT_MARGIN

        world.start_app()  # the sender starts: the app serves
        sent_before = len(STOP_DUP_IDS.findall(world.sim.output))
        approve_and_wait(world, world.upload("four.csv", CSV))
        new_ids = [int(i) for i in STOP_DUP_IDS.findall(world.sim.output)[sent_before:]]
        assert len(new_ids) == 1 and new_ids[0] not in used
        assert query(db, "SELECT state FROM batches WHERE id = 4") == [("sent",)]
        assert APPROVER in str(query(db, "SELECT decided_by FROM batches WHERE id = 4"))
        # Replication carries on from the restored database into the same replica.
        entries = int(query(db, "SELECT COUNT(*) FROM audit_log")[0][0])  # type: ignore[call-overload]
        caught_up = wait(
            lambda: replica_audit_count(url, tmp_path / "probe.db") == entries,
            20,
            "the replica to hold the restored database's new entries",
        )
        assert caught_up
