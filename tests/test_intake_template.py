"""Templates behave as GOV.UK Notify's do (its own test cases), and every filled message is
counted, checked and digested as the text that will go out."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.codec import batch_digest
from bot.errors import IntakeError
from bot.intake.gsm import count_parts
from bot.intake.plan import IntakeLimits, plan_text
from bot.intake.pricing import PriceTable
from bot.intake.template import Fields, MissingValue, column_key, fill, parse_template
from bot.model import BatchPlan, Dca, SendOptions


def _plan(text: str, template: str | None = None, max_parts: int = 3) -> BatchPlan:
    options = SendOptions(template=template)
    return plan_text(text, options, IntakeLimits(max_parts=max_parts), PriceTable())


@pytest.mark.parametrize(
    "header", ["phone number", "   PHONENUMBER", "phone_number", "phone-number", "phoneNumber"]
)
def test_notify_matching_for_phone_number(header: str) -> None:
    """Notify's test_ignores_spaces_and_case_in_placeholders, the ((phone_number)) half."""
    template = parse_template("Call ((phone_number))")
    fields = Fields.from_header(["msisdn", header])
    assert fields.missing(template) == ()
    assert fill(template, fields, ["447400123456", " 0800 123 "]) == "Call 0800 123"


@pytest.mark.parametrize("header", ["FIRSTNAME", "first name", "first-name", "First_Name"])
def test_notify_matching_for_first_name(header: str) -> None:
    """Notify's test_ignores_spaces_and_case_in_placeholders, the ((First Name)) half."""
    plan = _plan(f"msisdn,{header}\n447400123456,Ann\n", template="Hi ((First Name))")
    assert [m.text for m in plan.messages] == ["Hi Ann"]
    assert plan.columns == (("msisdn", "msisdn"), ("((First Name))", header.strip()))


def test_other_punctuation_is_not_ignored() -> None:
    """Only spaces, _ and - are dropped: `first.name` is not `first name`."""
    assert column_key("first.name") != column_key("first name")
    with pytest.raises(IntakeError, match="missing a column called ‘first name’"):
        _plan("msisdn,first.name\n447400123456,Ann\n", template="Hi ((first name))")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("t", True),
        ("1", True),
        ("include", True),
        ("Show", True),
        ("no", False),
        ("0", False),
        ("maybe", False),
    ],
)
def test_conditional_text_shows_only_for_notifys_truthy_words(value: str, shown: bool) -> None:
    """((under18??text)) shows its text for yes/y/true/t/1/include/show, any case."""
    template = "Hello.((under18?? Please get a parent to sign.))"
    plan = _plan(f"msisdn,under 18\n447400123456,{value}\n", template=template)
    expected = "Hello. Please get a parent to sign." if shown else "Hello."
    assert [m.text for m in plan.messages] == [expected]


def test_conditional_text_is_everything_after_the_first_question_marks() -> None:
    """`((a?? b??c))` is the name `a` and the text ` b??c` (Notify's Placeholder)."""
    template = parse_template("x((a?? b??c))")
    assert fill(template, Fields.from_header(["a"]), ["yes"]) == "x b??c"


def test_a_missing_column_makes_the_upload_unusable_naming_both_sides() -> None:
    """Every placeholder without a column is named, with the columns the file has."""
    with pytest.raises(IntakeError) as caught:
        _plan("msisdn,name\n447400123456,Ann\n", template="Hi ((name)), ((day)) at ((time))")
    assert str(caught.value) == (
        "the template uses ((day)) and ((time)), but the file is missing columns called ‘day’ "
        "and ‘time’. Its columns are ‘msisdn’ and ‘name’. Column names match placeholders "
        "ignoring case, spaces, _ and -"
    )


def test_a_missing_column_in_the_message_column_is_unusable_too() -> None:
    """Placeholders in the message column need their columns as much as a template's do."""
    with pytest.raises(IntakeError, match=r"the message column uses \(\(name\)\)"):
        _plan("msisdn,message\n447400123456,Hi ((name))\n447400123457,Hello\n")


def test_a_missing_value_rejects_that_row_only() -> None:
    """An empty cell for a placeholder (conditionals included) rejects the row: "missing x"."""
    plan = _plan(
        "msisdn,name,vip\n447400123456,Ann,yes\n447400123457,,yes\n447400123458,Cy,\n",
        template="Hi ((name))((vip??, our VIP))",
    )
    assert [m.text for m in plan.messages] == ["Hi Ann, our VIP"]
    assert [(r.line, r.column, r.reason) for r in plan.rejected] == [
        (3, "name", "missing name: the “name” cell is empty"),
        (4, "vip", "missing vip: the “vip” cell is empty"),
    ]


def test_a_spreadsheet_error_in_a_value_rejects_the_row() -> None:
    """Beyond Notify: "#N/A" exported by Excel is never sent as "Hi #N/A"."""
    plan = _plan("msisdn,name\n447400123456,#N/A\n447400123457,Bob\n", template="Hi ((name))")
    assert [m.text for m in plan.messages] == ["Hi Bob"]
    assert [(r.line, r.column, r.reason, r.value) for r in plan.rejected] == [
        (
            2,
            "name",
            "the “name” cell holds the spreadsheet error #N/A, not a value for ((name)); fix "
            "the formula and export again",
            "#N/A",
        )
    ]


def test_too_long_after_filling_is_a_rejected_row() -> None:
    """The part limit applies to each filled message; a long value rejects only its row."""
    long_name = "A" * 200
    plan = _plan(
        f"msisdn,name\n447400123456,Ann\n447400123457,{long_name}\n",
        template="Hi ((name))",
        max_parts=1,
    )
    assert [m.text for m in plan.messages] == ["Hi Ann"]
    assert [(r.line, r.column) for r in plan.rejected] == [(3, "template")]
    assert plan.rejected[0].reason.startswith("the message needs 2 SMS parts (203 7-bit")


def test_a_filled_value_with_e_diaeresis_makes_that_message_16_bit() -> None:
    """7-bit template, a value with ë: that one message is 16-bit, and says which character."""
    plan = _plan("msisdn,name\n447400123456,Zoe\n447400123457,Zoë\n", template="Hi ((name))!")
    assert [(m.text, m.dca) for m in plan.messages] == [
        ("Hi Zoe!", Dca.SEVEN_BIT),
        ("Hi Zoë!", Dca.SIXTEEN_BIT),
    ]
    assert plan.messages[1].encoding_reason is not None
    assert plan.messages[1].encoding_reason.startswith("character 6:")


def test_the_message_column_may_use_its_own_row() -> None:
    """Without a template, each message cell can hold placeholders filled from its row."""
    plan = _plan("msisdn,message,name\n447400123456,Hi ((name)),Ann\n447400123457,Plain text,\n")
    assert [m.text for m in plan.messages] == ["Hi Ann", "Plain text"]
    assert plan.columns == (("msisdn", "msisdn"), ("message", "message"), ("((name))", "name"))


def test_unused_columns_are_listed_and_the_file_needs_no_message_column() -> None:
    """With a template, columns it does not use (the message column too) are listed."""
    plan = _plan("msisdn,name,message,notes\n447400123456,Ann,old text,x\n", template="Hi ((name))")
    assert [m.text for m in plan.messages] == ["Hi Ann"]
    assert plan.ignored_columns == ("message", "notes")
    assert _plan("msisdn\n447400123456\n", template="Hello all").messages[0].text == "Hello all"


def test_with_a_template_a_bare_list_of_numbers_is_enough() -> None:
    """Pasted numbers, one a line and no header: the template gives every row its text."""
    plan = _plan("07400 123456\n+447400123457\n", template="Doors open at 7pm")
    assert [(m.line, m.msisdn, m.text) for m in plan.messages] == [
        (1, "447400123456", "Doors open at 7pm"),
        (2, "447400123457", "Doors open at 7pm"),
    ]
    assert "no header line: column 1 is read as the number (the template gives the text)" in (
        plan.notes
    )
    with pytest.raises(IntakeError, match="must have exactly two columns"):
        _plan("07400 123456\n+447400123457\n")  # without a template, the text is missing


def test_the_digest_covers_the_filled_messages() -> None:
    """Another template, or the same template on other data, is another digest."""
    rows = "msisdn,name\n447400123456,Ann\n"
    first = batch_digest(_plan(rows, template="Hi ((name))"))
    assert first == batch_digest(_plan(rows, template="Hi ((name))"))
    assert first != batch_digest(_plan(rows, template="Hello ((name))"))
    assert first != batch_digest(_plan(rows.replace("Ann", "Bob"), template="Hi ((name))"))


# No comma in the literal text: a line of digits and a comma inside a message would look like a
# swallowed CSV row, which the intake rejects on purpose (plan._swallowed_rows).
_LITERAL = st.text(
    alphabet=st.sampled_from("abcXYZ 019.!?@£$€^{}[]~|\\ëçé😀\n"), min_size=0, max_size=60
)
_VALUE = st.text(alphabet=st.sampled_from("abcZ 09-€ë^😀"), min_size=1, max_size=80).filter(
    lambda v: v.strip() == v and v.strip()
)


@settings(max_examples=150, deadline=None)
@given(before=_LITERAL, after=_LITERAL, value=_VALUE)
def test_filling_then_counting_equals_counting_the_finished_text(
    before: str, after: str, value: str
) -> None:
    """The plan's encoding and parts for a filled message are those of the text it sends."""
    template = f"{before}((name)){after}"
    finished = before + value + after
    out = io.StringIO()
    csv.writer(out).writerows([["msisdn", "name"], ["447400123456", value]])
    plan = _plan(out.getvalue(), template=template, max_parts=255)
    if not finished.strip():
        return
    assert [m.text for m in plan.messages] == [finished]
    assert (plan.messages[0].dca, plan.messages[0].parts) == count_parts(finished)


def test_a_missing_value_is_reported_by_fill() -> None:
    """`fill` names the placeholder and the header of the empty cell."""
    template = parse_template("Hi ((First Name))")
    fields = Fields.from_header(["msisdn", "first_name"])
    assert fill(template, fields, ["447400123456", "  "]) == MissingValue(
        "First Name", "first_name"
    )
