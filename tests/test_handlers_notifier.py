"""Progress in Slack: a thread message per submission, card edits throttled per card."""

from __future__ import annotations

import re
import time
from pathlib import Path

from bot.model import Progress, ProgressKind, SendOptions
from bot.sending.retry import RetryPolicy
from bot.sending.sender import Sender
from handlers.builders import ids, wording
from tests.fake_slack import Recorded
from tests.slack_harness import APPROVER, Harness, running_harness
from tests.test_handlers_approval import approve_value, updates_of

THREE = "msisdn,message\n447911123401,One\n447911123402,Two\n447911123403,Three"


def approve_and_wait(h: Harness, text: str, results: int) -> tuple[Recorded, list[str]]:
    """Paste, approve, and wait for `results` status messages in the card's thread."""
    h.command(text)
    card = h.wait_card()
    h.click(ids.APPROVE, approve_value(card), APPROVER, card)
    thread = h.ts_of(card)
    texts = h.fake.wait_for(
        lambda: [t for t in h.thread_texts(thread) if "status" in t][results - 1 :],
        what=f"{results} results",
    )
    assert texts
    return card, [t for t in h.thread_texts(thread) if "status" in t]


def test_card_edits_are_throttled_and_the_last_one_is_never_lost(tmp_path: Path) -> None:
    """With a 60 s interval one edit happens at approval; the final state is flushed on stop."""
    with running_harness(tmp_path, min_edit_interval=60.0, SMSBATCH_CHUNK_SIZE="1") as h:
        card, results = approve_and_wait(h, THREE, 3)
        assert [re.sub(r"batch_id \d+", "batch_id N", t) for t in results] == [
            f"Batch 1 chunk {k} of 3 submitted: status 0 IN_PROGRESS, batch_id N "
            "(simulation — nothing is sent)"
            for k in (1, 2, 3)
        ]
        time.sleep(0.3)
        assert len(updates_of(h, card)) == 1
        h.services.notifier.stop()
        updates = updates_of(h, card)
        assert len(updates) == 2 and "— sent" in updates[-1].body["text"]
        finished = h.thread_texts(h.ts_of(card))[-1]
        assert finished.startswith("Batch 1 finished — sent")


def test_a_fatal_status_is_reported_with_its_meaning_and_what_to_do(tmp_path: Path) -> None:
    """Status 25 is not retried; the thread says what it means and what to do."""
    with running_harness(tmp_path, sim_options={"script": "25"}) as h:
        card, results = approve_and_wait(h, THREE, 1)
        assert results[0].startswith(
            "Batch 1 failed: status 25 (you do not have sufficient credits)"
        )
        assert "Buy credits" in results[0]
        h.fake.wait_for(
            lambda: [u for u in updates_of(h, card) if "— failed" in u.body["text"]],
            what="failed card",
        )
        assert len([r for r in h.sim.requests if "send_batch" in r.path]) == 1


def test_a_scheduled_send_is_reported_as_scheduled(tmp_path: Path) -> None:
    """Status 1 (future send time) reads 'scheduled' with the batch_id."""
    with running_harness(tmp_path) as h:
        h.command(THREE)
        card = h.wait_card()
        h.service.change_options(1, SendOptions(send_at=4_000_000_000), APPROVER)
        view = h.service.get(1)
        h.click(ids.APPROVE, f"1:{view.digest}", APPROVER, card)
        text = h.fake.wait_for(
            lambda: [t for t in h.thread_texts(h.ts_of(card)) if "status" in t], what="result"
        )[0]
        assert re.match(r"Batch 1 scheduled: status 1 \w+, batch_id \d+", text)


def test_an_unknown_outcome_is_reported_in_the_thread(tmp_path: Path) -> None:
    """The sender's UNKNOWN report becomes the 'check the EAPI account' message."""
    with running_harness(tmp_path) as h:
        h.command(THREE)
        card = h.wait_card()
        h.fake.wait_for(lambda: h.service.get(1).card_ts, what="the card's place saved")
        h.services.notifier.notify(
            Progress(ProgressKind.UNKNOWN, 1, 0, 1, description="no answer within the window")
        )
        text = h.fake.wait_for(lambda: h.thread_texts(h.ts_of(card)), what="message")[0]
        assert text.startswith("Batch 1: outcome unknown — check the EAPI account before resending")


def test_the_unknown_outcome_phrase_is_said_once() -> None:
    """The sender's description already starts with the phrase; the message says it once."""
    description = "outcome unknown — check the EAPI account before resending (window passed)"
    event = Progress(ProgressKind.UNKNOWN, 1, 0, 1, description=description)
    assert wording.unknown_outcome(event, simulated=False) == (
        "Batch 1: outcome unknown — check the EAPI account before resending (window passed)"
    )


def restart_sender(h: Harness) -> Sender:
    """Stop the harness's sender and start a new one on the same database and notifier."""
    h.sender.stop()
    h.sender = Sender(
        h.store,
        h.clients[0],
        h.services.notifier,
        RetryPolicy.from_settings(h.settings),
        dedup_window_seconds=h.settings.dedup_window_seconds,
        idle_seconds=0.05,
    )
    h.sender.start()
    h.fake.wait_for(lambda: h.sender.holding_lease, what="the new sender's lease")
    return h.sender


def posted_results(h: Harness, thread: str) -> list[str]:
    """Result messages Slack accepted in a thread."""
    return [
        str(r.body.get("text"))
        for r in h.fake.calls("chat.postMessage")
        if r.body.get("thread_ts") == thread and r.answer.get("ok") and "status" in r.body["text"]
    ]


def reported(h: Harness) -> tuple[list[float | None], float | None]:
    """reported_at of batch 1's chunks and of batch 1 itself."""
    return [c.reported_at for c in h.store.chunks(1)], h.store.batch(1).reported_at


def test_a_posted_result_is_confirmed_and_not_posted_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """The result message and the sent card are confirmed; a new sender posts nothing again."""
    with running_harness(tmp_path) as h:
        card, results = approve_and_wait(h, THREE, 1)
        h.fake.wait_for(
            lambda: None not in reported(h)[0] and reported(h)[1] is not None, what="confirmed"
        )
        restart_sender(h)
        time.sleep(0.5)  # a repeated report would be posted by now
        assert posted_results(h, h.ts_of(card)) == results
        assert len(results) == 1


def test_a_result_slack_refused_is_posted_after_a_restart(tmp_path: Path) -> None:
    """chat.postMessage fails for the result: unconfirmed; the restarted sender posts it once."""
    with running_harness(tmp_path) as h:
        h.command(THREE)
        card = h.wait_card()
        h.fake.fail_once["chat.postMessage"] = "service_unavailable"
        h.click(ids.APPROVE, approve_value(card), APPROVER, card)
        thread = h.ts_of(card)
        h.fake.wait_for(lambda: "chat.postMessage" not in h.fake.fail_once, what="the failure")
        h.fake.wait_for(lambda: reported(h)[1] is not None, what="the card showing the end")
        assert reported(h)[0] == [None] and posted_results(h, thread) == []
        restart_sender(h)
        [result] = h.fake.wait_for(lambda: posted_results(h, thread), what="the result")
        assert re.match(r"Batch 1 submitted: status 0 IN_PROGRESS, batch_id \d+", result)
        h.fake.wait_for(lambda: None not in reported(h)[0], what="the confirmation")
        restart_sender(h)
        time.sleep(0.5)  # a third report would be posted by now
        assert posted_results(h, thread) == [result]
