"""Rows to messages: texts, parts, duplicates, per-row columns, chunks, cost and send options."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import settings_from_env
from bot.errors import ConfigError
from bot.intake.plan import (
    IntakeLimits,
    _drop_duplicates,
    _flag_same_number,
    plan_text,
    validate_options,
)
from bot.intake.pricing import PriceTable
from bot.model import BatchPlan, Dca, Message, SendOptions

A, B, C = "447400123456", "447400123457", "447400123458"


def _plan(
    text: str,
    options: SendOptions | None = None,
    prices: PriceTable | None = None,
    **limits: int,
) -> BatchPlan:
    return plan_text(
        text,
        options or SendOptions(),
        IntakeLimits(**limits),  # type: ignore[arg-type]
        prices or PriceTable(),
    )


def test_text_goes_out_as_written_except_line_endings() -> None:
    """No trimming, no Unicode normalisation; CRLF and CR inside a message become LF."""
    decomposed = "Zoe\u0308"  # e + combining diaeresis: kept, not composed to ë
    plan = _plan(f'msisdn,message\n{A},"Hi\r\nthere\rnow  "\n{B},{decomposed}\n')
    assert [m.text for m in plan.messages] == ["Hi\nthere\nnow  ", decomposed]


def test_encoding_is_decided_per_message_and_names_the_character() -> None:
    """A 7-bit and a 16-bit message in one file; the 16-bit one says which character did it."""
    plan = _plan(f"msisdn,message\n{A},Price: 5 EUR\n{B},Price: 5 €\n")
    seven, sixteen = plan.messages
    assert (seven.dca, seven.encoding_reason) == (Dca.SEVEN_BIT, None)
    assert sixteen.dca is Dca.SIXTEEN_BIT
    assert sixteen.encoding_reason is not None
    assert sixteen.encoding_reason.startswith("character 10: '€' (U+20AC)")


def test_latin1_letters_shown_as_greek_force_16bit() -> None:
    """'Ê' would arrive as 'Σ' in BulkSMS's 7-bit form, so the message goes 16-bit."""
    plan = _plan(f"msisdn,message\n{A},CRÊPES\n")
    assert plan.messages[0].dca is Dca.SIXTEEN_BIT
    assert "Greek" in (plan.messages[0].encoding_reason or "")


def test_parts_are_counted_and_over_the_limit_is_rejected_not_truncated() -> None:
    """459 septets fit 3 parts; 460 need 4 and the row is rejected naming parts and limit."""
    plan = _plan(f"msisdn,message\n{A},{'a' * 459}\n{B},{'a' * 460}\n")
    assert [(m.msisdn, m.parts, len(m.text)) for m in plan.messages] == [(A, 3, 459)]
    rejected = plan.rejected[0]
    assert (rejected.line, rejected.column) == (3, "message")
    assert "needs 4 SMS parts (460 7-bit characters)" in rejected.reason
    assert "the limit is 3 (SMSBATCH_MAX_PARTS)" in rejected.reason


def test_a_16bit_message_over_the_limit_says_why_it_is_16bit() -> None:
    """The rejection of a long Unicode message names the character that made it 16-bit."""
    plan = _plan(f"msisdn,message\n{A},{'a' * 80}ë\n", max_parts=1)
    assert "81 16-bit characters" in plan.rejected[0].reason
    assert "because of character 81: 'ë'" in plan.rejected[0].reason


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ('""', "message is empty"),
        ("'   '", "message is empty"),
        ("#NAME?", "spreadsheet error #NAME?"),
        ("a\x0bb", "character 2 is the control character U+000B"),
        ("bell\x07", "character 5 is the control character U+0007"),
    ],
)
def test_unsendable_texts_are_rejected(cell: str, reason: str) -> None:
    """Empty texts, spreadsheet errors and invisible control characters reject the row."""
    cell = cell.replace("'", '"')
    plan = _plan(f"msisdn,message\n{A},{cell}\n")
    assert plan.messages == ()
    assert reason in plan.rejected[0].reason


def test_lone_surrogates_in_pasted_text_are_rejected() -> None:
    """Text that cannot be encoded as UTF-16 is a rejected row, not a crash at send time."""
    plan = _plan(f"msisdn,message\n{A},bad \ud800 text\n")
    assert "U+D800" in plan.rejected[0].reason


def test_bad_numbers_are_rejected_with_the_users_header() -> None:
    """The rejected row names the column as the user wrote it, and keeps the raw value."""
    plan = _plan("Mobile,Text\n4.47401E+11,Hi\n")
    rejected = plan.rejected[0]
    assert (rejected.line, rejected.column, rejected.value) == (2, "Mobile", "4.47401E+11")
    assert "scientific notation" in rejected.reason


def test_exact_duplicates_are_dropped_and_name_the_first() -> None:
    """Same number and text: sent once; the later rows say which line they repeat."""
    plan = _plan(f"msisdn,message\n{A},Hi\n07400 123456,Hi\n{A},Hi\n{B},Hi\n")
    assert [m.line for m in plan.messages] == [2, 5]
    assert [(d.line, d.first_line, d.msisdn) for d in plan.duplicates] == [
        (3, 2, A),
        (4, 2, A),
    ]


def test_same_number_different_texts_are_kept_and_flagged_both_ways() -> None:
    """Both rows are sent; each is flagged naming the other's line."""
    plan = _plan(f"msisdn,message\n{A},First\n{B},Other\n{A},Second\n")
    first, other, second = plan.messages
    assert "different text on line(s) 4" in first.flags[-1]
    assert "different text on line(s) 2" in second.flags[-1]
    assert other.flags == ()


def test_every_row_is_accounted_for() -> None:
    """rows == messages + duplicates + rejected, whatever mixture the file holds."""
    plan = _plan(f"msisdn,message\n{A},Hi\n{A},Hi\nnope,Hi\n{B},\n{C},ok\n")
    assert plan.rows == 5
    assert len(plan.messages) + len(plan.duplicates) + len(plan.rejected) == plan.rows


def test_question_marks_inside_words_are_flagged() -> None:
    """'Zo?' is what Excel's plain CSV makes of 'Zoë': the preview warns."""
    plan = _plan(f"msisdn,message\n{A},Hi Zo? and Fran?ois\n{B},Really?\n")
    assert "save it as CSV UTF-8" in plan.messages[0].flags[0]
    assert plan.messages[1].flags == ()


def test_per_row_columns_are_checked_and_passed_through_in_column_order() -> None:
    """Valid overrides travel with the message; empty cells mean no override."""
    text = (
        "msisdn,message,source_id,Sender,routing group,msg_class,repliable\n"
        f"{A},Hi,acct-17,MyShop,1,0,0\n"
        f"{B},Hi,,,,,\n"
    )
    plan = _plan(text)
    assert plan.messages[0].overrides == (
        ("source_id", "acct-17"),
        ("sender", "MyShop"),
        ("routing_group", "1"),
        ("msg_class", "0"),
        ("repliable", "0"),
    )
    assert plan.messages[1].overrides == ()
    assert plan.columns[2:] == (
        ("source_id", "source_id"),
        ("sender", "Sender"),
        ("routing_group", "routing group"),
        ("msg_class", "msg_class"),
        ("repliable", "repliable"),
    )


@pytest.mark.parametrize(
    ("header", "cell", "reason"),
    [
        ("sender", "MyShopIsTooLong", "at most 11 letters and digits"),
        ("sender", "My Shop", "no spaces"),
        ("sender", "12345678901234567", "at most 16 digits"),
        ("routing_group", "4", "routing_group must be 1, 2 or 3"),
        ("msg_class", "1", "msg_class must be 0 (flash) or 2 (normal)"),
        ("source_id", "x" * 21, "the EAPI takes at most 20"),
        ("source_id", "naïve€", "printable ISO-8859-1"),
        ("repliable", "yes", "repliable must be 0 or 1"),
        ("dca", "8bit", "dca=8bit (binary messages) is not supported"),
        ("dca", "unicode", "dca must be 7bit or 16bit"),
    ],
)
def test_bad_per_row_values_reject_the_row(header: str, cell: str, reason: str) -> None:
    """Each per-row column rejects a value the EAPI would drop or truncate, naming it."""
    plan = _plan(f"msisdn,message,{header}\n{A},Hi,{cell}\n")
    assert plan.messages == ()
    rejected = plan.rejected[0]
    assert (rejected.column, rejected.value) == (header, cell)
    assert reason in rejected.reason


def test_long_numeric_sender_is_accepted() -> None:
    """A sender of up to 16 digits is a number, not an over-long alphanumeric id."""
    plan = _plan(f"msisdn,message,sender\n{A},Hi,4474001234567890\n")
    assert plan.messages[0].overrides == (("sender", "4474001234567890"),)


def test_repliable_cannot_go_with_a_sender() -> None:
    """repliable=1 with a sender on the row, or with the batch's sender, rejects the row."""
    text = f"msisdn,message,sender,repliable\n{A},Hi,MyShop,1\n{B},Hi,,1\n{C},Hi,MyShop,0\n"
    plan = _plan(text)
    assert [m.msisdn for m in plan.messages] == [B, C]
    assert "cannot go with a sender on the same row" in plan.rejected[0].reason
    plan = _plan(text, SendOptions(sender="Batch"))
    assert [m.msisdn for m in plan.messages] == [C]
    assert "the batch's sender 'Batch'" in plan.rejected[1].reason


def test_dca_column_is_a_check_never_an_instruction() -> None:
    """dca=7bit on an emoji text is rejected; 16bit on plain text lets the text decide."""
    text = f"msisdn,message,dca\n{A},Smile 😀,7bit\n{B},Plain text,16bit\n{C},00480069,16bit\n"
    plan = _plan(text)
    assert [(m.msisdn, m.dca, m.overrides) for m in plan.messages] == [(B, Dca.SEVEN_BIT, ())]
    assert "dca=7bit, but the text needs 16-bit: character 7" in plan.rejected[0].reason
    assert "already hex" in plan.rejected[1].reason
    assert any("dca column is only checked" in note for note in plan.notes)


def test_chunks_never_mix_encodings_and_respect_the_size() -> None:
    """7-bit chunks come first, then 16-bit, each in input order, at most chunk_size each."""
    rows = [f"4474001234{n:02d},{'ê' if n % 3 == 0 else 'e'} {n}" for n in range(10)]
    plan = _plan("msisdn,message\n" + "\n".join(rows) + "\n", chunk_size=3)
    layout = [(c.index, c.dca, c.lines) for c in plan.chunks]
    assert layout == [
        (0, Dca.SEVEN_BIT, (3, 4, 6)),
        (1, Dca.SEVEN_BIT, (7, 9, 10)),
        (2, Dca.SIXTEEN_BIT, (2, 5, 8)),
        (3, Dca.SIXTEEN_BIT, (11,)),
    ]
    assert sorted(n for c in plan.chunks for n in c.lines) == [m.line for m in plan.messages]


def test_cost_by_country_uses_prices_and_each_rows_routing_group(tmp_path: Path) -> None:
    """Credits = parts x price for the row's country and routing group (its own, else batch)."""
    prices_file = tmp_path / "prices.toml"
    prices_file.write_text(
        "default = 2\n[countries.GB]\ndefault = 1\nrouting_group_1 = 0.5\nrouting_group_3 = 1.5\n"
    )
    prices = PriceTable.load(prices_file)
    text = (
        "msisdn,message,routing_group\n"
        f"{A},{'a' * 200},\n"  # GB, 2 parts, batch group 1 -> 1.0
        f"{B},Hi,3\n"  # GB, 1 part, own group 3 -> 1.5
        "+33612345678,Salut,\n"  # FR, 1 part, default -> 2
    )
    plan = _plan(text, SendOptions(routing_group=1), prices)
    cost = {c.country: (c.messages, c.parts, c.credits) for c in plan.cost}
    assert cost == {"GB": (2, 3, Decimal("2.5")), "FR": (1, 1, Decimal(2))}
    assert plan.credits == Decimal("4.5")
    assert plan.parts == 4
    assert not any("1 credit a part" in note for note in plan.notes)


def test_default_prices_are_one_credit_a_part_and_say_so() -> None:
    """Without a table, credits equal parts and the notes say it is the built-in estimate."""
    plan = _plan(f"msisdn,message\n{A},{'a' * 161}\n{B},Hi\n")
    assert plan.credits == Decimal(3)
    assert any("1 credit a part" in note for note in plan.notes)


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        (SendOptions(), []),
        (SendOptions(sender="MyShop", routing_group=2), []),
        (SendOptions(sender="447400123456"), []),
        (SendOptions(sender="My Shop Ltd."), ["sender 'My Shop Ltd.' must be at most 11"]),
        (SendOptions(sender=" "), ["sender is empty"]),
        (SendOptions(routing_group=0), ["routing group must be 1, 2 or 3, got 0"]),
        (SendOptions(sender="x" * 12, routing_group=9), ["sender", "routing group"]),
    ],
)
def test_validate_options_lists_every_problem(options: SendOptions, problems: list[str]) -> None:
    """Batch options come from the UI: problems are returned as a list, never raised."""
    found = validate_options(options)
    assert len(found) == len(problems)
    for text, expected in zip(found, problems, strict=True):
        assert text.startswith(expected)


def test_limits_follow_the_settings_and_refuse_nonsense() -> None:
    """IntakeLimits mirrors the SMSBATCH_ settings; impossible limits are a ConfigError."""
    settings = settings_from_env({"SMSBATCH_MAX_PARTS": "5", "SMSBATCH_DEFAULT_COUNTRY": "de"})
    limits = IntakeLimits.from_settings(settings)
    assert (limits.max_parts, limits.default_country, limits.chunk_size) == (5, "DE", 4000)
    with pytest.raises(ConfigError, match="SMSBATCH_CHUNK_SIZE") as caught:
        IntakeLimits(chunk_size=30_001, default_country="XX")
    assert "SMSBATCH_DEFAULT_COUNTRY" in str(caught.value)


def test_national_numbers_use_the_default_country() -> None:
    """'01512 3456789' is a German mobile when the default country is DE."""
    plan = _plan("msisdn,message\n01512 3456789,Hallo\n", default_country="DE")  # type: ignore[arg-type]
    assert (plan.messages[0].msisdn, plan.messages[0].country) == ("4915123456789", "DE")


def test_a_code_on_its_own_line_is_a_message_not_a_swallowed_row() -> None:
    """Only a valid phone number and the delimiter make a later line look like another row."""
    code = f'msisdn,message\n{A},"Your code:\n482913, valid for 10 minutes"\n'
    plan = _plan(code)
    assert [m.text for m in plan.messages] == ["Your code:\n482913, valid for 10 minutes"]
    assert plan.rejected == ()
    swallowed = _plan(f'msisdn,message\n{A},"Hello\n{B},World"\n')
    assert "probably not closed" in swallowed.rejected[0].reason


def test_a_short_row_names_its_one_cell_in_good_english() -> None:
    """A row holding only the number says '1 cell', not '1 cells'."""
    plan = _plan(f"msisdn,message\n{A}\n{B},ok\n")
    assert plan.rejected[0].reason == "the message cell is missing: the row has only 1 cell"


def test_one_number_with_many_texts_is_flagged_in_linear_time() -> None:
    """40,000 rows to one number (a test batch to one's own phone) are flagged in well under 2 s.

    Each flag names at most five other lines, so looking at every other line of the number for
    every row (quadratic: ~30 s here, minutes at 100,000 rows) is never needed. The flagging
    step is timed alone: number parsing would otherwise dominate the measurement.
    """
    messages = [Message(n, A, f"Test {n}", Dca.SEVEN_BIT, 1, "GB") for n in range(2, 40_002)]
    started = time.perf_counter()
    kept, _, texts = _drop_duplicates(messages)
    flagged = _flag_same_number(kept, texts)
    assert time.perf_counter() - started < 2.0
    assert flagged[0].flags == (
        "this number also gets a different text on line(s) 3, 4, 5, 6, 7, …",
    )
    assert flagged[2].flags[-1].endswith("line(s) 2, 3, 5, 6, 7, …")
    pair = _flag_same_number(messages[:2], {A: 2})
    assert [m.flags[-1][-9:] for m in pair] == ["line(s) 3", "line(s) 2"]
