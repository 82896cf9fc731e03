"""`smsbatch-bot restore --from URL [--to PATH]`: bring the database back from a Litestream replica.

1. `litestream restore` writes the replica's latest state to `<target>.restoring` (never over an
   existing database: a restore refuses a target that exists). `--from` may also name a plain
   SQLite backup file (`VACUUM INTO`, `.backup`): it is copied with SQLite's backup API.
2. The copy is opened (migrations apply), its audit log must verify, and the safety step runs
   (`bot.store.restores.make_safe`): the stop_dup_id sequence jumps `--margin` ids, submissions
   without a recorded answer become "outcome unknown", waiting batches are cancelled, and the
   restore is an audit entry.
3. The marker file is written for the target and the copy is renamed into place, so the sender
   accepts it (bot.store.home); a failure before this leaves nothing at the target.

Needs only SMSBATCH_DB (or `--to`) and Litestream's own credential variables for the replica.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from bot.cli.replicate import litestream_binary, litestream_env, redact_url
from bot.config import load_settings
from bot.store.audit import verify
from bot.store.db import Store
from bot.store.home import current_marker, home_token, marker_path, write_marker
from bot.store.restores import DEFAULT_MARGIN, RestoreResult, make_safe

SIDE_FILES = ("-wal", "-shm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register --from, --to and --margin."""
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the Litestream replica URL (or the path of a plain SQLite backup file)",
    )
    parser.add_argument("--to", metavar="PATH", help="where to restore (default: SMSBATCH_DB)")
    parser.add_argument(
        "--margin",
        type=int,
        default=DEFAULT_MARGIN,
        help=f"stop_dup_ids to skip past the replica's last one (default {DEFAULT_MARGIN:,})",
    )


def run(args: argparse.Namespace) -> int:
    """Restore, make safe, put in place; 0 on success, 1 when it failed, 2 on a bad target."""
    target = Path(args.to) if args.to else load_settings(check_eapi=False).db_path
    if args.margin < 1:
        return _fail(f"--margin must be at least 1, got {args.margin}", 2)
    if any(Path(f"{target}{side}").exists() for side in ("", *SIDE_FILES)):
        return _fail(
            f"{target} exists: a restore never overwrites a database; move it away "
            "(with its -wal and -shm files) or pass --to",
            2,
        )
    source = redact_url(args.source)
    scratch = target.with_name(target.name + ".restoring")
    for side in ("", *SIDE_FILES):
        Path(f"{scratch}{side}").unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    if _is_backup_file(args.source):
        problem = _copy_backup(Path(args.source), scratch)
    else:
        problem = _litestream_restore(args.source, scratch)
    if problem is not None:
        return _fail(f"litestream could not restore from {source}: {problem}", 1)
    return _make_safe_and_place(scratch, target, source, args.margin)


def _is_backup_file(source: str) -> bool:
    """True for a path to an existing file (a replica URL has a scheme: `s3://…`, `file://…`)."""
    return "://" not in source and Path(source).is_file()


def _copy_backup(backup: Path, output: Path) -> str | None:
    """Copy a plain SQLite backup with the backup API; None on success, else the reason."""
    try:
        source = sqlite3.connect(f"{backup.absolute().as_uri()}?mode=ro", uri=True)
        with closing(source) as src, closing(sqlite3.connect(output)) as dst:
            src.backup(dst)
    except sqlite3.DatabaseError as exc:
        output.unlink(missing_ok=True)
        return f"{backup} is not a readable SQLite database ({exc})"
    return None


def _litestream_restore(url: str, output: Path) -> str | None:
    """Run `litestream restore`; None on success, else the reason in one line."""
    argv = [str(litestream_binary()), "restore", "-o", str(output), url]
    done = subprocess.run(  # noqa: S603 - our own binary and arguments, no shell
        argv, capture_output=True, text=True, check=False, env=litestream_env()
    )
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        return redact_url(lines[-1]) if lines else f"exit code {done.returncode}"
    if not output.is_file():
        return "the replica holds no backup"
    return None


def _make_safe_and_place(scratch: Path, target: Path, source: str, margin: int) -> int:
    store = Store.open(scratch, create=False)
    try:
        checked = verify(store.audit_entries())
        if not checked.ok:
            return _fail(
                f"the restored audit log is BROKEN at entry {checked.broken_id}: {checked.reason}; "
                f"the copy is left at {scratch} for inspection and nothing was put at {target}",
                1,
            )
        result = make_safe(store, source=source, now=time.time(), margin=margin)
        after = verify(store.audit_entries())
        token = home_token(store)
        assert after.ok and token is not None  # make_safe extends the chain and sets the token
        marker = current_marker(store, token)
    finally:
        store.close()
    write_marker(marker_path(target), marker)
    scratch.replace(target)
    # Litestream's local state of the lost database describes another file: start afresh.
    shutil.rmtree(target.with_name(f".{target.name}-litestream"), ignore_errors=True)
    for line in _summary(target, source, result, after.entries, after.last_hash):
        print(line)
    return 0


def _summary(
    target: Path, source: str, result: RestoreResult, entries: int, last_hash: str
) -> list[str]:
    lines = [
        f"restored {target} from {source}",
        f"audit log intact: {entries} entries, last hash {last_hash}",
        f"stop_dup_id sequence moved from {result.seq_before} to {result.seq_after}",
    ]
    if result.unknown_chunks:
        batches = ", ".join(str(b) for b in result.unknown_batches)
        lines.append(
            f"{len(result.unknown_chunks)} submission(s) of batch(es) {batches} had no recorded "
            "answer: now 'outcome unknown' — check the EAPI account (their stop_dup_ids are in "
            "`smsbatch-bot audit`) and prepare again what was not sent"
        )
    if result.cancelled_batches:
        batches = ", ".join(str(b) for b in result.cancelled_batches)
        lines.append(f"batch(es) {batches} waiting for approval were cancelled: prepare them again")
    lines.append("the database is safe to send from: start the app")
    return lines


def _fail(reason: str, code: int) -> int:
    print(f"smsbatch-bot restore: {reason}", file=sys.stderr)
    return code
