"""The restore guard: the sender sends only from a database that lives here, or was made safe.

A Litestream restore is a byte copy, so nothing inside a restored file says it was restored.
What does tell is a marker file beside it, `<database>.home`, that replication never copies:

- the database holds a home token (table `db_home`), and the marker holds the same token plus
  the database's high-water marks (the stop_dup_id sequence and the number of audit entries),
  rewritten each time a sender starts and stops;
- a database with no token (new, or made before this guard existed) is claimed at once;
- a token without a marker, or with another token, means the file came from somewhere else (a
  replica, a copy): refused until `smsbatch-bot restore` ran its safety step, which draws a new
  token and writes the marker;
- a database behind its marker's high-water marks was replaced in place by an older copy:
  refused too;
- a database file that is not the file the marker was written for (another inode: a restore or
  a copy put in its place, even one at least as new as the marker) is refused too. SQLite
  never replaces its file, and a rename keeps the inode, so the app's own work never trips this.

Not caught: a file replaced in place by a copy at least as new as the marker's last update
(written at each start and clean stop) that the filesystem gave the old file's inode number
again; `restore` is then still the way back.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.errors import StoreError
from bot.store.db import Store
from bot.store.restores import claim_home

MARKER_SUFFIX = ".home"
RESTORE_HINT = (
    "run `smsbatch-bot restore --from REPLICA_URL` (see the README, section 'Operations')"
)


class NotSafeToSend(StoreError):
    """The database was restored or copied here without the restore's safety step."""


@dataclass(frozen=True, slots=True)
class Marker:
    """What the marker file holds: the home token and the high-water marks last seen."""

    token: str
    stop_dup_seq: int
    audit_entries: int
    inode: int | None = None  # the database file's inode; None in markers from before it was kept


def marker_path(db_path: Path) -> Path:
    """The marker file of a database: `<database>.home`, beside it."""
    return db_path.with_name(db_path.name + MARKER_SUFFIX)


def read_marker(path: Path) -> Marker | None:
    """The marker at `path`, or None when there is none; StoreError when it is unreadable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        inode = raw.get("inode")
        return Marker(
            str(raw["token"]),
            int(raw["stop_dup_seq"]),
            int(raw["audit_entries"]),
            None if inode is None else int(inode),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"the marker file {path} cannot be read ({exc}); {RESTORE_HINT}") from exc


def write_marker(path: Path, marker: Marker) -> None:
    """Write the marker atomically (a temporary file, fsync, rename)."""
    scratch = path.with_name(path.name + ".tmp")
    with scratch.open("w", encoding="utf-8") as out:
        json.dump(asdict(marker), out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(scratch, path)


def current_marker(store: Store, token: str) -> Marker:
    """The marker this database should have now, with `token`."""
    seq, entries = _high_water(store)
    return Marker(token, seq, entries, _inode(store.path))


def check_home(store: Store) -> None:
    """Claim a new database, or raise NotSafeToSend for one restored without the safety step."""
    path = marker_path(store.path)
    token = home_token(store) or _claim(store)
    marker = read_marker(path)
    if marker is None or marker.token != token:
        raise NotSafeToSend(
            f"the database {store.path} was restored or copied from elsewhere and has not been "
            f"made safe to send from (its marker {path.name} is missing or names another "
            f"database); {RESTORE_HINT}"
        )
    if marker.inode is not None and marker.inode != _inode(store.path):
        raise NotSafeToSend(
            f"the database file {store.path} is not the file this machine last ran (it was "
            f"replaced: a restore or a copy was put in its place); {RESTORE_HINT}"
        )
    seq, entries = _high_water(store)
    if seq < marker.stop_dup_seq or entries < marker.audit_entries:
        raise NotSafeToSend(
            f"the database {store.path} is older than the one this machine last ran "
            f"({entries} audit entries, {marker.audit_entries} before): an older copy was put "
            f"in its place; {RESTORE_HINT}"
        )
    write_marker(path, Marker(token, seq, entries, _inode(store.path)))


def record_home(store: Store) -> None:
    """Bring the marker's high-water marks up to date (when a sender stops)."""
    token = home_token(store)
    if token is not None:
        write_marker(marker_path(store.path), current_marker(store, token))


def home_token(store: Store) -> str | None:
    """The database's home token, or None before it was claimed."""
    row = store._one("SELECT token FROM db_home WHERE id = 1")
    return None if row is None else str(row[0])


def _claim(store: Store) -> str:
    """Give a database without a token one, and write its marker (first start on a machine)."""
    with store.write() as tx:
        if tx._one("SELECT token FROM db_home WHERE id = 1") is None:
            claim_home(tx, secrets.token_hex(16), time.time())
        row = tx._one("SELECT token FROM db_home WHERE id = 1")
    assert row is not None  # written just above, in the same transaction
    token = str(row[0])
    write_marker(marker_path(store.path), current_marker(store, token))
    return token


def _inode(path: Path) -> int:
    return path.stat().st_ino


def _high_water(store: Store) -> tuple[int, int]:
    with store.snapshot() as read:
        seq = read._one("SELECT next_seq FROM stop_dup_sequence WHERE id = 1")
        entries = read._one("SELECT COUNT(*) FROM audit_log")
    return (0 if seq is None else int(seq[0])), (0 if entries is None else int(entries[0]))
