"""JSON forms of the shared model types, and the digest that binds an approval to its content.

The store keeps a `BatchPlan` as JSON (every message included) and rebuilds it exactly; the
digest is SHA-256 over a canonical JSON of what the preview showed: every message (line,
msisdn, text, dca, parts, overrides) and the send options. Canonical means: keys sorted, no
insignificant whitespace, non-ASCII kept as UTF-8, the whole encoded as UTF-8.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.model import (
    BatchPlan,
    CostLine,
    Dca,
    DuplicateRow,
    Message,
    PlannedChunk,
    RejectedRow,
    SendOptions,
    SuppressedRow,
    TestMode,
)


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, UTF-8 characters as themselves."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 bytes of a text, as 64 lower-case hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def options_to_dict(options: SendOptions) -> dict[str, Any]:
    """SendOptions as a JSON-ready dict; `template` only when there is one, so the digests of
    plans made before templates existed stay what they were."""
    data: dict[str, Any] = {
        "sender": options.sender,
        "routing_group": options.routing_group,
        "send_at": options.send_at,
        "test_mode": options.test_mode.value,
    }
    if options.template is not None:
        data["template"] = options.template
    return data


def options_from_dict(data: dict[str, Any]) -> SendOptions:
    """SendOptions back from `options_to_dict`."""
    return SendOptions(
        sender=data.get("sender"),
        routing_group=data.get("routing_group"),
        send_at=data.get("send_at"),
        test_mode=TestMode(data.get("test_mode", TestMode.OFF.value)),
        template=data.get("template"),
    )


def _pairs(pairs: tuple[tuple[str, str], ...]) -> list[list[str]]:
    return [[key, value] for key, value in pairs]


def _unpairs(data: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((key, value) for key, value in data)


def _message_to_dict(m: Message) -> dict[str, Any]:
    return {
        "line": m.line,
        "msisdn": m.msisdn,
        "text": m.text,
        "dca": m.dca.value,
        "parts": m.parts,
        "country": m.country,
        "encoding_reason": m.encoding_reason,
        "overrides": _pairs(m.overrides),
        "flags": list(m.flags),
    }


def _message_from_dict(d: dict[str, Any]) -> Message:
    return Message(
        line=d["line"],
        msisdn=d["msisdn"],
        text=d["text"],
        dca=Dca(d["dca"]),
        parts=d["parts"],
        country=d["country"],
        encoding_reason=d["encoding_reason"],
        overrides=_unpairs(d["overrides"]),
        flags=tuple(d["flags"]),
    )


def message_to_dict(message: Message) -> dict[str, Any]:
    """One message as a JSON-ready dict, as the plan's JSON holds it."""
    return _message_to_dict(message)


def message_from_dict(data: dict[str, Any]) -> Message:
    """The message `message_to_dict` was made from."""
    return _message_from_dict(data)


def plan_to_dict(plan: BatchPlan, *, messages: bool = True) -> dict[str, Any]:
    """A BatchPlan as a JSON-ready dict (Decimal credits as strings, so nothing is rounded).

    Without `messages` the dict leaves them out (for `plan_to_json`, which writes them itself).
    """
    fields = {
        "rows": plan.rows,
        "rejected": [[r.line, r.column, r.reason, r.value] for r in plan.rejected],
        "duplicates": [[d.line, d.first_line, d.msisdn] for d in plan.duplicates],
        "chunks": [[c.index, c.dca.value, list(c.lines)] for c in plan.chunks],
        "cost": [[c.country, c.messages, c.parts, str(c.credits)] for c in plan.cost],
        "credits": str(plan.credits),
        "options": options_to_dict(plan.options),
        "text_encoding": plan.text_encoding,
        "delimiter": plan.delimiter,
        "columns": _pairs(plan.columns),
        "ignored_columns": list(plan.ignored_columns),
        "notes": list(plan.notes),
        "max_parts": plan.max_parts,
        "suppressed": [[s.line, s.msisdn] for s in plan.suppressed],
    }
    if messages:
        fields["messages"] = [_message_to_dict(m) for m in plan.messages]
    return fields


def plan_from_dict(d: dict[str, Any]) -> BatchPlan:
    """The BatchPlan `plan_to_dict` was made from, equal field for field."""
    return BatchPlan(
        rows=d["rows"],
        messages=tuple(_message_from_dict(m) for m in d["messages"]),
        rejected=tuple(RejectedRow(*r) for r in d["rejected"]),
        duplicates=tuple(DuplicateRow(*r) for r in d["duplicates"]),
        chunks=tuple(PlannedChunk(i, Dca(dca), tuple(lines)) for i, dca, lines in d["chunks"]),
        cost=tuple(CostLine(c, m, p, Decimal(cr)) for c, m, p, cr in d["cost"]),
        credits=Decimal(d["credits"]),
        options=options_from_dict(d["options"]),
        text_encoding=d["text_encoding"],
        delimiter=d["delimiter"],
        columns=_unpairs(d["columns"]),
        ignored_columns=tuple(d["ignored_columns"]),
        notes=tuple(d["notes"]),
        max_parts=d.get("max_parts", 3),  # plans stored before the field existed used 3
        suppressed=tuple(SuppressedRow(*s) for s in d.get("suppressed", ())),
    )


def plan_to_json(plan: BatchPlan) -> str:
    """The plan as compact JSON text for the store: `canonical_json(plan_to_dict(plan))`.

    Written a field at a time, the messages by `_message_json` (see `_Canonical`), and joined
    once: a 100,000-message plan is tens of megabytes (four bytes a character once one
    message has an emoji), so it is never copied whole more than that once.
    """
    fields: dict[str, Any] = plan_to_dict(plan, messages=False)
    fields["messages"] = _Canonical(plan.messages, _message_json)
    return "".join(_canonical_pieces(fields))


class _Canonical:
    """A list of messages written by a hand-made canonical encoder.

    A 100,000-message plan is written once for the store and once for its digest when it is
    prepared; `json.dumps(..., sort_keys=True)` of a dict per message spends most of that time
    building and sorting the dicts. The encoders below write the same text from the message's
    fields in sorted key order, every string through json's own C encoder; test_codec holds
    them to `canonical_json` on generated messages.
    """

    __slots__ = ("encode", "items")

    def __init__(self, items: tuple[Message, ...], encode: Callable[[Message], str]) -> None:
        self.items = items
        self.encode = encode


def _canonical_pieces(fields: dict[str, Any]) -> Iterator[str]:
    """`canonical_json(fields)` in pieces, each `_Canonical` value by its own encoder."""
    yield "{"
    for n, key in enumerate(sorted(fields)):
        value = fields[key]
        yield f"{',' if n else ''}{_string(key)}:"
        if not isinstance(value, _Canonical):
            yield canonical_json(value)
            continue
        yield "["
        for i, item in enumerate(value.items):
            yield "," + value.encode(item) if i else value.encode(item)
        yield "]"
    yield "}"


# A str as `canonical_json` writes it (ensure_ascii=False): json's own encoder, in C.
_string = json.encoder.encode_basestring


def _small_list(value: Any) -> str:
    """A message's flags or override pairs: almost always empty."""
    return canonical_json(value) if value else "[]"


def _message_json(m: Message) -> str:
    """`canonical_json(_message_to_dict(m))`, keys in sorted order."""
    reason = "null" if m.encoding_reason is None else _string(m.encoding_reason)
    return (
        f'{{"country":{_string(m.country)},"dca":{_string(m.dca.value)},'
        f'"encoding_reason":{reason},"flags":{_small_list(list(m.flags))},"line":{int(m.line)},'
        f'"msisdn":{_string(m.msisdn)},"overrides":{_small_list(_pairs(m.overrides))},'
        f'"parts":{int(m.parts)},"text":{_string(m.text)}}}'
    )


def _shown_json(m: Message) -> str:
    """`canonical_json` of what the digest covers of one message, keys in sorted order."""
    return (
        f'{{"dca":{_string(m.dca.value)},"line":{int(m.line)},"msisdn":{_string(m.msisdn)},'
        f'"overrides":{_small_list(_pairs(m.overrides))},"parts":{int(m.parts)},'
        f'"text":{_string(m.text)}}}'
    )


def plan_from_json(text: str | bytes) -> BatchPlan:
    """The plan back from `plan_to_json` (or its UTF-8 bytes)."""
    return plan_from_dict(json.loads(text))


# What decoding a damaged stored plan can raise (json.JSONDecodeError is a ValueError).
PLAN_DECODE_ERRORS = (ValueError, KeyError, TypeError, IndexError, InvalidOperation)


def plan_digest(plan_json: str | bytes) -> str:
    """The digest of a stored plan (`batch_digest` of it decoded); PLAN_DECODE_ERRORS if damaged."""
    return batch_digest(plan_from_json(plan_json))


def batch_digest(plan: BatchPlan) -> str:
    """SHA-256 over exactly what the preview showed: every message and the send options.

    The canonical JSON of `{"messages": [{"line", "msisdn", "text", "dca", "parts",
    "overrides"}, …], "options": {…}}`, plus `"suppressed": [[line, msisdn], …]` when rows were
    suppressed at preview time (absent otherwise, as before the list existed).
    """
    shown: dict[str, Any] = {
        "messages": _Canonical(plan.messages, _shown_json),
        "options": options_to_dict(plan.options),
    }
    if plan.suppressed:
        shown["suppressed"] = [[s.line, s.msisdn] for s in plan.suppressed]
    digest = hashlib.sha256()  # fed a piece at a time: the whole text is never held
    for piece in _canonical_pieces(shown):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()


def params_to_json(params: dict[str, str]) -> str:
    """A submission's form fields as JSON text, in their order (the body depends on it)."""
    return json.dumps(params, ensure_ascii=False, separators=(",", ":"))


def params_from_json(text: str) -> dict[str, str]:
    """The form fields back, in the order they were stored."""
    data = json.loads(text)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError("stored submission parameters are not a JSON object of strings")
    return data
