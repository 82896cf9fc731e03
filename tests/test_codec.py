"""The plan's stored JSON and its digest are canonical JSON of the plan, byte for byte.

`plan_to_json` and `batch_digest` write messages with a hand-made encoder (speed at 100,000
rows); these tests hold both to `canonical_json` of the plain dicts, the definition a stored
plan and every digest already made depend on.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.codec import (
    batch_digest,
    canonical_json,
    options_to_dict,
    plan_from_json,
    plan_to_dict,
    plan_to_json,
)
from bot.model import BatchPlan, CostLine, Dca, Message, PlannedChunk, SendOptions, SuppressedRow

TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from(list('"\\\n\r\t\x00\x1f\u2028😀€Δé')),
    max_size=40,
)
MESSAGES = st.lists(
    st.builds(
        Message,
        line=st.integers(2, 10**6),
        msisdn=st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True),
        text=TEXT,
        dca=st.sampled_from(list(Dca)),
        parts=st.integers(1, 255),
        country=st.sampled_from(["GB", "FR", "001", "US"]),
        encoding_reason=st.none() | TEXT,
        overrides=st.lists(
            st.tuples(st.sampled_from(["sender", "source_id"]), TEXT), max_size=2
        ).map(tuple),
        flags=st.lists(TEXT, max_size=2).map(tuple),
    ),
    max_size=8,
)


def _plan(messages: list[Message], suppressed: bool) -> BatchPlan:
    return BatchPlan(
        rows=len(messages) + 1,
        messages=tuple(messages),
        rejected=(),
        duplicates=(),
        chunks=(PlannedChunk(0, Dca.SEVEN_BIT, tuple(m.line for m in messages)),),
        cost=(CostLine("GB", len(messages), 3, Decimal("1.5")),),
        credits=Decimal("1.5"),
        options=SendOptions(sender="Acme"),
        text_encoding="utf-8",
        delimiter=",",
        columns=(("msisdn", "phone"),),
        ignored_columns=("name",),
        notes=("a note with “quotes”",),
        max_parts=3,
        suppressed=(SuppressedRow(9, "447400123456"),) if suppressed else (),
    )


def _shown(plan: BatchPlan) -> dict[str, Any]:
    """What the digest covers, as the plain dict the digest was first defined over."""
    shown: dict[str, Any] = {
        "messages": [
            {
                "line": m.line,
                "msisdn": m.msisdn,
                "text": m.text,
                "dca": m.dca.value,
                "parts": m.parts,
                "overrides": [[k, v] for k, v in m.overrides],
            }
            for m in plan.messages
        ],
        "options": options_to_dict(plan.options),
    }
    if plan.suppressed:
        shown["suppressed"] = [[s.line, s.msisdn] for s in plan.suppressed]
    return shown


@settings(max_examples=200, deadline=None)
@given(messages=MESSAGES, suppressed=st.booleans())
def test_stored_json_and_digest_are_canonical_json_of_the_plan(
    messages: list[Message], suppressed: bool
) -> None:
    """Whatever the texts hold (quotes, control characters, emoji, U+2028), the fast writers
    give exactly the canonical JSON's text, and the plan comes back equal from it."""
    plan = _plan(messages, suppressed)
    stored = plan_to_json(plan)
    assert stored == canonical_json(plan_to_dict(plan))
    assert json.loads(stored) == plan_to_dict(plan)
    assert plan_from_json(stored) == plan
    expected = hashlib.sha256(canonical_json(_shown(plan)).encode("utf-8")).hexdigest()
    assert batch_digest(plan) == expected


def test_a_known_plan_has_a_known_digest() -> None:
    """The digest of a fixed plan never changes: digests stored by earlier versions still
    match the plans they were made for (the value below is the one they computed)."""
    message = Message(2, "447400123456", 'Hi "Zoë" 😀', Dca.SIXTEEN_BIT, 1, "GB", "emoji")
    plan = _plan([message], suppressed=True)
    expected = "afa2ffcfca4f30f9acb2dcb5443c8c0711bbfbed314076a1ace07b2bdc5e2ebb"
    assert batch_digest(plan) == expected
