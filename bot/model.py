"""The typed values that cross layers: send options, the batch plan, batch states and progress.

Frozen, slotted dataclasses and enums only; no I/O. The intake produces a `BatchPlan`, the store
keeps it, the sender submits its chunks, and the Slack layer renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Dca(StrEnum):
    """The EAPI's data coding alphabet for one message (and so for one submission)."""

    SEVEN_BIT = "7bit"
    SIXTEEN_BIT = "16bit"


class TestMode(StrEnum):
    """The EAPI's test flags: validate the submission but send nothing."""

    __test__ = False  # not a pytest class

    OFF = "off"
    SUCCEED = "succeed"  # test_always_succeed=1
    FAIL = "fail"  # test_always_fail=1


@dataclass(frozen=True, slots=True)
class SendOptions:
    """Batch-level send options a user chooses in the preview or the New batch modal."""

    sender: str | None = None
    routing_group: int | None = None
    send_at: int | None = None  # unix time for send_time_unixtime; None sends now
    test_mode: TestMode = TestMode.OFF
    template: str | None = None  # one message for every row, with ((column)) placeholders


@dataclass(frozen=True, slots=True)
class Message:
    """One sendable message, exactly as it will go out."""

    line: int  # the line a spreadsheet shows for the row (header is line 1)
    msisdn: str  # international digits, no '+'
    text: str  # exact text (line endings normalised to LF)
    dca: Dca
    parts: int
    country: str  # ISO region of the destination, e.g. "GB"
    encoding_reason: str | None = None  # why 16-bit, naming the first character that forced it
    overrides: tuple[tuple[str, str], ...] = ()  # validated per-row EAPI columns, in column order
    flags: tuple[str, ...] = ()  # warnings a person should see (ambiguous number, …)


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that will not be sent, with a reason a person can act on."""

    line: int
    column: str
    reason: str
    value: str


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    """A row dropped because an earlier row has the same number and the same text."""

    line: int
    first_line: int
    msisdn: str


@dataclass(frozen=True, slots=True)
class SuppressedRow:
    """A row not sent because its number is on the suppression list (it opted out)."""

    line: int
    msisdn: str


@dataclass(frozen=True, slots=True)
class PlannedChunk:
    """One future EAPI submission: consecutive messages of a single dca."""

    index: int  # 0-based
    dca: Dca
    lines: tuple[int, ...]  # the `Message.line`s it carries, in order


@dataclass(frozen=True, slots=True)
class CostLine:
    """Estimated credits for one destination country."""

    country: str
    messages: int
    parts: int
    credits: Decimal


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What the intake made of one upload: every row read is in exactly one list."""

    rows: int  # data rows read
    messages: tuple[Message, ...]
    rejected: tuple[RejectedRow, ...]
    duplicates: tuple[DuplicateRow, ...]
    chunks: tuple[PlannedChunk, ...]
    cost: tuple[CostLine, ...]
    credits: Decimal
    options: SendOptions
    text_encoding: str  # how the bytes were decoded: "utf-8", "utf-8-sig", "utf-16", "cp1252"
    delimiter: str
    columns: tuple[tuple[str, str], ...] = ()  # (role, header used), e.g. ("msisdn", "Phone")
    ignored_columns: tuple[str, ...] = ()  # headers kept out of the submission
    notes: tuple[str, ...] = field(default=())  # file-level remarks for the preview
    max_parts: int = 3  # the part limit the messages were checked against (sent as is)
    suppressed: tuple[SuppressedRow, ...] = ()  # rows whose number is on the suppression list

    @property
    def parts(self) -> int:
        """SMS parts of all sendable messages."""
        return sum(m.parts for m in self.messages)


class BatchState(StrEnum):
    """A batch's life: pending → approved → sending → sent | partly_sent | failed | unknown."""

    PENDING = "pending"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    PARTLY_SENT = "partly_sent"
    FAILED = "failed"
    UNKNOWN = "outcome_unknown"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        """True when nothing more will happen to the batch."""
        return self not in (BatchState.PENDING, BatchState.APPROVED, BatchState.SENDING)


class ProgressKind(StrEnum):
    """What the sender reports through a `Notifier`."""

    QUEUED = "queued"
    CHUNK_DONE = "chunk_done"  # one submission answered (accepted, scheduled, or fatal)
    RETRYING = "retrying"
    FINISHED = "finished"  # the batch reached a final state (sent, partly sent, failed)
    UNKNOWN = "unknown"  # a submission's outcome cannot be known; a person must check
    DELIVERY = "delivery"  # delivery reports arrived: the first ones, or the batch is final
    DROPPED = "dropped"  # numbers suppressed since approval were taken out of a submission
    TEST_DONE = "test_done"  # a test send (to one person's own phone) got its final state


class DeliveryState(StrEnum):
    """What a delivery report says of one message (EAPI codes classed in bot.eapi.reports)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"  # status 70, or still pending after the last scheduled fetch

    @property
    def final(self) -> bool:
        """True for delivered and failed: no later report changes them."""
        return self in (DeliveryState.DELIVERED, DeliveryState.FAILED)


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One recipient's delivery report (polled or pushed): number, raw code and its class."""

    msisdn: str
    status_code: int
    state: DeliveryState
    source_id: str | None = None  # the source_id the message was sent with, when echoed
    completed_time: str | None = None  # as the EAPI wrote it (format unverified)


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """How many messages of a batch are in each delivery state."""

    delivered: int = 0
    failed: int = 0
    pending: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        """Every message counted."""
        return self.delivered + self.failed + self.pending + self.unknown


@dataclass(frozen=True, slots=True)
class Progress:
    """One report from the sender about one batch."""

    kind: ProgressKind
    batch_id: int
    chunk_index: int | None = None
    chunk_count: int = 0
    status_code: int | None = None
    description: str | None = None  # the EAPI's status_description, or our reason
    eapi_batch_id: int | None = None
    attempt: int | None = None
    retry_in_seconds: float | None = None
    state: BatchState | None = None
    queue_position: int | None = None
    delivery: DeliveryCounts | None = None  # DELIVERY: the batch's counts
    delivery_final: bool = False  # DELIVERY: no message of the batch is pending any more
    announce: bool = False  # DELIVERY: the first reports or the final counts: tell the thread
    dropped: int = 0  # DROPPED: how many messages were taken out
    test_id: int | None = None  # TEST_DONE: which test send
