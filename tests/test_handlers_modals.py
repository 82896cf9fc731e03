"""The New batch modal's file input: however Slack describes the file, the person gets an answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.builders import ids
from tests.slack_harness import CHANNEL, PREPARER, Harness, running_harness

CSV = b"msisdn,message\n447911123401,Hello from the modal\n"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The app around a fake Slack and the simulator."""
    with running_harness(tmp_path) as harness:
        yield harness


def submit_file(h: Harness, file_object: dict[str, object]) -> None:
    """Open the New batch modal and submit it with this file object."""
    h.command("")
    modal = h.fake.wait_calls("views.open")[0].body["view"]
    values = {ids.FILE_INPUT: {ids.FILE_INPUT: {"files": [file_object]}}}
    assert h.submit_view(modal, values, PREPARER).status == 200


def test_a_modal_file_with_only_url_private_is_fetched_and_previewed(h: Harness) -> None:
    """No url_private_download and a bare files.info answer: url_private is used."""
    file = h.fake.add_file("modal.csv", CSV)
    described = h.fake.full_file_object(file)
    del described["url_private_download"]
    h.fake.bare_ok.add("files.info")
    submit_file(h, described)
    card = h.wait_card()
    assert card.body["channel"] == CHANNEL and "1 recipient," in card.body["text"]


def test_a_modal_file_without_any_link_gets_a_reply_not_an_internal_error(h: Harness) -> None:
    """Neither the view nor files.info gives a link: the person is told what to check."""
    file = h.fake.add_file("modal.csv", CSV)
    described = h.fake.full_file_object(file)
    for key in ("url_private_download", "url_private"):
        del described[key]
    h.fake.bare_ok.add("files.info")
    submit_file(h, described)
    replies = h.fake.wait_for(
        lambda: [str(r.body.get("text")) for r in h.fake.calls("chat.postEphemeral")],
        what="the ephemeral reply",
    )
    assert "no download link" in replies[0] and "files:read" in replies[0]
    assert "went wrong" not in replies[0]
    assert not h.cards()
