"""Consent end to end: the real app, the fake Slack, the simulator over HTTP, a real database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from bot.store import inbox, suppression
from bot.store.suppression import Source
from handlers.builders import ids
from tests.slack_harness import APPROVER, CHANNEL, PREPARER, Harness, running_harness
from tests.test_handlers_approval import approve_value, wait_result

STOPPED = "447911123402"
PASTE = "msisdn,message\n447911123401,Hello\n447911123402,Hello\n447911123403,Hello"


def responses_text(h: Harness) -> list[str]:
    """Texts the app sent to response_url sinks, oldest first."""
    return [str(r.body.get("text")) for r in h.responses()]


def wait_response(h: Harness, needle: str) -> str:
    """The first response_url text that contains `needle`."""
    found = h.fake.wait_for(
        lambda: [t for t in responses_text(h) if needle in t], what=f"a reply with {needle!r}"
    )
    return str(found[0])


def replies_posted(h: Harness, thread: str) -> list[str]:
    """Reply messages Slack accepted in one thread."""
    return [
        str(r.body["text"])
        for r in h.fake.calls("chat.postMessage")
        if r.body.get("thread_ts") == thread
        and str(r.body.get("text")).startswith("Replies")
        and r.answer.get("ok")
    ]


def sent_numbers(h: Harness) -> list[str]:
    """Every number the simulated EAPI accepted a message for."""
    return [number for sub in h.sim.processed for number, _ in sub.rows]


def approve_and_wait(h: Harness, card_number: int) -> Any:
    """Approve the n-th card and wait for its submission result."""
    card = h.wait_card(card_number)
    assert h.click(ids.APPROVE, approve_value(card), APPROVER, card).status == 200
    wait_result(h, card)
    return card


def test_an_optout_added_in_slack_is_suppressed_in_the_next_preview(tmp_path: Path) -> None:
    """`/smsbatch optout add`: counted as suppressed, never reaches the EAPI; audited."""
    with running_harness(tmp_path) as h:
        h.command("optout add +44 7911 123402")
        assert "Added 1 number: 447911123402" in wait_response(h, "Added")
        h.command(PASTE)
        card = h.wait_card()
        assert card.body["text"].startswith(
            "Batch 1: 2 recipients, 2 SMS, ~2 credits, 1 suppressed — waiting for approval"
        )
        fields = [f["text"] for b in card.blocks() for f in b.get("fields", [])]
        assert "*Suppressed (opted out)*\n1" in fields
        shared = h.fake.wait_for(lambda: h.fake.calls("files.completeUploadExternal"))
        assert str(shared[0].body.get("initial_comment")) == (
            "Batch 1: every row not sent, with reasons — 0 rejected, 1 suppressed "
            "(the number is on the suppression list)."
        )
        approve_and_wait(h, 1)
        assert sent_numbers(h) == ["447911123401", "447911123403"]
        assert "suppression_added" in h.audit_events()


def test_only_an_approver_can_remove_and_list_shows_the_entries(tmp_path: Path) -> None:
    """A preparer's removal is refused (audited); an approver's works; list names the source."""
    with running_harness(tmp_path) as h:
        h.command("optout add 07911 123402")
        wait_response(h, "Added")
        h.command("optout remove 07911 123402", user=PREPARER)
        assert "only an approver" in wait_response(h, "Nothing changed")
        h.command("optout list")
        assert "447911123402 — manual" in wait_response(h, "suppression list (1 number)")
        h.command("optout remove 07911 123402", user=APPROVER)
        wait_response(h, "Removed 1 number")
        assert suppression.size(h.store) == 0
        assert h.audit_events().count("suppression_refused") == 1


def test_a_stop_reply_in_the_inbox_suppresses_and_the_next_batch_leaves_it_out(
    tmp_path: Path,
) -> None:
    """A STOP injected through the simulator's admin path is read by the inbox task."""
    with running_harness(
        tmp_path, SMSBATCH_INBOX_POLL_SECONDS="0.3", SMSBATCH_REPLIES_CHANNEL="C0REPLIES"
    ) as h:
        answer = requests.post(
            h.sim.url.removesuffix("/eapi") + "/admin/inbox",
            data={"sender": STOPPED, "message": "STOP"},
            timeout=5,
        )
        assert answer.status_code == 200
        assert h.fake.wait_for(lambda: suppression.entry(h.store, STOPPED), what="the STOP")
        entry = suppression.entry(h.store, STOPPED)
        assert entry is not None and entry.source is Source.REPLY
        shown = h.fake.wait_for(
            lambda: [
                r for r in h.fake.calls("chat.postMessage") if r.body["channel"] == "C0REPLIES"
            ],
            what="the reply in the replies channel",
        )
        assert str(shown[0].body["text"]).startswith(
            "Replies to no known batch (1):\n• +447911123402"
        )
        assert str(shown[0].body["text"]).endswith(
            ": STOP — opt-out keyword: the number is now on the suppression list"
        )
        h.command(PASTE)
        assert "1 suppressed" in h.wait_card().body["text"]
        approve_and_wait(h, 1)
        assert STOPPED not in sent_numbers(h)


def test_a_number_suppressed_after_approval_is_dropped_and_the_thread_says_so(
    tmp_path: Path,
) -> None:
    """Two submissions; while the first is in flight the number of the second opts out."""
    with running_harness(tmp_path, SMSBATCH_CHUNK_SIZE="2", sim_options={"latency": 1.0}) as h:
        h.command(PASTE.replace("447911123402", "447911123404") + "\n447911123402,Hello")
        card = h.wait_card()
        assert h.click(ids.APPROVE, approve_value(card), APPROVER, card).status == 200
        assert h.fake.wait_for(lambda: h.sim.requests, what="the first submission in flight")
        h.command(f"optout add {STOPPED}")
        wait_response(h, "Added")
        thread = card.body.get("thread_ts") or h.ts_of(card)
        said = h.fake.wait_for(
            lambda: [t for t in h.thread_texts(thread) if "taken out" in t], what="the drop"
        )
        assert str(said[0]).startswith("Batch 1: 1 message taken out of submission 2 of 2")
        h.fake.wait_for(lambda: len(h.sim.processed) == 2, what="both submissions", timeout=10)
        assert STOPPED not in sent_numbers(h)
        assert "submission_trimmed" in h.audit_events(1)


def test_a_reply_to_a_batch_appears_in_its_thread_once(tmp_path: Path) -> None:
    """Posting fails once (as if the app stopped after storing): it is posted once, later."""
    with running_harness(tmp_path, SMSBATCH_INBOX_POLL_SECONDS="0.3") as h:
        h.command(PASTE)
        card = approve_and_wait(h, 1)
        thread = card.body.get("thread_ts") or h.ts_of(card)
        eapi_batch = h.sim.processed[0].batch_id
        h.fake.fail_once["chat.postMessage"] = "internal_error"
        h.sim.add_reply("447911123401", "Thanks <@U123> & bye", referring_batch_id=eapi_batch)
        h.sim.add_reply("447911123403", "who is this?", referring_batch_id=eapi_batch)
        found = h.fake.wait_for(lambda: replies_posted(h, thread), what="the replies")
        time.sleep(1.0)  # more polls: nothing is posted twice
        posted = replies_posted(h, thread)
        assert posted == found and len(posted) == 1
        refused = [r for r in h.fake.calls("chat.postMessage") if not r.answer.get("ok")]
        assert [str(r.body["text"]) for r in refused] == posted  # the same message, failed once
        assert posted[0] == (
            "Replies to batch 1 (2):\n"
            "• +447911123401 at " + h.sim.inbox[0].received_time
            + ": Thanks &lt;@U123&gt; &amp; bye\n"
            "• +447911123403 at " + h.sim.inbox[1].received_time + ": who is this?"
        )  # fmt: skip
        assert [r.batch_id for r in inbox.replies(h.store)] == [1, 1]


def test_replies_stored_before_a_restart_are_posted_once_after_it(tmp_path: Path) -> None:
    """The app stops after storing a page but before Slack took it: the next process posts it
    once, without asking the inbox again before its next poll (cursor and schedule are stored)."""
    with running_harness(tmp_path, SMSBATCH_INBOX_POLL_SECONDS="3600") as first:
        first.command(PASTE)
        approve_and_wait(first, 1)
        eapi_batch = first.sim.processed[0].batch_id
        first.sender.stop()  # from here the test takes the sender's turns itself
        first.fake.fail_once["chat.postMessage"] = "internal_error"
        first.sim.add_reply("447911123401", "hello", referring_batch_id=eapi_batch)
        first.sim.add_reply("447911123403", "bye", referring_batch_id=eapi_batch)
        assert first.inbox is not None
        first.inbox.run(time.time() + 3601)  # the next poll: stored, but Slack refused the post
        assert len(inbox.unposted(first.store, 10)) == 2
    with running_harness(tmp_path, SMSBATCH_INBOX_POLL_SECONDS="3600") as second:
        posted = second.fake.wait_for(
            lambda: [
                r for r in second.fake.calls("chat.postMessage")
                if str(r.body.get("text")).startswith("Replies to batch 1 (2)")
            ],
            what="the replies after the restart",
        )  # fmt: skip
        time.sleep(0.5)
        again = [
            r for r in second.fake.calls("chat.postMessage")
            if str(r.body.get("text")).startswith("Replies")
        ]  # fmt: skip
        assert len(posted) == len(again) == 1
        assert second.sim.requests == []  # the poll schedule survived the restart too
        assert inbox.cursor(second.store)[0] == 7002
        assert inbox.unposted(second.store, 10) == []


def test_pasted_rows_after_optout_import_are_added_and_a_long_list_is_a_file(
    tmp_path: Path,
) -> None:
    """25 numbers pasted under a header: source import; `list` then shares a CSV file."""
    rows = "\n".join(f"Person {i},07911 1234{i:02d}" for i in range(25))
    with running_harness(tmp_path) as h:
        h.command(f"optout import\nname,phone\n{rows}\nNobody,n/a")
        answer = wait_response(h, "Added 25 numbers")
        assert "Not a number: `n/a`" in answer
        assert {e.source for e in suppression.entries(h.store)} == {Source.IMPORT}
        h.command("optout list")
        wait_response(h, "The suppression list: 25 numbers, as a CSV file")
        uploads = h.fake.wait_for(lambda: h.fake.calls("files.completeUploadExternal"))
        assert uploads[0].body["channel_id"] == CHANNEL


def test_an_inbox_of_more_than_a_page_is_read_completely(tmp_path: Path) -> None:
    """1,200 replies: two get_inbox calls back to back, every reply stored and shown once."""
    with running_harness(
        tmp_path, SMSBATCH_INBOX_POLL_SECONDS="3600", SMSBATCH_REPLIES_CHANNEL="C0REPLIES"
    ) as h:
        h.sender.stop()  # the sender polled once at start; the test takes its turns from here
        for i in range(1200):
            h.sim.add_reply(f"4479111{i:05d}", f"reply {i} | done")
        assert h.inbox is not None
        later = time.time() + 3601  # the next poll is due
        turns = 0
        while (due := h.inbox.next_due(later)) is not None and due <= later and turns < 20:
            h.inbox.run(later)
            turns += 1
        assert len(inbox.replies(h.store)) == 1200
        asked = [r.params["last_retrieved_id"] for r in h.sim.requests]
        assert asked == ["0", "0", "8000"]  # at start (empty), then a full page and the rest
        shown = [
            line
            for r in h.fake.calls("chat.postMessage")
            if r.body["channel"] == "C0REPLIES"
            for line in str(r.body["text"]).splitlines()[1:]
        ]
        assert len(shown) == 1200 and len(set(shown)) == 1200
