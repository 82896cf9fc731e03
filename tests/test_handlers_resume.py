"""Uploads the app stopped on before answering are answered by the next start, exactly once."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.model import SendOptions
from bot.service import BatchService, BatchView, Origin
from handlers.listeners.resume import MAX_ATTEMPTS
from tests.eapi_fixtures import running_simulator
from tests.fake_slack import FakeFile, FakeSlack, running_fake_slack
from tests.slack_harness import CHANNEL, Harness, _build, make_settings

CSV = b"msisdn,message\n447911123401,Hello one\n447911123402,Hello two\n"
UPLOAD_TS = "1699999999.000100"
THREAD_TS = "1699999000.000001"  # the upload was a reply in this thread


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, no reply is posted."""


class DiesMidIntake(BatchService):
    """The process dies while the upload is being checked (before any batch exists)."""

    def prepare(self, data: bytes, options: SendOptions, origin: Origin) -> BatchView:
        """Die instead of preparing."""
        raise Crash


class DiesBeforeTheCard(BatchService):
    """The process dies after the batch was stored, before its card was posted."""

    def prepare(self, data: bytes, options: SendOptions, origin: Origin) -> BatchView:
        """Prepare for real, then die."""
        super().prepare(data, options, origin)
        raise Crash


class HeldIntake(BatchService):
    """A real service whose prepare waits until released (to hold a race window open)."""

    release: ClassVar[threading.Event] = threading.Event()
    entered: ClassVar[threading.Event] = threading.Event()

    def prepare(self, data: bytes, options: SendOptions, origin: Origin) -> BatchView:
        """Wait for the release, then plan for real."""
        type(self).entered.set()
        type(self).release.wait(10)
        return super().prepare(data, options, origin)


@contextmanager
def app_on(
    fake: FakeSlack, db_dir: Path, service_class: type[BatchService] = BatchService
) -> Iterator[Harness]:
    """One run of the whole app on the database in `db_dir`, around a Slack that outlives it."""
    with running_simulator() as sim:
        settings = make_settings(fake, sim, db_dir / "smsbatch.db")
        harness = _build(fake, sim, settings, service_class, 0.05)
        try:
            yield harness
        finally:
            harness.sender.stop()
            harness.services.close()
            for client in harness.clients:
                client.close()
            harness.store.close()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    """A fake Slack that stays up across app restarts."""
    with running_fake_slack() as slack:
        yield slack
    assert slack.problems == [], slack.problems


def file_share(fake: FakeSlack, file: FakeFile) -> dict[str, Any]:
    """The file_share message event of an upload posted as a reply in THREAD_TS."""
    return {
        "type": "message",
        "subtype": "file_share",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": file.user,
        "ts": UPLOAD_TS,
        "thread_ts": THREAD_TS,
        "text": "",
        "files": [fake.file_object(file)],
    }


def crashed_upload(fake: FakeSlack, tmp_path: Path, service_class: type[BatchService]) -> FakeFile:
    """Upload a CSV to an app that dies (as `service_class` does) before it answers."""
    file = fake.add_file("contacts.csv", CSV)
    with app_on(fake, tmp_path, service_class) as h:
        h.event(file_share(fake, file), event_id="Ev1")
        h.fake.wait_for(lambda: downloads(fake), what="the first download")
        h.services.jobs.shutdown(wait=True)  # the crashed job has ended
        assert h.cards() == [] and h.thread_texts(THREAD_TS) == []
    return file


def downloads(fake: FakeSlack) -> list[Any]:
    """Every file download the app made."""
    return [r for r in fake.requests if r.path.startswith("/files-pri/")]


def posts(fake: FakeSlack) -> list[Any]:
    """Every chat.postMessage the app made."""
    return fake.calls("chat.postMessage")


def upload_row(db: Path, file_id: str) -> dict[str, Any]:
    """The upload's row as stored ({} while there is none)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM uploads WHERE file_id = ?", [file_id]).fetchone()
    conn.close()
    return {} if row is None else dict(row)


def batch_count(db: Path) -> int:
    """How many batches the database holds."""
    conn = sqlite3.connect(db)
    count = int(conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
    conn.close()
    return count


def test_an_upload_the_app_died_on_gets_one_card_after_the_restart(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """Crash mid-intake -> the next start posts exactly one card in the upload's thread."""
    file = crashed_upload(fake, tmp_path, DiesMidIntake)
    db = tmp_path / "smsbatch.db"
    claim = upload_row(db, file.id)
    assert claim["state"] == "claimed" and claim["thread_ts"] == THREAD_TS
    assert fake.token not in claim["file"] and "url_private_download" in claim["file"]
    with app_on(fake, tmp_path) as h:
        card = h.wait_card()
        time.sleep(0.5)  # give any duplicate time to show up
        assert len(h.cards()) == 1
        assert (card.body["channel"], card.body["thread_ts"]) == (CHANNEL, THREAD_TS)
        assert card.body["text"].startswith("Batch 1: 2 recipients, 2 SMS")
        batch = h.service.get(1)
        assert batch.prepared_by == file.user and batch.file_name == "contacts.csv"
        h.fake.wait_for(lambda: upload_row(db, file.id)["state"] == "answered", what="answered")
    answered = upload_row(db, file.id)
    assert answered["answer"] == "card" and answered["attempts"] == 2
    assert answered["answered_at"] is not None and answered["batch_id"] == 1
    assert len(downloads(fake)) == 2 and batch_count(db) == 1


def test_a_second_restart_posts_nothing_more(fake: FakeSlack, tmp_path: Path) -> None:
    """Once the resumed upload is answered, later starts leave it alone."""
    crashed_upload(fake, tmp_path, DiesMidIntake)
    with app_on(fake, tmp_path) as h:
        h.wait_card()
    before = (len(posts(fake)), len(downloads(fake)))
    with app_on(fake, tmp_path):
        time.sleep(0.5)
    assert (len(posts(fake)), len(downloads(fake))) == before
    assert batch_count(tmp_path / "smsbatch.db") == 1


def test_a_batch_prepared_before_the_crash_gets_its_card_and_no_second_batch(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """Batch stored, card never posted -> the restart posts that batch's card, prepares nothing."""
    file = crashed_upload(fake, tmp_path, DiesBeforeTheCard)
    db = tmp_path / "smsbatch.db"
    assert batch_count(db) == 1 and upload_row(db, file.id)["batch_id"] == 1
    with app_on(fake, tmp_path) as h:
        card = h.wait_card()
        time.sleep(0.5)
        assert len(h.cards()) == 1 and card.body["thread_ts"] == THREAD_TS
        h.fake.wait_for(lambda: h.service.get(1).card_ts == h.ts_of(card), what="card saved")
        assert h.audit_events().count("batch_prepared") == 1
        h.fake.wait_for(lambda: upload_row(db, file.id)["state"] == "answered", what="answered")
    assert batch_count(db) == 1
    assert len(downloads(fake)) == 1  # the stored batch was used, the file not fetched again


def test_a_redelivered_event_racing_the_resume_still_gives_one_preview(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """While the resumed intake runs, Slack redelivers the upload's events: one card, one batch."""
    file = crashed_upload(fake, tmp_path, DiesMidIntake)
    HeldIntake.release.clear()
    HeldIntake.entered.clear()
    with app_on(fake, tmp_path, HeldIntake) as h:
        assert HeldIntake.entered.wait(5)  # the resumed job is inside the intake
        responses = [
            h.event(file_share(fake, file), event_id="Ev1", retry=1),
            h.event(file_share(fake, file), event_id="Ev1"),
            h.event({"type": "file_shared", "channel_id": CHANNEL, "file_id": file.id}),
        ]
        HeldIntake.release.set()
        assert [r.status for r in responses] == [200, 200, 200]
        h.wait_card()
        time.sleep(0.5)
        assert len(h.cards()) == 1
    assert batch_count(tmp_path / "smsbatch.db") == 1


def test_an_unanswered_claim_older_than_a_day_is_logged_not_resumed(
    fake: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 25-hour-old claim: a warning naming the file, no download, no post, logged once."""
    file = fake.add_file("old.csv", CSV)
    db = tmp_path / "smsbatch.db"
    with app_on(fake, tmp_path) as h:
        stored = json.dumps(fake.full_file_object(file))
        claimed_at = time.time() - 25 * 3600
        assert h.store.claim_upload(
            file.id, CHANNEL, file.user, claimed_at, thread_ts=UPLOAD_TS, file_json=stored
        )
    caplog.set_level(logging.WARNING, logger="handlers.listeners.resume")
    with app_on(fake, tmp_path):
        time.sleep(0.3)
    warnings = [r.getMessage() for r in caplog.records if r.name == "handlers.listeners.resume"]
    assert len(warnings) == 1 and file.id in warnings[0] and "not resumed" in warnings[0]
    assert downloads(fake) == [] and posts(fake) == []
    assert upload_row(db, file.id)["state"] == "abandoned"
    caplog.clear()
    with app_on(fake, tmp_path):
        time.sleep(0.2)
    assert [r for r in caplog.records if r.name == "handlers.listeners.resume"] == []


def test_an_upload_the_app_keeps_dying_on_is_given_up_with_a_reply(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """After MAX_ATTEMPTS starts of work on one file, its thread is told; no more attempts."""
    file = crashed_upload(fake, tmp_path, DiesMidIntake)
    for attempt in range(2, MAX_ATTEMPTS + 1):
        with app_on(fake, tmp_path, DiesMidIntake) as h:
            h.services.jobs.shutdown(wait=True)  # the resumed job died again
        assert upload_row(tmp_path / "smsbatch.db", file.id)["attempts"] == attempt
    assert len(downloads(fake)) == MAX_ATTEMPTS and posts(fake) == []
    with app_on(fake, tmp_path) as h:
        text = h.fake.wait_for(lambda: h.thread_texts(THREAD_TS), what="the reply")[0]
    assert "given up" in text and "contacts.csv" in text
    assert len(downloads(fake)) == MAX_ATTEMPTS and batch_count(tmp_path / "smsbatch.db") == 0
    assert upload_row(tmp_path / "smsbatch.db", file.id)["answer"] == "gave_up"


def test_a_reply_slack_never_took_leaves_the_upload_to_the_next_start(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """Slack refusing every call: the claim stays unanswered, and the next start answers it."""
    file = fake.add_file("contacts.csv", CSV)
    db = tmp_path / "smsbatch.db"
    token = fake.token
    with app_on(fake, tmp_path) as h:
        fake.token = "xoxb-revoked"  # every call and download refused from here on
        h.event(file_share(fake, file), event_id="Ev1")
        h.fake.wait_for(lambda: posts(fake), what="a refused post")
        h.services.jobs.shutdown(wait=True)
        fake.token = token
    assert upload_row(db, file.id)["state"] == "claimed"
    assert not any(r.answer.get("ok") for r in posts(fake))
    with app_on(fake, tmp_path) as h:
        card = h.wait_card()
        assert card.body["thread_ts"] == THREAD_TS
        h.fake.wait_for(lambda: upload_row(db, file.id)["state"] == "answered", what="answered")


def test_a_fresh_upload_is_recorded_as_answered_only_by_its_card_or_reply(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """Card posted -> answered "card"; login page instead of the file -> answered by the reply."""
    good = fake.add_file("contacts.csv", CSV)
    db = tmp_path / "smsbatch.db"
    with app_on(fake, tmp_path) as h:
        h.event(file_share(fake, good))
        h.wait_card()
        h.fake.wait_for(lambda: upload_row(db, good.id).get("state") == "answered", what="answered")
        assert upload_row(db, good.id)["answer"] == "card"
        fake.file_token = "xoxb-somebody_else"  # downloads now get Slack's login page
        bad = fake.add_file("other.csv", CSV)
        h.event({**file_share(fake, bad), "ts": "1699999999.000200"})
        h.fake.wait_for(lambda: upload_row(db, bad.id).get("state") == "answered", what="answered")
        assert upload_row(db, bad.id)["answer"] == "download_error"
        assert any("login page" in t for t in h.thread_texts(THREAD_TS))
