"""Typed records the store returns (never raw database rows), and their row mappers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.codec import options_from_dict, plan_from_json
from bot.errors import StoreError
from bot.intake.summary import PlanSummary, summary_from_columns
from bot.model import BatchPlan, BatchState, Dca, SendOptions
from bot.store.audit import COLUMNS, AuditEntry


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """One batch as stored, without its messages: read from columns, never from the plan."""

    id: int
    state: BatchState
    summary: PlanSummary  # the plan's figures and the first few of each list a card shows
    options: SendOptions
    digest: str
    source_kind: str
    file_id: str | None
    file_name: str | None
    prepared_by: str
    channel_id: str
    thread_ts: str | None
    card_channel: str | None
    card_ts: str | None
    created_at: float
    decided_by: str | None
    decided_at: float | None
    approved_seq: int | None
    finished_at: float | None
    simulated: bool
    reported_at: float | None  # when the Slack layer confirmed the final report was posted
    stopped_at: float | None  # when a person stopped the rest of the batch (after approval)
    stopped_by: str | None


@dataclass(frozen=True, slots=True)
class BatchRecord(BatchHeader):
    """One batch as stored, with its plan decoded (the upload's bytes: `Store.batch_source`)."""

    plan: BatchPlan


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One submission of a batch (its parameters are read separately: `Store.chunk_params`)."""

    id: int
    batch_id: int
    index: int
    dca: Dca
    messages: int
    params_sha256: str
    stop_dup_id: int
    state: str  # queued | sending | accepted | scheduled | failed | unknown
    attempts: int
    status_code: int | None
    description: str | None
    eapi_batch_id: int | None
    reason: str | None
    first_attempt_at: float | None
    next_attempt_at: float | None
    finished_at: float | None
    reported_at: float | None  # when the Slack layer confirmed the result was posted
    stopped_at: float | None = None  # closed by a stop: never submitted (state "failed")


@dataclass(frozen=True, slots=True)
class NewChunk:
    """A chunk to materialise at approval: its parameters are final from now on."""

    index: int
    dca: Dca
    messages: int
    params_json: str
    params_sha256: str
    stop_dup_id: int


@dataclass(frozen=True, slots=True)
class AttemptAnswer:
    """What one attempt came back with (None fields: not known)."""

    outcome: str
    http_status: int | None
    status_code: int | None
    raw_answer: str | None
    error: str | None
    duration: float | None


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """One uploaded file as claimed: where to answer, and the file object to fetch it again."""

    file_id: str
    channel_id: str
    user_id: str
    thread_ts: str | None
    file: Mapping[str, Any]  # Slack's file object, reduced to id, name, type, size and links
    state: str  # claimed | answered | abandoned
    claimed_at: float
    attempts: int  # 1 at the claim, one more each time a start-up resumed it
    batch_id: int | None  # the batch prepared from it, once there is one
    answered_at: float | None
    answer: str | None  # how it was answered: card, refused, no_link, download_error, …


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """What `health` and `/healthz` report; nothing secret."""

    db_ok: bool
    sender_owner: str | None
    heartbeat_age_seconds: float | None
    lease_expires_in_seconds: float | None
    queue_length: int
    oldest_approved_age_seconds: float | None
    last_answer_age_seconds: float | None
    lease_released_at: float | None = None  # unix time of a clean stop; None while held

    def problem(self, max_heartbeat_age: float) -> str | None:
        """Why the sender is not healthy, or None while it holds a live lease with a fresh beat."""
        age = self.heartbeat_age_seconds
        if age is None:
            return "no sender has ever run on this database"
        if self.lease_released_at is not None:
            when = datetime.fromtimestamp(self.lease_released_at, UTC)
            return (
                "the sender is not running: it released its lease at "
                f"{when:%Y-%m-%d %H:%M:%S} UTC (a clean stop); start the app"
            )
        if age > max_heartbeat_age:
            return (
                f"the sender's heartbeat is {age:.0f} s old "
                f"(limit {max_heartbeat_age:.0f} s): is the app running?"
            )
        expires_in = self.lease_expires_in_seconds
        if expires_in is not None and expires_in <= 0:
            return (
                f"the sender is not running: its lease expired {-expires_in:.0f} s ago "
                f"(last heartbeat {age:.0f} s ago): is the app running?"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every figure."""
        return {name: getattr(self, name) for name in self.__slots__}


def _header_fields(row: sqlite3.Row) -> dict[str, Any]:
    """A `batches` row's header columns as `BatchHeader` fields."""
    options = options_from_dict(json.loads(row["options"]))
    if row["preview"] is None:  # the upgrade to 0004 could not decode this batch's plan
        raise StoreError(f"batch {row['id']} is damaged: its stored plan cannot be read")
    return {
        "id": row["id"],
        "state": BatchState(row["state"]),
        "summary": summary_from_columns(row, options),
        "options": options,
        "digest": row["digest"],
        "source_kind": row["source_kind"],
        "file_id": row["file_id"],
        "file_name": row["file_name"],
        "prepared_by": row["prepared_by"],
        "channel_id": row["channel_id"],
        "thread_ts": row["thread_ts"],
        "card_channel": row["card_channel"],
        "card_ts": row["card_ts"],
        "created_at": row["created_at"],
        "decided_by": row["decided_by"],
        "decided_at": row["decided_at"],
        "approved_seq": row["approved_seq"],
        "finished_at": row["finished_at"],
        "simulated": bool(row["simulated"]),
        "reported_at": row["reported_at"],
        "stopped_at": row["stopped_at"],
        "stopped_by": row["stopped_by"],
    }


def batch_header(row: sqlite3.Row) -> BatchHeader:
    """A `batches` row (its header columns) as a header; the plan is not read."""
    return BatchHeader(**_header_fields(row))


def batch_record(row: sqlite3.Row) -> BatchRecord:
    """A `batches` row (header columns and plan, no source bytes) as a record, plan decoded."""
    return BatchRecord(**_header_fields(row), plan=plan_from_json(row["plan"]))


def chunk_record(row: sqlite3.Row) -> ChunkRecord:
    """A `chunks` row (without its parameters) as a record."""
    return ChunkRecord(
        id=row["id"],
        batch_id=row["batch_id"],
        index=row["chunk_index"],
        dca=Dca(row["dca"]),
        messages=row["messages"],
        params_sha256=row["params_sha256"],
        stop_dup_id=row["stop_dup_id"],
        state=row["state"],
        attempts=row["attempts"],
        status_code=row["status_code"],
        description=row["description"],
        eapi_batch_id=row["eapi_batch_id"],
        reason=row["reason"],
        first_attempt_at=row["first_attempt_at"],
        next_attempt_at=row["next_attempt_at"],
        finished_at=row["finished_at"],
        reported_at=row["reported_at"],
        stopped_at=row["stopped_at"],
    )


def upload_record(row: sqlite3.Row) -> UploadRecord:
    """An `uploads` row as a record, its file object decoded ({"id": …} when none was kept)."""
    file = json.loads(row["file"]) if row["file"] else {"id": row["file_id"]}
    return UploadRecord(
        file_id=row["file_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        thread_ts=row["thread_ts"],
        file=file,
        state=row["state"],
        claimed_at=row["claimed_at"],
        attempts=row["attempts"],
        batch_id=row["batch_id"],
        answered_at=row["answered_at"],
        answer=row["answer"],
    )


def audit_entry(row: sqlite3.Row) -> AuditEntry:
    """An `audit_log` row as an entry, column by column."""
    return AuditEntry(*(row[name] for name in COLUMNS))
