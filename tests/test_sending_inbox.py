"""The inbox task: get_inbox through the sender's turn, replies stored once, keywords obeyed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.eapi.inbox import Reply
from bot.sending.inbox import InboxTask
from bot.sending.replies import ReplyIntake
from bot.store import inbox, suppression
from bot.store.db import Store
from bot.store.inbox import ReplyRecord
from bot.store.suppression import Source
from tests.core_helpers import FakeClock, make_core
from tests.eapi_fixtures import client_for, running_simulator

NUMBER = "447700900123"


class ListSink:
    """Keeps what it was asked to post; refuses while `down`."""

    def __init__(self) -> None:
        self.posts: list[tuple[int | None, list[str]]] = []
        self.down = False

    def post_replies(self, batch_id: int | None, replies: Sequence[ReplyRecord]) -> int:
        """Record the group unless Slack is 'down'."""
        if self.down:
            return 0
        self.posts.append((batch_id, [r.message for r in replies]))
        return len(replies)


def task_for(store: Store, client: object, sink: ListSink, clock: FakeClock) -> InboxTask:
    """An inbox task polling every 60 s."""
    return InboxTask(
        store,
        client,
        sink,
        poll_seconds=60,
        default_country="GB",
        clock=clock,  # type: ignore[arg-type]
    )


def test_a_stop_reply_suppresses_its_sender_and_start_lifts_it(tmp_path: Path) -> None:
    """STOP → listed (source reply, evidence msg_id, audited); START → off again."""
    clock = FakeClock()
    core = make_core(tmp_path / "db.sqlite", clock=clock)
    sink = ListSink()
    with running_simulator() as sim:
        client = client_for(sim)
        task = task_for(core.store, client, sink, clock)
        sim.add_reply(NUMBER, " Stop! ")
        sim.add_reply("447700900124", "please stop texting me")
        task.run(clock())
        listed = suppression.entry(core.store, NUMBER)
        assert listed is not None and listed.source is Source.REPLY
        assert listed.evidence == "msg_id 7001"
        assert suppression.entry(core.store, "447700900124") is None
        assert sink.posts == [(None, [" Stop! ", "please stop texting me"])]
        sim.add_reply(NUMBER, "START")
        clock.advance(61)
        task.run(clock())
        client.close()
    assert suppression.entry(core.store, NUMBER) is None
    events = [e.event for e in core.store.audit_entries()]
    assert events.count("suppression_added") == 1 and events.count("suppression_removed") == 1


def test_start_never_lifts_an_entry_a_person_made(tmp_path: Path) -> None:
    """A manual entry stays whatever the number replies."""
    core = make_core(tmp_path / "db.sqlite")
    with core.store.write() as tx:
        suppression.suppress(tx, NUMBER, Source.MANUAL, actor="U1", at=1.0)
    intake = ReplyIntake(core.store, "GB", lambda: 2.0)
    intake.pushed(Reply(9, NUMBER, "start", "", "", 0, "7bit"))
    listed = suppression.entry(core.store, NUMBER)
    assert listed is not None and listed.source is Source.MANUAL


def test_a_crash_before_storing_reads_the_page_again_without_doubles(tmp_path: Path) -> None:
    """The cursor moves only with the rows: a page read twice is stored once, posted once."""
    clock = FakeClock()
    core = make_core(tmp_path / "db.sqlite", clock=clock)
    sink = ListSink()
    with running_simulator() as sim:
        client = client_for(sim)
        sim.add_reply(NUMBER, "hello")
        sink.down = True  # stored, not posted: a crash before Slack took it
        task_for(core.store, client, sink, clock).run(clock())
        sink.down = False
        restarted = task_for(core.store, client, sink, clock)
        assert restarted.next_due(clock()) == clock()  # unposted replies wait
        restarted.run(clock())
        client.close()
    assert sink.posts == [(None, ["hello"])]
    assert len(inbox.replies(core.store)) == 1
    asked = [r.params["last_retrieved_id"] for r in sim.requests]
    assert asked == ["0"]  # the restarted task did not poll again before its interval


def test_more_than_a_page_is_read_completely(tmp_path: Path) -> None:
    """2500 replies: full pages are asked again at once, until a short page."""
    clock = FakeClock()
    core = make_core(tmp_path / "db.sqlite", clock=clock)
    sink = ListSink()
    with running_simulator() as sim:
        for i in range(2500):
            sim.add_reply(f"4477009{i:05d}", f"reply {i}")
        client = client_for(sim)
        task = task_for(core.store, client, sink, clock)
        turns = 0
        while task.next_due(clock()) == clock() and turns < 50:
            task.run(clock())
            turns += 1
        client.close()
        asked = [r.params["last_retrieved_id"] for r in sim.requests]
    assert len(inbox.replies(core.store)) == 2500
    assert asked == ["0", "8000", "9000"]
    assert sum(len(messages) for _, messages in sink.posts) == 2500
    assert inbox.cursor(core.store)[0] == 9500


def test_a_failed_poll_keeps_the_cursor_and_waits_an_interval(tmp_path: Path) -> None:
    """Status 23 (bad credentials): nothing stored, the cursor stays, the next poll in 60 s."""
    clock = FakeClock()
    core = make_core(tmp_path / "db.sqlite", clock=clock)
    with running_simulator() as sim:
        sim.add_reply(NUMBER, "STOP")
        client = client_for(sim, password="wrong-password")
        task = task_for(core.store, client, ListSink(), clock)
        task.run(clock())
        client.close()
    assert inbox.cursor(core.store) == (0, clock())
    assert task.next_due(clock()) == clock() + 60
    assert suppression.size(core.store) == 0 and inbox.replies(core.store) == []
