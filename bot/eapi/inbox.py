"""Replies: the EAPI's `get_inbox` call and its answer, and the fields of a pushed reply.

The answer (research §B.1) is a header `status_code|status_description|extra_info` (on success
`0|records to follow|N`, N the row count), a blank line, then one row per reply:
`msg_id|sender|message|received_time|msisdn|referring_batch_id|encoding`. A message may itself
hold `|`, so the two fixed fields are split off the left and the last five off the right; what
lies between is the message. In a message `\\n` and `\\r` stand for LF and CR (and `\\\\` for a
backslash); a 16-bit message is UTF-16BE as hex, an 8-bit one bytes as hex (read as
ISO-8859-1). At most 1000 rows come per call (`PAGE_ROWS`): a full page means "ask again".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.eapi.client import EapiClient, meaning
from bot.errors import EapiError, EapiResponseError

GET_INBOX_PATH = "/reception/get_inbox/1/1.1"
PAGE_ROWS = 1000
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPED = {"n": "\n", "r": "\r", "\\": "\\"}


@dataclass(frozen=True, slots=True)
class Reply:
    """One incoming SMS, its text decoded."""

    msg_id: int
    sender: str  # the number it came from, as the EAPI wrote it
    message: str
    received_time: str  # as the EAPI wrote it (the account Profile's time zone)
    msisdn: str  # the number it was sent to (ours)
    referring_batch_id: int  # the EAPI batch it answers; 0 for none
    encoding: str  # 7bit, 8bit or 16bit


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A row that could not be read: its msg_id when that much was readable, and why."""

    msg_id: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class InboxPage:
    """One get_inbox answer: its replies in order, rows that could not be read, and whether
    another call may hold more."""

    replies: tuple[Reply, ...]
    unreadable: tuple[Unreadable, ...] = ()

    @property
    def full(self) -> bool:
        """True when the page was as long as a page can be: ask again."""
        return len(self.replies) + len(self.unreadable) >= PAGE_ROWS

    @property
    def last_id(self) -> int | None:
        """The highest msg_id on the page (an unreadable row's too: it must not be asked for
        for ever), or None when there is none."""
        ids = [r.msg_id for r in self.replies] + [u.msg_id for u in self.unreadable if u.msg_id]
        return max(ids, default=None)


def unescape(text: str) -> str:
    """`\\n`, `\\r` and `\\\\` back to LF, CR and a backslash; any other backslash stays."""
    return _ESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(0)), text)


def decode_message(message: str, encoding: str) -> str:
    """The text of a message field: hex decoded for 16bit (UTF-16BE) and 8bit, else unescaped."""
    kind = encoding.strip().lower()
    if kind not in ("16bit", "8bit"):
        return unescape(message)
    try:
        raw = bytes.fromhex(message.strip())
        return raw.decode("utf-16-be") if kind == "16bit" else raw.decode("iso-8859-1")
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise EapiResponseError(f"a {kind} reply is not valid hex: {message[:40]!r}") from exc


def _whole(value: str, name: str) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise EapiResponseError(f"get_inbox: {name} is not a whole number: {value[:40]!r}")
    return int(value)


def parse_row(line: str) -> Reply:
    """One inbox row (see the module docstring); EapiResponseError when it is not one."""
    head = line.split("|", 2)
    tail = head[2].rsplit("|", 4) if len(head) == 3 else []
    if len(tail) != 5:
        raise EapiResponseError(f"get_inbox: a row without its 7 fields: {line[:80]!r}")
    msg_id, sender = head[0], head[1]
    message, received, msisdn, referring, encoding = tail
    return Reply(
        msg_id=_whole(msg_id, "msg_id"),
        sender=sender.strip(),
        message=decode_message(message, encoding),
        received_time=received.strip(),
        msisdn=msisdn.strip(),
        referring_batch_id=_whole(referring or "0", "referring_batch_id"),
        encoding=encoding.strip().lower(),
    )


def parse_inbox(body: str) -> InboxPage:
    """A get_inbox answer; EapiError for an error status, EapiResponseError when unreadable."""
    lines = body.lstrip("\ufeff").split("\n")
    header = lines[0].rstrip("\r").split("|")
    code = header[0].strip()
    if not (code.isascii() and code.isdigit()) or len(header) < 2:
        raise EapiResponseError(
            f"get_inbox answered no 'status|description|count' header: {body[:80]!r}"
        )
    if int(code) != 0:
        raise EapiError(f"get_inbox failed with status {code} ({meaning(int(code))})")
    replies: list[Reply] = []
    unreadable: list[Unreadable] = []
    for line in lines[1:]:
        row = line.removesuffix("\r")
        if not row.strip():
            continue
        try:
            replies.append(parse_row(row))
        except EapiResponseError as exc:
            first = row.split("|", 1)[0].strip()
            msg_id = int(first) if first.isascii() and first.isdigit() else None
            unreadable.append(Unreadable(msg_id, str(exc)))
    return InboxPage(tuple(replies), tuple(unreadable))


def fetch_inbox(client: EapiClient, last_retrieved_id: int) -> InboxPage:
    """The replies after `last_retrieved_id`, over the client's one connection (EapiError)."""
    params = {"last_retrieved_id": str(last_retrieved_id)}
    return parse_inbox(client.post_text(GET_INBOX_PATH, params, what="get_inbox"))


def pushed_reply(params: Mapping[str, str]) -> Reply:
    """A reply BulkSMS pushed (query parameters, research §B.2); ValueError when malformed.

    A pushed 7-bit message is plain text (the query string carries it unescaped).
    """
    missing = [name for name in ("msg_id", "sender") if not params.get(name, "").strip()]
    if missing:
        raise ValueError(f"the pushed reply has no {' or '.join(missing)}")
    encoding = (params.get("dca") or "7bit").strip().lower()
    try:
        raw = params.get("message", "")
        message = decode_message(raw, encoding) if encoding in ("16bit", "8bit") else raw
        return Reply(
            msg_id=_whole(params["msg_id"], "msg_id"),
            sender=params["sender"].strip(),
            message=message,
            received_time=params.get("received_time", "").strip(),
            msisdn=params.get("msisdn", "").strip(),
            referring_batch_id=_whole(
                params.get("referring_batch_id") or "0", "referring_batch_id"
            ),
            encoding=encoding,
        )
    except EapiResponseError as exc:
        raise ValueError(str(exc).removeprefix("get_inbox: ")) from None
