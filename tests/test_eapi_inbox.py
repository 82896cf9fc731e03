"""get_inbox: the parser against the simulator's writer, pages over HTTP, pushed replies."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.eapi.inbox import (
    PAGE_ROWS,
    Reply,
    Unreadable,
    fetch_inbox,
    parse_inbox,
    pushed_reply,
)
from bot.eapi.simulator.inbox import InboxRow, encoding_for, push_params, write_page
from bot.errors import EapiError, EapiResponseError
from tests.eapi_fixtures import client_for, running_simulator

FAST = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
TRICKY = st.sampled_from(list("|\\\n\r nr0a€é😀𝄞|\x00\t\"'"))
TEXTS = st.one_of(st.text(max_size=80), st.text(alphabet=TRICKY, max_size=40))


def row(msg_id: int, text: str, referring: int = 0) -> InboxRow:
    """A reply as the simulator keeps it."""
    return InboxRow(
        msg_id, "447700900123", text, "2026-12-05 09:00:00", "447860000000", referring,
        encoding_for(text),
    )  # fmt: skip


@FAST
@given(texts=st.lists(TEXTS, min_size=1, max_size=5))
def test_what_the_simulator_writes_the_parser_reads_back(texts: list[str]) -> None:
    """Any text, with |, CR, LF, backslashes or emoji, comes out as it went in."""
    rows = [row(7001 + i, text, referring=i) for i, text in enumerate(texts)]
    page = parse_inbox(write_page(rows))
    assert [r.message for r in page.replies] == texts
    assert [(r.msg_id, r.referring_batch_id, r.sender) for r in page.replies] == [
        (7001 + i, i, "447700900123") for i in range(len(texts))
    ]


def test_the_documented_example_parses() -> None:
    """The answer shown on BulkSMS's page: a 7-bit row and a 16-bit hex row."""
    body = (
        "0|records to follow|2\n\n"
        "19|4412312345|Hi there|2011-01-20 16:06:40|44771234567|0|7bit\n"
        "20|4412312345|00480069|2011-01-20 16:06:41|44771234567|4712345001|16bit\n"
    )
    page = parse_inbox(body)
    assert page.replies == (
        Reply(19, "4412312345", "Hi there", "2011-01-20 16:06:40", "44771234567", 0, "7bit"),
        Reply(20, "4412312345", "Hi", "2011-01-20 16:06:41", "44771234567", 4712345001, "16bit"),
    )
    assert page.last_id == 20 and not page.full


def test_error_answers_raise_and_a_broken_row_is_set_aside_by_its_id() -> None:
    """23 is an EapiError naming the status; a row without 7 fields is kept aside, named, and
    still moves the cursor (else it would be asked for for ever)."""
    with pytest.raises(EapiError, match="status 23"):
        parse_inbox("23|invalid credentials|")
    broken = parse_inbox("0|records to follow|2\n\n19|4412312345|Hi\n20|x|y|t|m|0|7bit\n")
    assert broken.replies[0].msg_id == 20 and broken.last_id == 20
    assert broken.unreadable == (
        Unreadable(19, "get_inbox: a row without its 7 fields: '19|4412312345|Hi'"),
    )
    with pytest.raises(EapiResponseError, match="header"):
        parse_inbox("<html>")


def test_pages_of_1000_are_read_through_the_one_connection() -> None:
    """1500 replies: a full first page, then the rest after the last id."""
    with running_simulator() as sim:
        for i in range(1500):
            sim.add_reply("447700900123", f"reply {i} | with a pipe")
        client = client_for(sim)
        try:
            first = fetch_inbox(client, 0)
            second = fetch_inbox(client, first.last_id or 0)
        finally:
            client.close()
        assert len(first.replies) == PAGE_ROWS and first.full
        assert len(second.replies) == 500 and not second.full
        assert second.replies[-1].message == "reply 1499 | with a pipe"
        assert all(r.path.endswith("/reception/get_inbox/1/1.1") for r in sim.requests)
        assert all(r.method == "POST" for r in sim.requests)
        assert sim.max_in_flight == 1


def test_a_pushed_reply_reads_like_an_inbox_row() -> None:
    """The push parameters of a 16-bit reply decode to the same reply."""
    pushed = pushed_reply(push_params(row(7005, "STOP 😀", referring=42)))
    assert (pushed.msg_id, pushed.message, pushed.referring_batch_id) == (7005, "STOP 😀", 42)
    with pytest.raises(ValueError, match="msg_id"):
        pushed_reply({"sender": "447700900123", "message": "hi"})
