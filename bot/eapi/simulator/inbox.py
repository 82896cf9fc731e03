"""The simulated inbox: replies injected by a test or an operator, read back with get_inbox.

The writer is the mirror of `bot.eapi.inbox.parse_inbox`: a header `0|records to follow|N`, a
blank line, then `msg_id|sender|message|received_time|msisdn|referring_batch_id|encoding` rows,
at most `PAGE_ROWS` a call. A text that ISO-8859-1 can carry goes as 7bit with LF, CR and the
backslash escaped (`\\n`, `\\r`, `\\\\`) and any `|` left as it is (the real EAPI's escaping of
`|` is unverified, so the parser must cope); any other text goes as 16bit, UTF-16BE in hex.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

GET_INBOX = "/reception/get_inbox/1/1.1"
PAGE_ROWS = 1000  # rows per get_inbox answer, as the EAPI documents
FIRST_MSG_ID = 7001
OUR_NUMBER = "447860000000"  # the number replies are sent to (a long number of the account)


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One reply as the simulated account holds it."""

    msg_id: int
    sender: str
    text: str
    received_time: str
    msisdn: str
    referring_batch_id: int
    encoding: str  # "7bit" or "16bit", chosen from the text


def encoding_for(text: str) -> str:
    """7bit when ISO-8859-1 carries the text, else 16bit."""
    try:
        text.encode("iso-8859-1")
    except UnicodeEncodeError:
        return "16bit"
    return "7bit"


def message_field(text: str, encoding: str) -> str:
    """The message field as get_inbox writes it."""
    if encoding == "16bit":
        return text.encode("utf-16-be").hex().upper()
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def write_row(row: InboxRow) -> str:
    """One get_inbox row."""
    fields = (
        str(row.msg_id),
        row.sender,
        message_field(row.text, row.encoding),
        row.received_time,
        row.msisdn,
        str(row.referring_batch_id),
        row.encoding,
    )
    return "|".join(fields)


def write_page(rows: list[InboxRow]) -> str:
    """A whole get_inbox answer for these rows."""
    body = f"0|records to follow|{len(rows)}\n\n"
    return body + "".join(write_row(row) + "\n" for row in rows)


def push_params(row: InboxRow) -> dict[str, str]:
    """The query parameters of this reply's HTTP push (research §B.2)."""
    message = row.text if row.encoding == "7bit" else message_field(row.text, row.encoding)
    return {
        "msg_id": str(row.msg_id),
        "sender": row.sender,
        "message": message,
        "dca": row.encoding,
        "msisdn": row.msisdn,
        "referring_batch_id": str(row.referring_batch_id),
        "received_time": row.received_time[2:],  # the push writes yy-MM-dd
    }


class SimInbox:
    """The account's replies in msg_id order (not thread-safe: the simulator's lock guards it)."""

    def __init__(self) -> None:
        self.rows: list[InboxRow] = []
        self._ids = itertools.count(FIRST_MSG_ID)

    def add(
        self,
        sender: str,
        text: str,
        *,
        referring_batch_id: int = 0,
        msisdn: str = OUR_NUMBER,
        at: float,
    ) -> InboxRow:
        """Receive one reply; returns it with its new msg_id."""
        received = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        row = InboxRow(
            next(self._ids), sender, text, received, msisdn, referring_batch_id, encoding_for(text)
        )
        self.rows.append(row)
        return row

    def answer(self, params: Mapping[str, str]) -> str:
        """get_inbox: the rows after `last_retrieved_id`, at most PAGE_ROWS of them."""
        raw = params.get("last_retrieved_id", "").strip()
        if not raw.isdigit():
            return "24|Data validation failed: last_retrieved_id is required|"
        after = int(raw)
        return write_page([row for row in self.rows if row.msg_id > after][:PAGE_ROWS])
