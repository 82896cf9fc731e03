"""Send options and per-message EAPI columns: what the EAPI accepts, checked before sending.

The EAPI silently truncates or drops values it does not like (eapi-send-batch.txt), so every
value is checked here and a bad one rejects its row with a reason instead.

Per-row columns pass through to the submission as `Message.overrides`, except `dca`: one EAPI
submission carries one dca, and smsbatch picks each message's encoding from its text, so a user's
`dca` is a check, never an instruction. `7bit` on a text that needs 16-bit is a rejected row (the
EAPI would turn the character into `?`); `8bit` is refused (binary messages are not supported);
`16bit` on text that is already hex is refused (smsbatch encodes the text itself); otherwise the
text decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.intake.gsm import Forced16Bit
from bot.model import SendOptions

SENDER_RULE = (
    "at most 11 letters and digits (A-Z, a-z, 0-9, no spaces), or a number of at most 16 "
    "digits without '+'"
)
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]{1,11}")
_NUMERIC = re.compile(r"[0-9]{1,16}")
_HEX_16BIT = re.compile(r"(?:[0-9A-Fa-f]{4})+")
SOURCE_ID_MAX = 20


def sender_problem(sender: str) -> str | None:
    """Why this sender id cannot be used, or None when the EAPI accepts it."""
    if not sender.strip():
        return "sender is empty; leave it unset to use the account's default sender"
    if _ALPHANUMERIC.fullmatch(sender) or _NUMERIC.fullmatch(sender):
        return None
    return f"sender {sender!r} must be {SENDER_RULE}"


def validate_options(options: SendOptions) -> list[str]:
    """Problems with the batch's sender and routing group, in words for the person choosing."""
    problems: list[str] = []
    if options.sender is not None:
        problem = sender_problem(options.sender)
        if problem:
            problems.append(problem)
    group = options.routing_group
    if group is not None and (isinstance(group, bool) or group not in (1, 2, 3)):
        problems.append(f"routing group must be 1, 2 or 3, got {group!r}")
    if options.send_at is not None and options.send_at <= 0:
        problems.append(f"send time must be a positive unix time, got {options.send_at!r}")
    return problems


@dataclass(frozen=True, slots=True)
class RowOverrides:
    """A row's checked EAPI columns (dca excluded) and the routing group that prices it."""

    values: tuple[tuple[str, str], ...] = ()
    routing_group: int | None = None


@dataclass(frozen=True, slots=True)
class OverrideProblem:
    """A per-row column value the EAPI would not take as meant."""

    role: str
    reason: str
    value: str


def check_overrides(
    cells: Iterable[tuple[str, str]], text: str, forced: Forced16Bit | None, options: SendOptions
) -> RowOverrides | OverrideProblem:
    """Check a row's (role, cell) pairs in column order; empty cells mean no override."""
    values: list[tuple[str, str]] = []
    for role, raw in cells:
        value = raw.strip()
        if not value:
            continue
        reason = _problem(role, value, text, forced)
        if reason:
            return OverrideProblem(role, reason, raw)
        if role != "dca":
            values.append((role, value))
    found = dict(values)
    if found.get("repliable") == "1":
        if "sender" in found:
            return OverrideProblem(
                "repliable", "repliable=1 cannot go with a sender on the same row", "1"
            )
        if options.sender:
            return OverrideProblem(
                "repliable",
                f"repliable=1 cannot go with the batch's sender {options.sender!r}; "
                "remove one of them",
                "1",
            )
    group = found.get("routing_group")
    return RowOverrides(tuple(values), int(group) if group else None)


def _problem(role: str, value: str, text: str, forced: Forced16Bit | None) -> str | None:
    if role == "sender":
        return sender_problem(value)
    if role == "routing_group":
        return None if value in ("1", "2", "3") else "routing_group must be 1, 2 or 3"
    if role == "msg_class":
        return None if value in ("0", "2") else "msg_class must be 0 (flash) or 2 (normal)"
    if role == "repliable":
        return None if value in ("0", "1") else "repliable must be 0 or 1"
    if role == "source_id":
        return _source_id_problem(value)
    if role == "dca":
        return _dca_problem(value.lower(), text, forced)
    raise ValueError(f"not a per-message column: {role}")


def _source_id_problem(value: str) -> str | None:
    if len(value) > SOURCE_ID_MAX:
        return f"source_id has {len(value)} characters; the EAPI takes at most {SOURCE_ID_MAX}"
    if not value.isprintable() or any(ord(c) > 0xFF for c in value):
        return "source_id may hold only printable ISO-8859-1 characters"
    return None


def _dca_problem(dca: str, text: str, forced: Forced16Bit | None) -> str | None:
    if dca == "8bit":
        return "dca=8bit (binary messages) is not supported; send text and leave dca empty"
    if dca == "7bit" and forced is not None:
        return (
            f"dca=7bit, but the text needs 16-bit: character {forced.index + 1}, "
            f"{forced.reason}; clear the dca cell to send it as 16-bit"
        )
    if dca == "16bit" and _HEX_16BIT.fullmatch(text):
        return (
            "dca=16bit and the message is already hex; write the message as plain text "
            "(smsbatch encodes it) and leave dca empty"
        )
    if dca not in ("7bit", "16bit"):
        return "dca must be 7bit or 16bit (or empty: smsbatch chooses from the text)"
    return None
