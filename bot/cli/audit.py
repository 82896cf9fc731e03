"""`smsbatch-bot audit`: print the audit log (table, CSV or JSON), or verify its hash chain.

Needs only SMSBATCH_DB. A database that does not exist is an error (exit 2); it is never
created by auditing. `--verify` exits 0 when the chain is intact and 1 naming the first broken
entry; it also prints the last hash, worth keeping elsewhere: only that catches a log whose
newest entries were cut off.
"""

from __future__ import annotations

import argparse
import sys

from bot.config import load_settings
from bot.errors import StoreError
from bot.store.audit import to_csv, to_json, to_table, verify
from bot.store.db import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register --batch, --format and --verify."""
    parser.add_argument("--batch", type=int, metavar="ID", help="only the entries of this batch")
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv (formula-safe) or json (one array)",
    )
    parser.add_argument(
        "--verify", action="store_true", help="check the hash chain; exit 1 if it is broken"
    )


def run(args: argparse.Namespace) -> int:
    """Print or verify the audit log of SMSBATCH_DB."""
    settings = load_settings(check_eapi=False)
    try:
        store = Store.open(settings.db_path, create=False)
    except StoreError as exc:
        print(f"smsbatch-bot audit: {exc}", file=sys.stderr)
        return 2
    try:
        if args.verify:
            return _verify(store)
        entries = store.audit_entries(args.batch)
        if args.format == "json":
            print(to_json(entries))
        elif args.format == "csv":
            sys.stdout.write(to_csv(entries))
        else:
            print(to_table(entries) if entries else "no audit entries")
        return 0
    finally:
        store.close()


def _verify(store: Store) -> int:
    result = verify(store.audit_entries())
    if result.ok:
        print(f"audit log intact: {result.entries} entries, last hash {result.last_hash}")
        return 0
    print(
        f"audit log BROKEN at entry {result.broken_id}: {result.reason} "
        f"({result.entries} entries before it are intact)"
    )
    return 1
