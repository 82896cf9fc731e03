"""`smsbatch-bot health`: exit 0 when the database opens and the sender's heartbeat is fresh.

The sender must also still hold its lease: a sender that gave it up (a clean stop) or let it
expire is reported at once, not only once its last heartbeat is `--max-age` old. Otherwise exit
1 with a one-line reason (2 when there is no database at SMSBATCH_DB, which is never created
here). Needs only SMSBATCH_DB; usable as a container health check.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time

from bot.config import load_settings
from bot.errors import StoreError
from bot.store.db import Store

MAX_HEARTBEAT_AGE = 30.0  # the sender beats every 5 s, also during a long request


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register --max-age and --json."""
    parser.add_argument(
        "--max-age",
        type=float,
        default=MAX_HEARTBEAT_AGE,
        metavar="SECONDS",
        help=f"oldest acceptable sender heartbeat (default {MAX_HEARTBEAT_AGE:g})",
    )
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")


def run(args: argparse.Namespace) -> int:
    """Check the database and the sender's heartbeat."""
    settings = load_settings(check_eapi=False)
    try:
        store = Store.open(settings.db_path, create=False)
    except StoreError as exc:
        print(f"smsbatch-bot health: {exc}", file=sys.stderr)
        return 2
    try:
        snapshot = store.health(time.time())
    except sqlite3.DatabaseError as exc:
        print(f"smsbatch-bot health: the database cannot be read: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    problem = snapshot.problem(args.max_age)
    if args.json:
        print(json.dumps(snapshot.as_dict() | {"ok": problem is None, "problem": problem}))
    if problem is not None:
        print(f"smsbatch-bot health: {problem}", file=sys.stderr)
        return 1
    if not args.json:
        age = snapshot.heartbeat_age_seconds or 0.0
        print(f"ok: sender heartbeat {age:.0f} s ago, {snapshot.queue_length} batch(es) queued")
    return 0
