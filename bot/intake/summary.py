"""A plan without its messages: what cards, status lines, the audit and the sender need.

A 30,000-row plan is about 8 MB of JSON and takes a quarter of a second to decode; a card redraw,
a status line or a queue report needs none of its messages. So the store keeps, beside the plan,
its figures as columns (rows, recipients, parts, credits, duplicates, rejected, chunks) and a
small JSON "preview" of the rest a card shows: cost lines, columns and notes, and the first few
messages, rejected rows, encoding reasons and flags. `summarise(plan)` is the one definition of
both; `summary_columns` and `summary_from_columns` are its stored form.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.codec import canonical_json, message_from_dict, message_to_dict
from bot.model import BatchPlan, CostLine, Dca, Message, RejectedRow, SendOptions, SuppressedRow

KEPT = 10  # messages, rejected rows, encoding reasons and flags kept for the card (shows fewer)

# Summary columns of `batches` (migration 0004) other than the preview.
FIGURE_COLUMNS = (
    "rows_read",
    "recipients",
    "parts",
    "credits",
    "duplicate_count",
    "rejected_count",
    "chunk_count",
)


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """A plan's figures and the first few entries of each list, without the messages."""

    rows: int
    recipients: int
    parts: int
    credits: Decimal
    duplicates: int
    rejected: int
    chunks: int
    seven_bit: int  # recipients sent as 7-bit (GSM); the others are 16-bit
    options: SendOptions
    max_parts: int
    text_encoding: str
    delimiter: str
    columns: tuple[tuple[str, str], ...]
    ignored_columns: tuple[str, ...]
    notes: tuple[str, ...]
    cost: tuple[CostLine, ...]
    first_messages: tuple[Message, ...]  # the first KEPT messages, exactly as they go out
    first_rejected: tuple[RejectedRow, ...]  # the first KEPT rejected rows
    encoding_reasons: tuple[tuple[int, str], ...]  # (line, why 16-bit) of the first KEPT
    encoding_reason_count: int
    flagged: tuple[tuple[int, tuple[str, ...]], ...]  # (line, flags) of the first KEPT flagged
    flagged_count: int
    suppressed: int = 0  # rows whose number is on the suppression list

    @property
    def sixteen_bit(self) -> int:
        """Recipients sent as 16-bit (Unicode)."""
        return self.recipients - self.seven_bit


def summarise(plan: BatchPlan) -> PlanSummary:
    """The summary of a plan (one pass over its messages)."""
    seven = parts = 0
    reasons: list[tuple[int, str]] = []
    reason_count = 0
    flagged: list[tuple[int, tuple[str, ...]]] = []
    flagged_count = 0
    for m in plan.messages:
        parts += m.parts
        seven += m.dca is Dca.SEVEN_BIT
        if m.encoding_reason:
            reason_count += 1
            if len(reasons) < KEPT:
                reasons.append((m.line, m.encoding_reason))
        if m.flags:
            flagged_count += 1
            if len(flagged) < KEPT:
                flagged.append((m.line, m.flags))
    return PlanSummary(
        rows=plan.rows,
        recipients=len(plan.messages),
        parts=parts,
        credits=plan.credits,
        duplicates=len(plan.duplicates),
        rejected=len(plan.rejected),
        chunks=len(plan.chunks),
        seven_bit=seven,
        options=plan.options,
        max_parts=plan.max_parts,
        text_encoding=plan.text_encoding,
        delimiter=plan.delimiter,
        columns=plan.columns,
        ignored_columns=plan.ignored_columns,
        notes=plan.notes,
        cost=plan.cost,
        first_messages=plan.messages[:KEPT],
        first_rejected=plan.rejected[:KEPT],
        encoding_reasons=tuple(reasons),
        encoding_reason_count=reason_count,
        flagged=tuple(flagged),
        flagged_count=flagged_count,
        suppressed=len(plan.suppressed),
    )


def summary_columns(summary: PlanSummary) -> dict[str, Any]:
    """The summary as `batches` columns: the figures, and the rest as the `preview` JSON."""
    preview = {
        "seven_bit": summary.seven_bit,
        "max_parts": summary.max_parts,
        "text_encoding": summary.text_encoding,
        "delimiter": summary.delimiter,
        "columns": [list(pair) for pair in summary.columns],
        "ignored_columns": list(summary.ignored_columns),
        "notes": list(summary.notes),
        "cost": [[c.country, c.messages, c.parts, str(c.credits)] for c in summary.cost],
        "first_messages": [message_to_dict(m) for m in summary.first_messages],
        "first_rejected": [[r.line, r.column, r.reason, r.value] for r in summary.first_rejected],
        "encoding_reasons": [list(pair) for pair in summary.encoding_reasons],
        "encoding_reason_count": summary.encoding_reason_count,
        "flagged": [[line, list(flags)] for line, flags in summary.flagged],
        "flagged_count": summary.flagged_count,
        "suppressed": summary.suppressed,
    }
    return {
        "rows_read": summary.rows,
        "recipients": summary.recipients,
        "parts": summary.parts,
        "credits": str(summary.credits),  # text, so that nothing is rounded
        "duplicate_count": summary.duplicates,
        "rejected_count": summary.rejected,
        "chunk_count": summary.chunks,
        "preview": canonical_json(preview),
    }


def summary_from_columns(row: Mapping[str, Any] | sqlite3.Row, options: SendOptions) -> PlanSummary:
    """The summary back from its columns (a row holding FIGURE_COLUMNS and `preview`)."""
    p = json.loads(row["preview"])
    return PlanSummary(
        rows=row["rows_read"],
        recipients=row["recipients"],
        parts=row["parts"],
        credits=Decimal(row["credits"]),
        duplicates=row["duplicate_count"],
        rejected=row["rejected_count"],
        chunks=row["chunk_count"],
        seven_bit=p["seven_bit"],
        options=options,
        max_parts=p["max_parts"],
        text_encoding=p["text_encoding"],
        delimiter=p["delimiter"],
        columns=tuple((role, header) for role, header in p["columns"]),
        ignored_columns=tuple(p["ignored_columns"]),
        notes=tuple(p["notes"]),
        cost=tuple(CostLine(c, m, n, Decimal(cr)) for c, m, n, cr in p["cost"]),
        first_messages=tuple(message_from_dict(m) for m in p["first_messages"]),
        first_rejected=tuple(RejectedRow(*r) for r in p["first_rejected"]),
        encoding_reasons=tuple((line, why) for line, why in p["encoding_reasons"]),
        encoding_reason_count=p["encoding_reason_count"],
        flagged=tuple((line, tuple(flags)) for line, flags in p["flagged"]),
        flagged_count=p["flagged_count"],
        suppressed=p.get("suppressed", 0),  # previews stored before the list existed had none
    )


SUPPRESSED_REASON = "the number is on the suppression list (it opted out), so it is not sent"


def rejected_to_json(
    rows: tuple[RejectedRow, ...], suppressed: tuple[SuppressedRow, ...] = ()
) -> str:
    """Every rejected and suppressed row as JSON, by line (the `rejected_rows` column: the rows
    CSV shared in the thread)."""
    kept = [[r.line, r.column, r.reason, r.value] for r in rows]
    kept += [[s.line, "msisdn", SUPPRESSED_REASON, s.msisdn] for s in suppressed]
    return canonical_json(sorted(kept, key=lambda row: row[0]) if suppressed else kept)


def rejected_from_json(text: str) -> list[RejectedRow]:
    """The rejected rows back from `rejected_to_json`."""
    return [RejectedRow(*r) for r in json.loads(text)]
