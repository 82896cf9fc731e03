"""Uploads: one preview per file in the upload's thread, however Slack delivers the events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.model import SendOptions
from bot.service import BatchService, BatchView, Origin
from handlers.builders import ids
from tests.fake_slack import BOT_ID, BOT_USER, FakeFile, FakeSlack
from tests.slack_harness import CHANNEL, PREPARER, Harness, running_harness

CSV = b"msisdn,message\n447911123401,Hello one\n447911123402,Hello two\n12,too short\n"
UPLOAD_TS = "1699999999.000100"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The app around a fake Slack and the simulator."""
    with running_harness(tmp_path) as harness:
        yield harness


def file_share(h: Harness, file: FakeFile, **extra: Any) -> dict[str, Any]:
    """The `message` event (subtype file_share) Slack sends for an upload."""
    return h.fake.file_share_event(file, channel=CHANNEL, ts=UPLOAD_TS, **extra)


def file_shared(file: FakeFile) -> dict[str, Any]:
    """The `file_shared` event Slack also sends for the same upload."""
    return FakeSlack.file_shared_event(file, channel=CHANNEL, ts=UPLOAD_TS)


def test_every_delivery_of_one_upload_gives_exactly_one_preview(h: Harness) -> None:
    """file_share + file_shared + a retry + a redelivery -> one card in the upload's thread."""
    file = h.fake.add_file("contacts.csv", CSV)
    responses = [
        h.event(file_share(h, file), event_id="Ev1"),
        h.event(file_shared(file), event_id="Ev2"),
        h.event(file_share(h, file), event_id="Ev1", retry=1),
        h.event(file_share(h, file), event_id="Ev1"),
    ]
    assert [r.status for r in responses] == [200, 200, 200, 200]
    card = h.wait_card()
    time.sleep(0.5)  # give any duplicate time to show up
    assert len(h.cards()) == 1
    assert card.body["thread_ts"] == UPLOAD_TS and card.body["channel"] == CHANNEL
    assert card.body["text"].startswith("Batch 1: 2 recipients, 2 SMS, ~2 credits — waiting")
    labels = [
        e["text"]["text"] for b in card.blocks() if b["type"] == "actions" for e in b["elements"]
    ]
    assert any("Approve" in t for t in labels) and any("Cancel" in t for t in labels)
    downloads = [r for r in h.fake.requests if r.path.startswith("/files-pri/")]
    assert len(downloads) == 1


def test_rejected_rows_are_shared_as_a_csv_file_in_the_thread(h: Harness) -> None:
    """The full rejected list goes to the thread via files_upload_v2."""
    file = h.fake.add_file("contacts.csv", CSV)
    h.event(file_share(h, file))
    complete = h.fake.wait_calls("files.completeUploadExternal")[0]
    assert complete.body["channel_id"] == CHANNEL and complete.body["thread_ts"] == UPLOAD_TS
    uploaded = h.fake.wait_for(lambda: list(h.fake.uploads.values()), what="uploaded bytes")[0]
    assert b"too short" in uploaded and b"line,column,reason,value" in uploaded


def test_a_web_api_without_file_uploads_still_gets_the_card(h: Harness) -> None:
    """A Web API answering getUploadURLExternal without upload_url: the card, then a note."""
    h.fake.bare_ok.add("files.getUploadURLExternal")
    file = h.fake.add_file("contacts.csv", CSV)
    h.event(file_share(h, file))
    assert "Approve" in json.dumps(h.wait_card().blocks())
    notes = h.fake.wait_for(
        lambda: [t for t in h.thread_texts(UPLOAD_TS) if "rejected rows as a file" in t],
        what="the note that the file was not attached",
    )
    assert notes and not any("went wrong" in t for t in h.thread_texts(UPLOAD_TS))


def test_a_file_with_only_url_private_is_still_fetched(h: Harness) -> None:
    """An event whose file object lacks url_private_download falls back to url_private."""
    file = h.fake.add_file("contacts.csv", CSV)
    event = file_share(h, file)
    del event["files"][0]["url_private_download"]
    h.fake.bare_ok.add("files.info")
    h.event(event)
    assert h.wait_card().body["thread_ts"] == UPLOAD_TS


def test_a_csv_without_any_download_link_is_answered_not_dropped(h: Harness) -> None:
    """No link in the event and none from files.info: the thread says what to check."""
    file = h.fake.add_file("contacts.csv", CSV)
    event = file_share(h, file)
    for key in ("url_private_download", "url_private"):
        del event["files"][0][key]
    h.fake.bare_ok.add("files.info")
    h.event(event)
    texts = h.fake.wait_for(
        lambda: [t for t in h.thread_texts(UPLOAD_TS) if "no download link" in t],
        what="the no-link reply",
        timeout=10,
    )
    assert "files:read" in texts[0]
    assert not h.cards()


def test_upload_inside_a_thread_gets_its_preview_in_that_thread(h: Harness) -> None:
    """A file posted as a thread reply is answered in the same thread."""
    file = h.fake.add_file("contacts.csv", CSV)
    h.event(file_share(h, file, thread_ts="1699999000.000001"))
    assert h.wait_card().body["thread_ts"] == "1699999000.000001"


def test_a_login_page_instead_of_the_file_is_refused_clearly(h: Harness) -> None:
    """When Slack sends HTML (no valid auth), the thread says so; nothing is parsed or shown."""
    file = h.fake.add_file("contacts.csv", CSV)
    h.fake.file_token = "xoxb-somebody_else"  # our token no longer opens the file
    h.event(file_share(h, file))
    reply = h.fake.wait_for(lambda: h.thread_texts(UPLOAD_TS), what="a refusal")[0]
    assert "login page" in reply and "contacts.csv" in reply
    assert "Traceback" not in reply and h.cards() == []


def test_html_content_is_refused_by_the_intake_too(h: Harness) -> None:
    """A .csv that is really an HTML page is named as such in the thread."""
    page = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"
    file = h.fake.add_file("contacts.csv", page, content_type="application/octet-stream")
    h.event(file_share(h, file))
    reply = h.fake.wait_for(lambda: h.thread_texts(UPLOAD_TS), what="a refusal")[0]
    assert "HTML" in reply and h.cards() == []
    assert "upload_refused" in h.audit_events()


def test_non_csv_files_are_ignored(h: Harness) -> None:
    """A PDF upload is acknowledged and left alone: no download, no reply."""
    file = h.fake.add_file(
        "report.pdf", b"%PDF-1.7", filetype="pdf", content_type="application/pdf"
    )
    assert h.event(file_share(h, file)).status == 200
    time.sleep(0.3)
    assert not [r for r in h.fake.requests if r.path.startswith("/files-pri/")]
    assert h.fake.calls("chat.postMessage") == []


def test_the_apps_own_uploads_are_ignored(h: Harness) -> None:
    """The rejected-rows CSV the app itself shares never becomes a batch."""
    file = h.fake.add_file("batch-1-rejected.csv", CSV, user=BOT_USER)
    assert h.event(file_share(h, file, bot_id=BOT_ID)).status == 200
    time.sleep(0.3)
    assert h.cards() == [] and h.audit_events() == []


def test_slack_connect_stub_is_completed_with_files_info(h: Harness) -> None:
    """A `check_file_info` stub is looked up with files.info, then previewed."""
    file = h.fake.add_file("contacts.csv", CSV, connect_stub=True)
    h.event(file_share(h, file))
    h.wait_card()
    assert h.fake.calls("files.info")[0].body["file"] == file.id


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "channel": CHANNEL, "user": PREPARER, "ts": "1.1", "text": "hi"},
        {"type": "message", "subtype": "message_changed", "channel": CHANNEL, "ts": "1.2"},
        {"type": "message", "subtype": "bot_message", "channel": CHANNEL, "ts": "1.3"},
    ],
)
def test_other_message_events_are_acknowledged(h: Harness, event: dict[str, Any]) -> None:
    """Bolt would answer 404 to an unhandled event and Slack would retry it: we answer 200."""
    assert h.event(event).status == 200


class SlowService(BatchService):
    """A real BatchService whose first prepare blocks until released, recording its thread."""

    release: ClassVar[threading.Event] = threading.Event()
    threads: ClassVar[list[str]] = []

    def prepare(self, data: bytes, options: SendOptions, origin: Origin) -> BatchView:
        """Record the thread, hold the first call, then plan for real."""
        type(self).threads.append(threading.current_thread().name)
        if len(type(self).threads) == 1:
            type(self).release.wait(10)
        return super().prepare(data, options, origin)


def test_acks_come_at_once_while_a_long_intake_runs_on_our_own_pool(tmp_path: Path) -> None:
    """A blocked intake delays no other request; the work runs on the app's job threads."""
    SlowService.threads.clear()
    SlowService.release.clear()
    with running_harness(tmp_path, service_class=SlowService) as h:
        file = h.fake.add_file("contacts.csv", CSV)
        assert h.event(file_share(h, file)).status == 200
        h.fake.wait_for(lambda: SlowService.threads, what="the intake to start")
        started = time.monotonic()
        responses = [h.command("help"), h.command("447911123401,hi there"), h.command("status")]
        elapsed = time.monotonic() - started
        SlowService.release.set()
        assert [r.status for r in responses] == [200, 200, 200]
        assert elapsed < 2.0
        h.wait_card(2)
    assert all(name.startswith("smsbatch-job") for name in SlowService.threads)


def test_buttons_on_the_card_are_the_registered_action_ids(h: Harness) -> None:
    """The card's buttons carry exactly the action_ids the app listens for."""
    h.event(file_share(h, h.fake.add_file("contacts.csv", CSV)))
    actions = [
        e["action_id"]
        for b in h.wait_card().blocks()
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert actions == [ids.APPROVE, ids.TEST, ids.CANCEL, ids.OPTIONS]
