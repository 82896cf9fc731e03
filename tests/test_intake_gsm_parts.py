"""SMS parts as carriers count them: hand-worked boundary cases, and properties of the counter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.intake.gsm import (
    EAPI_7BIT,
    GREEK_TO_LATIN1,
    GSM_EXTENSION,
    count_parts,
    eapi_7bit_form,
    first_non_7bit,
    septets,
    utf16_units,
)
from bot.model import Dca

S, U = Dca.SEVEN_BIT, Dca.SIXTEEN_BIT
EMOJI = "😀"  # U+1F600: a surrogate pair, 2 UTF-16 units
FLAG = "🇬🇧"  # two regional indicators: 4 UTF-16 units

# (text, expected dca, expected parts, how the parts were worked out by hand)
CASES = [
    ("", S, 1, "an empty SMS is still one SMS"),
    ("a", S, 1, "1 septet"),
    ("a" * 160, S, 1, "exactly one full part"),
    ("a" * 161, S, 2, "one over: 153 + 8"),
    ("a" * 306, S, 2, "153 * 2"),
    ("a" * 307, S, 3, "153 * 2 + 1"),
    ("a" * 459, S, 3, "153 * 3"),
    ("a" * 460, S, 4, "153 * 3 + 1"),
    ("a" * 612, S, 4, "153 * 4"),
    ("{" * 80, S, 1, "80 extension chars = 160 septets"),
    ("{" * 80 + "a", S, 2, "161 septets"),
    ("a" * 158 + "{", S, 1, "158 + 2 = 160 septets"),
    ("a" * 159 + "{", S, 2, "159 + 2 = 161 septets"),
    ("a" * 152 + "{" + "a" * 152, S, 3, "'{' cannot start at septet 153: 152 | 2+151 | 1"),
    ("a" * 151 + "{" + "a" * 153, S, 2, "151+2 = 153 | 153"),
    ("a" * 152 + "{" + "a" * 151, S, 2, "152 | 2+151 = 153 (one septet wasted)"),
    ("a" * 152 + "{" + "a" * 152 + "{", S, 3, "152 | 2+151 | 1+2"),
    ("a" * 153 + "{" * 4, S, 2, "153 | 8"),
    ("a" * 305 + "{", S, 3, "153 | 152, '{' does not fit | 2"),
    ("{" * 81, S, 2, "76 pairs (152 septets) a part: 76 | 5"),
    ("{" * 152, S, 2, "76 | 76"),
    ("{" * 153, S, 3, "76 | 76 | 1"),
    ("^~[]|\\" * 13 + "a" * 4, S, 1, "13 * 6 pairs = 156 septets, + 4 = 160"),
    ("^~[]|\\" * 13 + "a" * 5, S, 2, "161 septets: 76 pairs (152) | 2 pairs + 5"),
    ("ΔΦΓΛΩΠΨΣΘΞ" * 16, S, 1, "Greek capitals are one septet each: 160"),
    ("ΔΦΓΛΩΠΨΣΘΞ" * 16 + "Ξ", S, 2, "161 Greek capitals"),
    ("Ünïcode", U, 1, "'ï' is not GSM: 16-bit"),
    ("€", U, 1, "'€' cannot travel in ISO-8859-1: 16-bit"),
    ("€" * 70, U, 1, "70 units"),
    ("€" * 71, U, 2, "67 + 4"),
    ("ç" * 70, U, 1, "lower-case ç is not GSM (only Ç): 70 units"),
    ("ç" * 71, U, 2, "67 + 4"),
    ("ç" * 134, U, 2, "67 * 2"),
    ("ç" * 135, U, 3, "67 * 2 + 1"),
    ("ç" * 201, U, 3, "67 * 3"),
    ("ç" * 202, U, 4, "67 * 3 + 1"),
    (EMOJI * 35, U, 1, "70 units"),
    (EMOJI * 36, U, 2, "33 pairs (66 units) a part: 33 | 3"),
    ("x" * 66 + EMOJI + "x" * 66, U, 3, "pair cannot start at unit 67: 66 | 2+65 | 1"),
    ("x" * 65 + EMOJI + "x" * 67, U, 2, "65+2 = 67 | 67"),
    ("x" * 68 + EMOJI, U, 1, "70 units"),
    ("x" * 69 + EMOJI, U, 2, "71 units: 67 | 4, pair kept whole"),
    ("ë" + "a" * 69, U, 1, "70 units"),
    ("ë" + "a" * 70, U, 2, "71 units"),
    ("a" * 159 + "ë", U, 3, "one 'ë' makes 160 characters 16-bit: 67 | 67 | 26"),
    ("ë" + "{" * 69, U, 1, "in 16-bit an extension char is one unit: 70"),
    (FLAG * 17, U, 1, "17 flags = 68 units"),
    (FLAG * 18, U, 2, "72 units"),
    ("Ð", U, 1, "Latin-1 'Ð' would arrive as Greek Δ: 16-bit"),
    ("\f", U, 1, "form feed is not in BulkSMS's 7-bit form"),
    ("`", U, 1, "backtick is not GSM"),
    ("it’s", U, 1, "a curly quote is not GSM"),
    ("αβγ", U, 1, "Greek lower case is not GSM"),
    ("Hello\nWorld", S, 1, "LF is GSM"),
    ("£¥èéùìòÇØøÅåÆæßÉ¡ÄÖÑÜ§¿äöñüà", S, 1, "the Latin-1 letters of GSM"),
]


@pytest.mark.parametrize(("text", "dca", "parts", "why"), CASES, ids=[c[3] for c in CASES])
def test_count_parts_boundaries(text: str, dca: Dca, parts: int, why: str) -> None:
    """Each hand-worked case gets the encoding and the number of parts a carrier bills."""
    assert count_parts(text) == (dca, parts), why


def test_there_are_at_least_forty_hand_worked_cases() -> None:
    """The boundary table keeps its breadth (the brief asks for at least 40 cases)."""
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("abc", 3), ("{", 2), ("a{b}", 6), ("Δ", 1), ("€", 2), ("^{}\\[~]|", 16)],
)
def test_septets_counts_extension_characters_twice(text: str, expected: int) -> None:
    """Extension characters take an escape and a code: two septets each."""
    assert septets(text) == expected


def test_utf16_units_counts_a_surrogate_pair_as_two() -> None:
    """Characters outside the BMP take two UTF-16 code units."""
    assert utf16_units("a" + EMOJI + "é") == 4
    assert utf16_units(FLAG) == 4


_SEVEN_BIT_CHARS = sorted(EAPI_7BIT)


@given(st.text(alphabet=_SEVEN_BIT_CHARS, max_size=700))
def test_seven_bit_parts_are_tight(text: str) -> None:
    """A 7-bit message never needs more parts than its septets require, plus pair waste."""
    dca, parts = count_parts(text)
    assert dca is S
    size = septets(text)
    if size <= 160:
        assert parts == 1
    else:
        # Each part holds at most 153 septets, and loses at most one to a kept-whole pair.
        assert (parts - 1) * 152 < size <= parts * 153


@given(st.text(min_size=1, max_size=400).filter(lambda t: not EAPI_7BIT.issuperset(t)))
def test_sixteen_bit_parts_are_tight(text: str) -> None:
    """A 16-bit message's parts fit its UTF-16 units, losing at most one unit a part."""
    dca, parts = count_parts(text)
    assert dca is U
    size = utf16_units(text)
    if size <= 70:
        assert parts == 1
    else:
        assert (parts - 1) * 66 < size <= parts * 67


@given(st.text(alphabet=[*_SEVEN_BIT_CHARS, "é", "€", EMOJI, "Ð"], max_size=200))
def test_seven_bit_text_round_trips_through_the_eapi_form(text: str) -> None:
    """Whatever counts as 7-bit survives ISO-8859-1 encoding and BulkSMS's Greek mapping."""
    if count_parts(text)[0] is not S:
        return
    wire = eapi_7bit_form(text).encode("iso-8859-1")
    back = {v: k for k, v in GREEK_TO_LATIN1.items()}
    assert "".join(back.get(c, c) for c in wire.decode("latin-1")) == text


def test_extension_table_is_what_costs_two_septets() -> None:
    """Exactly the extension characters that can travel as 7-bit cost two septets."""
    assert {c for c in _SEVEN_BIT_CHARS if septets(c) == 2} == GSM_EXTENSION - {"\f", "€"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a\tb", "U+0009 (tab) is not in the GSM 7-bit alphabet"),
        ("a\u00a0b", "U+00A0 (no-break space) is not in the GSM 7-bit alphabet"),
        ("a\u200bb", "U+200B (zero width space) is not in the GSM 7-bit alphabet"),
        ("ç", "'ç' (U+00E7) is not in the GSM 7-bit alphabet"),
        ("€", "'€' (U+20AC) cannot travel in the EAPI's ISO-8859-1 7-bit form"),
        ("Ê", "'Ê' (U+00CA) would arrive as a Greek letter in BulkSMS's 7-bit form"),
    ],
)
def test_the_reason_for_16bit_names_an_invisible_character_instead_of_showing_it(
    text: str, words: str
) -> None:
    """A person reading the preview can tell which character it was, even a tab or NBSP."""
    forced = first_non_7bit(text)
    assert forced is not None and forced.reason == words
    assert forced.reason.isprintable()
