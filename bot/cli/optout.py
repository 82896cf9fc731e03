"""`smsbatch-bot optout add|remove|list|import`: the suppression list of SMSBATCH_DB.

Numbers are normalised like CSV numbers (SMSBATCH_DEFAULT_COUNTRY for national ones). The
command line stands for the database's operator: it may add and remove (actor `cli` in the
audit log). `add` and `import` create the database when it does not exist yet, so a list can be
loaded before the first start; `remove` and `list` never create one. Exit 0 when every number
was handled, 1 when some value was not a number (each named on stderr), 2 when the input or the
database cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import Settings, load_settings
from bot.consent import CLI_ACTOR, ConsentService, ListChange
from bot.errors import IntakeError
from bot.store.audit import csv_text, utc_iso
from bot.store.db import Store
from bot.store.suppression import SuppressionEntry

_VERBS = {"add": ("added", "already listed"), "remove": ("removed", "not listed")}
_VERBS["import"] = _VERBS["add"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the add, remove, list and import actions."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="put numbers on the suppression list")
    add.add_argument("numbers", nargs="+", metavar="NUMBER")
    remove = actions.add_parser("remove", help="take numbers off the suppression list")
    remove.add_argument("numbers", nargs="+", metavar="NUMBER")
    listing = actions.add_parser("list", help="print the suppression list")
    listing.add_argument("--format", choices=("table", "csv", "json"), default="table")
    imported = actions.add_parser("import", help="add every number of a CSV file")
    imported.add_argument("file", metavar="FILE", help="a CSV file ('-' = stdin)")


@contextmanager
def _service(settings: Settings, *, create: bool) -> Iterator[ConsentService]:
    store = Store.open(settings.db_path, create=create)
    try:
        yield ConsentService(store, settings.default_country, is_approver=lambda _: False)
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    """Do the chosen action on SMSBATCH_DB's suppression list."""
    settings = load_settings(check_eapi=False)
    if args.action == "list":
        with _service(settings, create=False) as consent:
            _print_list(consent.entries(), args.format)
        return 0
    if args.action == "import":
        try:
            data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        except OSError as exc:
            print(f"smsbatch-bot optout: {args.file}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    with _service(settings, create=args.action != "remove") as consent:
        try:
            change = _change(consent, args, data if args.action == "import" else b"")
        except IntakeError as exc:
            print(f"smsbatch-bot optout: {args.file}: {exc}", file=sys.stderr)
            return 2
    return _report(change, args.action)


def _change(consent: ConsentService, args: argparse.Namespace, data: bytes) -> ListChange:
    if args.action == "add":
        return consent.add(args.numbers, CLI_ACTOR)
    if args.action == "remove":
        return consent.remove(args.numbers, CLI_ACTOR)
    return consent.import_file(data, CLI_ACTOR, Path(args.file).name)


def _report(change: ListChange, action: str) -> int:
    """Print what happened per number; 1 when some value was not a number."""
    done, same = _VERBS[action]
    for number in change.changed:
        print(f"{done} {number}")
    for number in change.unchanged:
        print(f"{same} {number}")
    for value, reason in change.invalid:
        print(f"smsbatch-bot optout: {value!r} is not a number: {reason}", file=sys.stderr)
    if action == "import":
        print(f"{len(change.changed)} added, {len(change.unchanged)} already listed, "
              f"{len(change.invalid)} not numbers")  # fmt: skip
    return 1 if change.invalid else 0


def entry_dict(entry: SuppressionEntry) -> dict[str, object]:
    """One entry as JSON: msisdn, source, added_by, added_at (UTC ISO-8601), evidence."""
    return {
        "msisdn": entry.msisdn,
        "source": entry.source.value,
        "added_by": entry.added_by,
        "added_at": utc_iso(entry.added_at),
        "evidence": entry.evidence,
    }


def _print_list(entries: list[SuppressionEntry], form: str) -> None:
    rows = [entry_dict(e) for e in entries]
    if form == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif form == "csv":
        header = ("msisdn", "source", "added_by", "added_at", "evidence")
        sys.stdout.write(csv_text(header, ([row[h] for h in header] for row in rows)))
    elif not rows:
        print("the suppression list is empty")
    else:
        for row in rows:
            print(
                f"{row['msisdn']:<16} {row['source']:<7} {row['added_at']}  {row['added_by']}"
                f"  {row['evidence'] or ''}"
            )
