"""The application service: what the Slack layer (and the CLI) call to prepare, decide and view.

Every state change is one write transaction holding its audit entry. Approval is bound to
content: the Approve button carries the batch id and the digest of what its preview showed
(`bot.codec.batch_digest`), and approving with any other digest is refused. At approval every
chunk's parameters and stop_dup_id are fixed and stored before anything is sent.

Refusals are `Decision(ok=False, reason=...)`, recorded in the audit log; their reasons name
Slack users as `<@U…>` (Slack shows the name; do not escape these reasons).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from bot.approving import Approval, approve_in, decided_reason
from bot.codec import options_to_dict
from bot.config import Settings
from bot.control import Stops
from bot.eapi.reports import NOT_SENT, report_meaning
from bot.errors import IntakeError, TransitionRefused
from bot.home import HomeSnapshot, home_snapshot
from bot.intake.plan import IntakeLimits, validate_options
from bot.intake.planner import PlannedBatch, Planner, plan_in_process
from bot.intake.pricing import PriceTable
from bot.intake.summary import PlanSummary
from bot.model import (
    BatchState,
    DeliveryCounts,
    DeliveryState,
    Progress,
    ProgressKind,
    SendOptions,
)
from bot.sending.notify import Notifier
from bot.slackfile import kept_file
from bot.store.audit import AuditEvent, csv_text
from bot.store.db import Store, Tx
from bot.store.lookup import SuppressionLookup
from bot.store.records import UploadRecord
from bot.store.reports import DeliveryStore
from bot.store.suppression import any_listed
from bot.testsend import TestSends
from bot.views import BatchView, ChunkView, Decision, Origin, PlanSource, batch_view

__all__ = [
    "BatchService",
    "BatchView",
    "ChunkView",
    "Decision",
    "Origin",
    "UploadRecord",
    "decided_reason",
]


class BatchService:
    """Prepare, change, approve, cancel and view batches; the Slack layer's one entry point."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        prices: PriceTable,
        *,
        is_approver: Callable[[str], bool],
        notifier: Notifier,
        wake_sender: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        simulated: bool = False,
        planner: Planner = plan_in_process,
        approve: Callable[[Store, Approval], str | None] = approve_in,
    ) -> None:
        """`planner` checks uploads (`bot.intake.planner`) and `approve` runs the approval
        transaction (`bot.approving`): here by default, or in the planner's worker."""
        self.store = store
        self.settings = settings
        self.prices = prices
        self.limits = IntakeLimits.from_settings(settings)
        self._is_approver = is_approver
        self._notifier = notifier
        self._wake_sender = wake_sender
        self._clock = clock
        self.simulated = simulated
        self._planner = planner
        self._approve = approve
        self.deliveries = DeliveryStore(store)
        self.stops = Stops(
            store, is_approver=is_approver, notifier=notifier, wake_sender=wake_sender, clock=clock
        )
        self.tests = TestSends(
            store, settings, is_approver=is_approver, wake_sender=wake_sender, clock=clock
        )

    # Slack-side de-duplication

    def claim_upload(
        self,
        file_id: str,
        channel_id: str,
        user_id: str,
        thread_ts: str | None = None,
        file: Mapping[str, Any] | None = None,
    ) -> bool:
        """True exactly once ever per Slack file id (durable across restarts).

        The claim stays unanswered until `upload_answered`; `thread_ts` and `file` (Slack's
        file object, reduced by `kept_file`: no token is stored) let a start-up resume it.
        """
        kept = None if file is None else json.dumps(kept_file(file), sort_keys=True)
        return self.store.claim_upload(
            file_id, channel_id, user_id, self._clock(), thread_ts=thread_ts, file_json=kept
        )

    def upload_answered(self, file_id: str, answer: str) -> bool:
        """Slack took the upload's answer (card or reply): it is never resumed again.

        Call this only after the post succeeded. False if it was answered already.
        """
        return self.store.answer_upload(file_id, answer, self._clock())

    def unanswered_uploads(
        self, max_age_seconds: float
    ) -> tuple[list[UploadRecord], list[UploadRecord]]:
        """Claims whose answer Slack never took (the process stopped in between), oldest first:
        (those claimed within `max_age_seconds`, those claimed before)."""
        cutoff = self._clock() - max_age_seconds
        claims = self.store.unanswered_uploads()
        recent = [c for c in claims if c.claimed_at >= cutoff]
        return recent, [c for c in claims if c.claimed_at < cutoff]

    def retry_upload(self, file_id: str) -> bool:
        """Count one more attempt at an unanswered upload; False if it is no longer unanswered."""
        return self.store.retry_upload(file_id)

    def abandon_upload(self, file_id: str, reason: str) -> bool:
        """Give up an unanswered upload without answering it (it is never resumed)."""
        return self.store.abandon_upload(file_id, reason)

    def claim_event(self, event_id: str) -> bool:
        """True exactly once ever per Slack event id (durable across restarts)."""
        return self.store.claim_event(event_id, self._clock())

    # Preparing

    def _plan(self, data: bytes, kind: str, options: SendOptions) -> PlannedBatch:
        problems = validate_options(options)
        if problems:
            raise IntakeError("the send options cannot be used: " + "; ".join(problems))
        # The worker asks the database itself which of the upload's numbers are listed: a
        # look-up by path crosses the process boundary, a million-number set would not.
        listed = SuppressionLookup(str(self.store.path)) if any_listed(self.store) else None
        return self._planner(data, kind, options, self.limits, self.prices, suppressed=listed)

    def prepare(self, data: bytes, options: SendOptions, origin: Origin) -> BatchView:
        """Plan an upload or paste and keep it as a pending batch (audit `batch_prepared`).

        IntakeError propagates after an `upload_refused` entry is recorded.
        """
        kind = "text" if origin.source == "paste" and _is_utf8(data) else "bytes"
        now = self._clock()
        try:
            planned = self._plan(data, kind, options)
        except IntakeError as exc:
            with self.store.write() as tx:
                tx.audit(
                    AuditEvent.UPLOAD_REFUSED,
                    at=now,
                    actor=origin.user_id,
                    channel_id=origin.channel_id,
                    detail=_origin_detail(origin, data) | {"reason": str(exc)},
                )
            raise
        upload = origin.file_id if origin.source == "upload" else None
        with self.store.write() as tx:
            claim = tx.upload(upload) if upload is not None else None
            if claim is not None and claim.batch_id is not None:
                # Two workers on one upload (say, a second process on this database): one
                # upload, one batch. The check and the insert share one write transaction.
                batch_id = claim.batch_id
            else:
                batch_id = self._insert_prepared(tx, planned, options, data, kind, origin, now)
                if claim is not None:
                    tx.link_upload(claim.file_id, batch_id)
        return self._view(batch_id, planned)

    def _insert_prepared(
        self,
        tx: Tx,
        planned: PlannedBatch,
        options: SendOptions,
        data: bytes,
        kind: str,
        origin: Origin,
        now: float,
    ) -> int:
        """The new pending batch and its `batch_prepared` entry; returns its id."""
        batch_id = tx.insert_batch(
            {
                "state": BatchState.PENDING.value,
                "options": json.dumps(options_to_dict(options)),
                "source": data,
                "source_kind": kind,
                "file_id": origin.file_id,
                "file_name": origin.file_name,
                "prepared_by": origin.user_id,
                "channel_id": origin.channel_id,
                "thread_ts": origin.thread_ts,
                "created_at": now,
                "simulated": int(self.simulated),
            }
            | planned.columns()
        )
        tx.audit(
            AuditEvent.BATCH_PREPARED,
            at=now,
            actor=origin.user_id,
            batch_id=batch_id,
            channel_id=origin.channel_id,
            detail=_origin_detail(origin, data) | _plan_detail(planned.summary, planned.digest),
        )
        return batch_id

    def set_card(self, batch_id: int, channel_id: str, ts: str) -> None:
        """Remember where the batch's preview card is, so progress can edit it."""
        with self.store.write() as tx:
            tx.batch_header(batch_id)  # BatchNotFound for a wrong id
            tx.set_card(batch_id, channel_id, ts)

    def change_options(self, batch_id: int, options: SendOptions, actor: str) -> BatchView:
        """Re-plan a pending batch with new options (new digest); TransitionRefused otherwise.

        Only its preparer or an approver may; anyone else is refused (audit `options_refused`).
        """
        batch = self.store.batch_header(batch_id)
        if actor != batch.prepared_by and not self._is_approver(actor):
            reason = (
                f"only the person who prepared batch {batch_id} or an approver can change "
                "its options"
            )
            with self.store.write() as tx:
                tx.audit(
                    AuditEvent.OPTIONS_REFUSED,
                    at=self._clock(),
                    actor=actor,
                    batch_id=batch_id,
                    channel_id=batch.channel_id,
                    detail={"reason": reason, "options": options_to_dict(options)},
                )
            raise TransitionRefused(reason)
        if batch.state is not BatchState.PENDING:
            raise TransitionRefused(decided_reason(batch))
        # The Options modal has no template field: the batch keeps the one it was prepared with.
        options = replace(options, template=batch.options.template)
        data, kind = self.store.batch_source(batch_id)
        planned = self._plan(data, kind, options)
        now = self._clock()
        columns = planned.columns() | {"options": json.dumps(options_to_dict(options))}
        with self.store.write() as tx:
            if not tx.replan(batch_id, columns):
                raise TransitionRefused(decided_reason(tx.batch_header(batch_id)))
            tx.audit(
                AuditEvent.OPTIONS_CHANGED,
                at=now,
                actor=actor,
                batch_id=batch_id,
                channel_id=batch.channel_id,
                detail={
                    "old_options": options_to_dict(batch.options),
                    "old_digest": batch.digest,
                }
                | _plan_detail(planned.summary, planned.digest),
            )
        return self._view(batch_id, planned)

    # Deciding

    def approve(self, batch_id: int, actor: str, digest: str) -> Decision:
        """Approve exactly what the preview showed; of concurrent approvals one wins."""
        click = Approval(
            batch_id,
            actor,
            digest,
            self._clock(),
            approver=self._is_approver(actor),
            approvers_set=bool(self.settings.approvers),
            self_approval=self.settings.self_approval,
        )
        reason = self._approve(self.store, click)
        view = self.get(batch_id)
        if reason is None:
            self._queued(view)
        return Decision(reason is None, view, reason or "")

    def _queued(self, view: BatchView) -> None:
        self._notifier.notify(
            Progress(
                ProgressKind.QUEUED,
                view.id,
                chunk_count=len(view.chunks),
                state=view.state,
                queue_position=view.queue_position,
            )
        )
        self._wake_sender()

    def cancel(self, batch_id: int, actor: str) -> Decision:
        """Cancel a pending batch: its preparer or an approver may."""
        batch = self.store.batch_header(batch_id)
        allowed = actor == batch.prepared_by or self._is_approver(actor)
        now = self._clock()
        with self.store.write() as tx:
            batch = tx.batch_header(batch_id)
            reason = None
            if not allowed:
                reason = "only the person who prepared the batch or an approver can cancel it"
            elif not tx.decide(batch_id, BatchState.CANCELLED, actor, now):
                reason = decided_reason(batch)
            tx.audit(
                AuditEvent.CANCELLED if reason is None else AuditEvent.CANCEL_REFUSED,
                at=now,
                actor=actor,
                batch_id=batch_id,
                channel_id=batch.channel_id,
                detail={} if reason is None else {"reason": reason},
            )
        return Decision(reason is None, self.get(batch_id), reason or "")

    # Reporting

    def mark_reported(self, batch_id: int, chunk_index: int | None) -> bool:
        """The notifier posted this final result (chunk index, or None for the batch's end).

        Results never marked are reported again when a sender next takes the lease (at
        start-up): call this only after the post succeeded. False if there was nothing to mark.
        """
        return self.store.mark_reported(batch_id, chunk_index, self._clock())

    # Viewing

    def get(self, batch_id: int) -> BatchView:
        """The batch as it is now (its plan decoded only if used); BatchNotFound if unknown."""
        return self._view(batch_id)

    def _view(self, batch_id: int, planned: PlannedBatch | None = None) -> BatchView:
        """The view from the batch's columns; its plan from `planned` while the digest matches
        (no decoding at all when it was planned here), else read from the store when used.

        What a view shows is on disk first: the sender records answers without waiting for the
        disk (`Store.flush_to_disk`, free when nothing is pending)."""
        self.store.flush_to_disk()
        with self.store.snapshot() as read:
            batch = read.batch_header(batch_id)
            chunks, position = read.chunks(batch_id), read.queue_position(batch_id)
        plan: PlanSource = partial(self.store.stored_plan, batch_id, batch.digest)
        if planned is not None and planned.digest == batch.digest:
            plan = planned.plan or planned.decoded
        return batch_view(batch, chunks, position, plan)

    def recent(self, limit: int = 5, channel_id: str | None = None) -> list[BatchView]:
        """The newest batches first, optionally only those of one channel (plans not read)."""
        with self.store.snapshot() as read:
            return [
                batch_view(
                    b,
                    read.chunks(b.id),
                    read.queue_position(b.id),
                    partial(self.store.stored_plan, b.id, b.digest),
                )
                for b in read.recent(limit, channel_id)
            ]

    def home(self) -> HomeSnapshot:
        """The sender's state, the queue and the latest batches, for the Home tab (on disk
        first, as for `get`)."""
        self.store.flush_to_disk()
        return home_snapshot(self.store, self._clock())

    def rejected_csv(self, batch_id: int) -> bytes:
        """Every rejected row as CSV (UTF-8 with BOM for Excel), cells formula-safe."""
        rejected = self.store.rejected_rows(batch_id)  # without decoding the plan
        rows = ([r.line, r.column, r.reason, r.value] for r in rejected)
        return csv_text(("line", "column", "reason", "value"), rows).encode("utf-8-sig")

    # Delivery reports

    def delivery_counts(self, batch_id: int) -> DeliveryCounts | None:
        """The batch's delivery counts once any report has arrived; else None."""
        if not self.deliveries.has_reports(batch_id):
            return None
        return self.deliveries.delivery_counts(batch_id)

    def failures_csv(self, batch_id: int) -> tuple[int, bytes]:
        """The failed messages as CSV (line, number, code, meaning) and how many there are."""
        failed = [m for m in self.deliveries.messages(batch_id) if m.state is DeliveryState.FAILED]
        rows = (
            [
                m.line,
                m.msisdn,
                m.status_code,
                report_meaning(m.status_code) if m.status_code is not None else NOT_SENT,
            ]
            for m in failed
        )
        header = ("line", "number", "code", "meaning")
        return len(failed), csv_text(header, rows).encode("utf-8-sig")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _origin_detail(origin: Origin, data: bytes) -> dict[str, object]:
    return {
        "source": origin.source,
        "file_id": origin.file_id,
        "file_name": origin.file_name,
        "thread_ts": origin.thread_ts,
        "bytes": len(data),
        "source_sha256": hashlib.sha256(data).hexdigest(),
    }


def _plan_detail(summary: PlanSummary, digest: str) -> dict[str, object]:
    return {
        "digest": digest,
        "options": options_to_dict(summary.options),
        "rows": summary.rows,
        "recipients": summary.recipients,
        "parts": summary.parts,
        "credits": str(summary.credits),
        "rejected": summary.rejected,
        "duplicates": summary.duplicates,
        "suppressed": summary.suppressed,
        "chunks": summary.chunks,
        "text_encoding": summary.text_encoding,
    }
