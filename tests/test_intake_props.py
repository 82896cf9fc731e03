"""Properties of the intake on generated input: only IntakeError, and every row accounted for."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import IntakeError
from bot.intake.gsm import EAPI_7BIT, GREEK_TO_LATIN1, eapi_7bit_form
from bot.intake.plan import IntakeLimits, plan_batch, plan_text
from bot.intake.pricing import PriceTable
from bot.model import BatchPlan, Dca, SendOptions

LIMITS = IntakeLimits(max_rows=500, max_parts=3, chunk_size=7)
PRICES = PriceTable()
FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

NUMBERS = st.sampled_from(
    [
        "447400123456",
        "07400 123457",
        "+33 6 12 34 56 78",
        "4.47401E+11",
        "447400123458.0",
        "12345",
        "",
        " ",
        "n/a",
        "+1 201-555-0123",
        "2015550123",
        "07400 123456 ext 2",
    ]
)
CSV_CHARS = st.sampled_from(list(',;|\t"\n\r a0123456789+.EeΔé€😀{}\\\x0b#?'))
TEXTS = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=CSV_CHARS, max_size=40),
    st.sampled_from(["Hi", "", "  ", "a" * 459, "a" * 460, "€" * 201, "#NAME?", "Zoë"]),
)
# Any character a phone can show (no controls, no lone surrogates), often GSM ones.
PRINTABLE = st.one_of(
    st.characters(blacklist_categories=("Cc", "Cs")),
    st.sampled_from(sorted(EAPI_7BIT)),  # so that many texts plan as 7-bit
)
EXTRA = st.sampled_from(["", "MyShop", "1", "2", "4", "7bit", "16bit", "0", "x" * 25])


def _accounted(plan: BatchPlan) -> None:
    assert len(plan.messages) + len(plan.duplicates) + len(plan.rejected) == plan.rows
    lines = [m.line for m in plan.messages] + [d.line for d in plan.duplicates]
    lines += [r.line for r in plan.rejected]
    assert len(set(lines)) == plan.rows  # each row in exactly one list
    assert sorted(n for c in plan.chunks for n in c.lines) == sorted(m.line for m in plan.messages)
    assert all(len(c.lines) <= LIMITS.chunk_size for c in plan.chunks)


@FAST
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_raise_nothing_but_intake_error(data: bytes) -> None:
    """Whatever bytes arrive, the intake returns a consistent plan or raises IntakeError."""
    try:
        plan = plan_batch(data, SendOptions(), LIMITS, PRICES)
    except IntakeError:
        return
    _accounted(plan)


@FAST
@given(st.text(max_size=600))
def test_arbitrary_pasted_text_raises_nothing_but_intake_error(text: str) -> None:
    """Any pasted text, lone surrogates included, gives a consistent plan or IntakeError."""
    try:
        plan = plan_text(text, SendOptions(), LIMITS, PRICES)
    except IntakeError:
        return
    _accounted(plan)


@FAST
@given(
    st.text(alphabet=CSV_CHARS, max_size=400),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
)
def test_csv_like_noise_raises_nothing_but_intake_error(text: str, codec: str) -> None:
    """Quotes, delimiters and line breaks in any order never crash the intake."""
    data = ("msisdn,message\n" + text).encode(codec, errors="replace")
    try:
        plan = plan_batch(data, SendOptions(), LIMITS, PRICES)
    except IntakeError:
        return
    _accounted(plan)


@FAST
@given(
    st.lists(st.tuples(NUMBERS, TEXTS, EXTRA), min_size=1, max_size=25),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["routing_group", "sender", "dca", "notes"]),
)
def test_every_generated_row_is_accounted_for(
    rows: list[tuple[str, str, str]], delimiter: str, extra: str
) -> None:
    """For any well-formed CSV, each non-blank row is a message, a duplicate or a rejection."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["msisdn", "message", extra])
    writer.writerows(rows)
    non_blank = sum(1 for row in rows if any(cell.strip() for cell in row))
    try:
        plan = plan_text(out.getvalue(), SendOptions(), LIMITS, PRICES)
    except IntakeError as exc:
        # Only a file with no rows, or one full of control characters, may be refused.
        assert non_blank == 0 or "control characters" in str(exc) or "NUL" in str(exc)
        return
    assert plan.rows == non_blank
    _accounted(plan)


@FAST
@given(st.lists(st.text(PRINTABLE, min_size=1, max_size=300), min_size=1, max_size=10))
def test_seven_bit_plans_round_trip_through_the_eapi_form(texts: list[str]) -> None:
    """A text planned as 7-bit survives ISO-8859-1 and the Greek byte mapping unchanged."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["msisdn", "message"])
    writer.writerows([f"4474001234{i:02d}", text] for i, text in enumerate(texts))
    plan = plan_text(out.getvalue(), SendOptions(), LIMITS, PRICES)
    back = {latin: greek for greek, latin in GREEK_TO_LATIN1.items()}
    for message in plan.messages:
        if message.dca is Dca.SEVEN_BIT:
            wire = eapi_7bit_form(message.text).encode("iso-8859-1").decode("latin-1")
            assert "".join(back.get(c, c) for c in wire) == message.text
        else:
            assert message.encoding_reason
