"""CSV dialect, header and columns: files as people really export and paste them."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import IntakeError
from bot.intake import csvread
from bot.intake.csvread import physical_lines
from bot.intake.plan import IntakeLimits, plan_text
from bot.intake.pricing import PriceTable
from bot.model import BatchPlan, SendOptions


def _plan(text: str, max_rows: int = 100_000) -> BatchPlan:
    return plan_text(text, SendOptions(), IntakeLimits(max_rows=max_rows), PriceTable())


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_comes_from_the_header_line(delimiter: str) -> None:
    """Each of the four delimiters is found from the header and used for every row."""
    text = f"msisdn{delimiter}message\n447400123456{delimiter}Hi, there; you | me\n"
    if delimiter in ",;|":
        text = text.replace("Hi, there; you | me", '"Hi, there; you | me"')
    plan = _plan(text)
    assert plan.delimiter == delimiter
    assert [m.text for m in plan.messages] == ["Hi, there; you | me"]


def test_delimiters_inside_quoted_headers_are_not_counted() -> None:
    """A quoted header holding commas does not make the comma the delimiter."""
    plan = _plan('"msisdn";"message";"note, with, commas"\n447400123456;Hallo;x\n')
    assert plan.delimiter == ";"
    assert plan.ignored_columns == ("note, with, commas",)


def test_excel_sep_line_sets_the_delimiter() -> None:
    """Excel's 'sep=;' first line is obeyed and is not a row; the header is line 1."""
    plan = _plan("sep=;\nmsisdn;message\n447400123456;Hi, you, and you\n")
    assert plan.delimiter == ";"
    assert plan.rows == 1
    assert plan.messages[0].line == 2
    assert plan.messages[0].text == "Hi, you, and you"
    with pytest.raises(IntakeError, match="no msisdn or message column"):
        _plan("sep=,\nmsisdn;message\n447400123456;Hi\n")


def test_multiline_messages_crlf_blank_and_trailing_lines() -> None:
    """Quoted line breaks stay in the text (as LF); blank rows are skipped but keep numbering."""
    text = (
        "msisdn,message\r\n"
        '447400123456,"Line one\r\nLine two"\r\n'
        "\r\n"
        ",,\r\n"
        "447400123457,  plain  \r\n"
        "\r\n\r\n"
    )
    plan = _plan(text)
    assert plan.rows == 2
    assert [(m.line, m.text) for m in plan.messages] == [
        (2, "Line one\nLine two"),
        (5, "plain  "),
    ]


def test_lone_cr_line_endings_are_read() -> None:
    """Old Mac line endings (CR only) separate rows and become LF inside messages."""
    plan = _plan('msisdn,message\r447400123456,"a\rb"\r447400123457,c\r')
    assert [m.text for m in plan.messages] == ["a\nb", "c"]


def test_cells_are_strings_and_numbers_keep_their_zeros() -> None:
    """Nothing is converted to numbers: a leading 0 and '007' text survive."""
    plan = _plan("msisdn,message\n07400123456,007\n")
    assert plan.messages[0].msisdn == "447400123456"
    assert plan.messages[0].text == "007"


@pytest.mark.parametrize(
    ("header", "msisdn_header", "message_header"),
    [
        ("MSISDN,Message", "MSISDN", "Message"),
        ("\ufeff Phone Number ,Text", "Phone Number", "Text"),
        ("mobile,body", "mobile", "body"),
        ("To,SMS", "To", "SMS"),
        ("recipient,text", "recipient", "text"),
        ("Cell,Body", "Cell", "Body"),
        ("tel,message", "tel", "message"),
        ("number,sms", "number", "sms"),
    ],
)
def test_column_names_and_aliases_are_case_and_space_insensitive(
    header: str, msisdn_header: str, message_header: str
) -> None:
    """Common names for the two columns are accepted; plan.columns says which were used."""
    plan = _plan(f"{header}\n447400123456,Hi\n")
    assert plan.columns == (("msisdn", msisdn_header), ("message", message_header))
    assert len(plan.messages) == 1


def test_columns_can_come_in_any_order_and_unknown_ones_are_named() -> None:
    """Extra columns are kept out of the submission and listed in plan.ignored_columns."""
    plan = _plan("Name,Text,Customer ID,Mobile\nAnna,Hi Anna,17,07400123456\n")
    assert plan.messages[0].msisdn == "447400123456"
    assert plan.columns == (("message", "Text"), ("msisdn", "Mobile"))
    assert plan.ignored_columns == ("Name", "Customer ID")
    assert plan.messages[0].overrides == ()


def test_an_unnamed_column_is_named_only_when_it_holds_data() -> None:
    """Excel's trailing empty column is silent; an unnamed column with data is reported."""
    assert _plan("msisdn,message,\n447400123456,Hi,\n").ignored_columns == ()
    plan = _plan("msisdn,message,\n447400123456,Hi,secret\n")
    assert plan.ignored_columns == ("column 3 (no header)",)


def test_missing_columns_name_the_headers_found_and_the_accepted_names() -> None:
    """Without a message column the error lists what was found and what is accepted."""
    with pytest.raises(IntakeError) as caught:
        _plan("Phone,Greeting\n447400123456,Hi\n")
    message = str(caught.value)
    assert "no message column" in message
    assert "'Phone', 'Greeting'" in message
    assert "message, text, body, sms" in message


def test_two_candidate_columns_are_refused_rather_than_guessed() -> None:
    """'Phone' and 'Mobile' both fit: the user must say which, unless one is 'msisdn'."""
    with pytest.raises(IntakeError, match="more than one column could be the msisdn column"):
        _plan("Phone,Mobile,Text\n447400123456,447400123457,Hi\n")
    plan = _plan("Phone,MSISDN,Text\n447400123456,447400123457,Hi\n")
    assert plan.messages[0].msisdn == "447400123457"
    assert plan.ignored_columns == ()


def test_headerless_two_columns_are_number_then_text() -> None:
    """Bare 'number,text' lines are read as such; row 1 is data on line 1."""
    plan = _plan('447400123456,Hello\n07400 123457,"Hi, again"\n')
    assert plan.columns == (("msisdn", "column 1"), ("message", "column 2"))
    assert [(m.line, m.text) for m in plan.messages] == [(1, "Hello"), (2, "Hi, again")]
    assert any("no header line" in note for note in plan.notes)


def test_headerless_semicolons_with_commas_in_text() -> None:
    """'number;text, with comma' is two cells split on ';', not on ','."""
    plan = _plan("447400123456;Hallo, wie geht's\n")
    assert plan.delimiter == ";"
    assert plan.messages[0].text == "Hallo, wie geht's"


def test_headerless_with_more_than_two_cells_is_explained() -> None:
    """A data first line with unquoted commas cannot be guessed; the error says what to do."""
    with pytest.raises(IntakeError, match="exactly two columns") as caught:
        _plan("447400123456,Hello, how are you\n")
    assert "msisdn,message" in str(caught.value)


def test_row_with_more_cells_than_the_header_is_rejected() -> None:
    """An unquoted delimiter in a message rejects that row with the quoting hint."""
    plan = _plan("msisdn,message\n447400123456,Hello, world\n447400123457,Fine\n")
    assert [m.line for m in plan.messages] == [3]
    rejected = plan.rejected[0]
    assert (rejected.line, rejected.column) == (2, "row")
    assert "must be in double quotes" in rejected.reason
    assert rejected.value == "447400123456,Hello,world"


def test_row_missing_its_message_cell_is_rejected() -> None:
    """A row too short to hold the message says that cell is missing."""
    plan = _plan("msisdn,message\n447400123456\n")
    assert plan.rejected[0].column == "message"
    assert "the message cell is missing" in plan.rejected[0].reason


def test_unbalanced_quote_is_refused_naming_the_line() -> None:
    """A quote that never closes swallows the file: refused, naming where it starts."""
    with pytest.raises(IntakeError, match="unbalanced quote near line 3"):
        _plan('msisdn,message\n447400123456,ok\n447400123457,"never closed\nmore\n')


def test_a_quote_swallowing_a_huge_stretch_is_refused() -> None:
    """A cell past the csv module's field limit is the same mistake: refused, line named."""
    text = 'msisdn,message\n447400123456,"open' + "\nfiller" * 20_000 + '"\n'
    with pytest.raises(IntakeError, match="unbalanced quote near line 2"):
        _plan(text)


def test_unbalanced_quote_line_counts_the_sep_line() -> None:
    """The line named is the file's own line, with Excel's 'sep=' line counted."""
    with pytest.raises(IntakeError, match="unbalanced quote near line 3"):
        _plan('sep=,\nmsisdn,message\n447400123457,"never closed\n')


def test_a_misplaced_quote_rejects_only_its_row() -> None:
    """'"Hi" there' cannot be read as one cell: that row is rejected, the rest is planned."""
    plan = _plan('msisdn,message\n447400123456,"Hi" there\n447400123457,fine\n')
    assert [m.line for m in plan.messages] == [3]
    assert plan.rejected[0].line == 2
    assert "double quote is misplaced" in plan.rejected[0].reason
    assert plan.rejected[0].value == '447400123456,"Hi" there'


def test_a_quote_that_swallows_rows_is_caught() -> None:
    """A stray quote closed rows later would hide rows inside one message: rejected instead."""
    text = 'msisdn,message\n447400123456,"Hello\n447400123457,World"\n447400123458,ok\n'
    plan = _plan(text)
    assert plan.rows == 2
    assert "probably not closed" in plan.rejected[0].reason
    assert [m.msisdn for m in plan.messages] == ["447400123458"]


def test_row_limit_is_refused_up_front() -> None:
    """More rows than SMSBATCH_MAX_ROWS is refused naming the limit; exactly the limit is fine."""
    rows = "".join(f"4474001234{n:02d},Hi\n" for n in range(11))
    with pytest.raises(IntakeError, match=r"more than 10 rows.*SMSBATCH_MAX_ROWS"):
        _plan("msisdn,message\n" + rows, max_rows=10)
    assert _plan("msisdn,message\n" + rows, max_rows=11).rows == 11
    with pytest.raises(IntakeError, match="more than 10 rows"):
        _plan(rows, max_rows=10)  # headerless: every line is a row


def test_header_without_rows_is_refused() -> None:
    """A header and nothing else is not a batch."""
    with pytest.raises(IntakeError, match="no rows below it"):
        _plan("msisdn,message\n\n,\n")


def test_header_with_a_misplaced_quote_is_refused() -> None:
    """A header that cannot be read stops the intake with a reason."""
    with pytest.raises(IntakeError, match="first line"):
        _plan('"msisdn"x,message\n447400123456,Hi\n')


@given(st.text(alphabet=st.sampled_from(list('ab,"\r\n\u2028\x85')), max_size=60))
def test_physical_lines_split_like_the_csv_module_expects(text: str) -> None:
    """Lines are cut at LF, CRLF and CR only, endings kept, as io.StringIO(newline='') does."""
    assert list(physical_lines(text)) == list(io.StringIO(text, newline=""))


@given(st.text(alphabet=st.sampled_from(list('ab,"\r\n')), max_size=80))
def test_lines_split_a_slice_at_a_time_are_the_same_lines(text: str) -> None:
    """Text is split a slice at a time (`_SLICE` characters); a slice boundary never cuts a
    line or a CRLF in two. Small slices here, so that every text crosses several."""
    size = csvread._SLICE
    csvread._SLICE = 3
    try:
        assert list(physical_lines(text)) == list(io.StringIO(text, newline=""))
    finally:
        csvread._SLICE = size
