"""`smsbatch-bot report BATCH`: the delivery state of every message of a batch.

Needs only SMSBATCH_DB, which must exist. Exit 0; 2 for an unknown batch or a missing database.
`--format json` prints one object: `batch`, `counts` ({delivered, failed, pending, unknown}) and
`messages` ({line, msisdn, state, status_code} in line order; `status_code` is the last report
code, or null before any report). Messages of a batch approved before delivery reports existed
are not on record: its counts are all 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from bot.config import load_settings
from bot.eapi.reports import NOT_SENT, report_meaning
from bot.errors import BatchNotFound, StoreError
from bot.model import DeliveryState
from bot.store.audit import csv_text
from bot.store.db import Store
from bot.store.reports import DeliveryStore, MessageReport

COLUMNS = ("line", "msisdn", "state", "status_code", "meaning")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register BATCH and --format."""
    parser.add_argument("batch", type=int, metavar="BATCH", help="the app's batch number")
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv (formula-safe) or json (one object)",
    )


def _cells(message: MessageReport) -> tuple[str, ...]:
    code = message.status_code
    return (
        str(message.line),
        message.msisdn,
        message.state.value,
        "" if code is None else str(code),
        report_meaning(code) if code is not None else _no_code(message),
    )


def _no_code(message: MessageReport) -> str:
    return NOT_SENT if message.state is DeliveryState.FAILED else ""


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [COLUMNS, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def render(batch_id: int, deliveries: DeliveryStore, form: str) -> str:
    """The report of one batch in the chosen format (without a final newline for table/json)."""
    counts = deliveries.delivery_counts(batch_id)
    messages = deliveries.messages(batch_id)
    if form == "json":
        return json.dumps(
            {
                "batch": batch_id,
                "counts": asdict(counts),
                "messages": [
                    {
                        "line": m.line,
                        "msisdn": m.msisdn,
                        "state": m.state.value,
                        "status_code": m.status_code,
                    }
                    for m in messages
                ],
            }
        )
    rows = [_cells(m) for m in messages]
    if form == "csv":
        return csv_text(COLUMNS, rows)
    head = (
        f"batch {batch_id}: {counts.delivered} delivered, {counts.failed} failed, "
        f"{counts.pending} pending, {counts.unknown} unknown"
    )
    return head + ("\n" + _table(rows) if rows else "\nno message of this batch is on record")


def run(args: argparse.Namespace) -> int:
    """Print the delivery report of one batch of SMSBATCH_DB."""
    settings = load_settings(check_eapi=False)
    try:
        store = Store.open(settings.db_path, create=False)
    except StoreError as exc:
        print(f"smsbatch-bot report: {exc}", file=sys.stderr)
        return 2
    try:
        store.batch_header(args.batch)
        text = render(args.batch, DeliveryStore(store), args.format)
    except BatchNotFound:
        print(f"smsbatch-bot report: there is no batch {args.batch}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.format == "csv":
        sys.stdout.write(text)
    else:
        print(text)
    return 0
