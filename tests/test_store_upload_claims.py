"""Upload claims in the database: kept until answered, one batch per upload, no token kept."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from sqlite_utils import Database

from bot.model import SendOptions
from bot.service import Origin
from bot.slackfile import kept_file
from bot.store.db import Store
from bot.store.migrations import migrations
from tests.core_helpers import CHANNEL, PREPARER, FakeClock, csv_rows, make_core

THREAD = "1700000000.000100"
FILE = {
    "id": "F0UP",
    "name": "contacts.csv",
    "filetype": "csv",
    "size": 120,
    "user": PREPARER,
    "url_private": "https://files.slack.com/files-pri/T1-F0UP/contacts.csv?t=xoxe-1-secret",
    "url_private_download": "https://files.slack.com/files-pri/T1-F0UP/download/contacts.csv",
    "permalink_public": "https://slack-files.com/T1-F0UP-0a1b2c3d4e",
    "thumb_pdf": "https://files.slack.com/files-tmb/T1-F0UP/x.png?t=xoxe-2-secret",
}


def upload_origin(file_id: str = "F0UP") -> Origin:
    """Where a batch prepared from the upload goes: its thread, its uploader."""
    return Origin(PREPARER, CHANNEL, THREAD, "upload", file_id, "contacts.csv")


def test_kept_file_has_what_a_new_download_needs_and_never_a_token() -> None:
    """Id, name, type, size and links are kept; token parameters and other fields are not."""
    kept = kept_file(FILE)
    assert kept == {
        "id": "F0UP",
        "name": "contacts.csv",
        "filetype": "csv",
        "size": 120,
        "url_private": "https://files.slack.com/files-pri/T1-F0UP/contacts.csv",
        "url_private_download": FILE["url_private_download"],
    }
    assert "xox" not in json.dumps(kept)


def test_a_claim_stays_unanswered_until_its_answer_is_recorded(tmp_path: Path) -> None:
    """Claim -> listed as unanswered with thread and file -> answered once -> never listed."""
    clock = FakeClock()
    core = make_core(tmp_path / "c.db", clock=clock)
    assert core.service.claim_upload("F0UP", CHANNEL, PREPARER, THREAD, FILE)
    assert not core.service.claim_upload("F0UP", CHANNEL, PREPARER, THREAD, FILE)
    recent, old = core.service.unanswered_uploads(3600)
    assert old == [] and [c.file_id for c in recent] == ["F0UP"]
    claim = recent[0]
    assert (claim.thread_ts, claim.user_id, claim.attempts, claim.state) == (
        THREAD,
        PREPARER,
        1,
        "claimed",
    )
    assert claim.file["url_private_download"] == FILE["url_private_download"]
    raw = sqlite3.connect(core.store.path).execute("SELECT file FROM uploads").fetchone()[0]
    assert "xox" not in raw and "permalink_public" not in raw
    clock.advance(5)
    assert core.service.upload_answered("F0UP", "card")
    assert not core.service.upload_answered("F0UP", "refused")
    done = core.store.upload("F0UP")
    assert done is not None and (done.state, done.answer) == ("answered", "card")
    assert done.answered_at == claim.claimed_at + 5
    assert core.service.unanswered_uploads(3600) == ([], [])
    core.store.close()


def test_claims_split_by_age_and_attempts_are_counted(tmp_path: Path) -> None:
    """Older than the limit -> second list; each retry counts; abandoned ones leave the list."""
    clock = FakeClock()
    core = make_core(tmp_path / "c.db", clock=clock)
    core.service.claim_upload("F0OLD", CHANNEL, PREPARER, THREAD, {"id": "F0OLD"})
    clock.advance(7200)
    core.service.claim_upload("F0NEW", CHANNEL, PREPARER, THREAD, {"id": "F0NEW"})
    recent, old = core.service.unanswered_uploads(3600)
    assert [c.file_id for c in recent] == ["F0NEW"] and [c.file_id for c in old] == ["F0OLD"]
    assert core.service.retry_upload("F0NEW") and core.service.retry_upload("F0NEW")
    retried = core.store.upload("F0NEW")
    assert retried is not None and retried.attempts == 3
    assert core.service.abandon_upload("F0OLD", "too_old")
    assert not core.service.retry_upload("F0OLD")
    assert [c.file_id for c in core.service.unanswered_uploads(86400)[0]] == ["F0NEW"]
    core.store.close()


def test_one_upload_prepared_twice_is_one_batch(tmp_path: Path) -> None:
    """A second prepare of a claimed upload returns the first batch: one row, one audit entry."""
    core = make_core(tmp_path / "c.db")
    core.service.claim_upload("F0UP", CHANNEL, PREPARER, THREAD, FILE)
    first = core.service.prepare(csv_rows(2), SendOptions(), upload_origin())
    second = core.service.prepare(csv_rows(2), SendOptions(), upload_origin())
    assert second.id == first.id
    claim = core.store.upload("F0UP")
    assert claim is not None and claim.batch_id == first.id
    events = [e.event for e in core.store.audit_entries()]
    assert events.count("batch_prepared") == 1
    assert len(core.service.recent(10)) == 1
    core.store.close()


def test_concurrent_prepares_of_one_upload_make_one_batch(tmp_path: Path) -> None:
    """Eight threads preparing the same claimed upload at once all get the same batch."""
    core = make_core(tmp_path / "c.db")
    core.service.claim_upload("F0UP", CHANNEL, PREPARER, THREAD, FILE)
    ids: list[int] = []
    lock = threading.Lock()

    def prepare() -> None:
        """Prepare the shared upload and keep the batch id."""
        view = core.service.prepare(csv_rows(3), SendOptions(), upload_origin())
        with lock:
            ids.append(view.id)

    threads = [threading.Thread(target=prepare) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert len(core.service.recent(10)) == 1
    core.store.close()


def test_pastes_and_unclaimed_files_are_never_merged(tmp_path: Path) -> None:
    """Only a claimed upload is de-duplicated: two pastes are two batches."""
    core = make_core(tmp_path / "c.db")
    first = core.service.prepare(csv_rows(1), SendOptions(), Origin(PREPARER, CHANNEL))
    second = core.service.prepare(csv_rows(1), SendOptions(), Origin(PREPARER, CHANNEL))
    unclaimed = core.service.prepare(csv_rows(1), SendOptions(), upload_origin("F0NONE"))
    assert len({first.id, second.id, unclaimed.id}) == 3
    core.store.close()


def test_upgrading_treats_older_claims_as_answered(tmp_path: Path) -> None:
    """Claims made before 0003 were answered in memory: none of them is resumed."""
    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="0003_upload_answers")
    old.execute(
        "INSERT INTO uploads (file_id, channel_id, user_id, claimed_at) VALUES ('F1', 'C1', "
        "'U1', 1.0)"
    )
    old.conn.commit()
    old.close()
    store = Store.open(path)
    assert store.unanswered_uploads() == []
    legacy = store.upload("F1")
    assert legacy is not None and (legacy.state, legacy.answer) == ("answered", "unrecorded")
    assert legacy.file == {"id": "F1"} and legacy.thread_ts is None
    assert store.claim_upload("F2", "C1", "U1", 2.0, thread_ts="2.0", file_json='{"id": "F2"}')
    assert [c.file_id for c in store.unanswered_uploads()] == ["F2"]
    store.close()
