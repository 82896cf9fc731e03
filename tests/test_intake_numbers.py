"""Phone numbers as people and spreadsheets write them become EAPI msisdns, or clear reasons."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from bot.intake import numbers
from bot.intake.numbers import (
    DRAMA_FLAG,
    SCIENTIFIC_REASON,
    BadNumber,
    Number,
    _only_international,
    looks_like_number,
    parse_number,
)


@pytest.mark.parametrize(
    ("raw", "region", "msisdn", "country"),
    [
        ("07400 123456", "GB", "447400123456", "GB"),
        ("+44 7400 123456", "GB", "447400123456", "GB"),
        ("0044 7400 123456", "GB", "447400123456", "GB"),
        ("+44 (0) 7400 123456", "GB", "447400123456", "GB"),
        ("447400123456", "GB", "447400123456", "GB"),
        ("7400123456", "GB", "447400123456", "GB"),  # Excel dropped the leading 0
        ("447400123456.0", "GB", "447400123456", "GB"),  # a float's .0
        ("  07400-123-456  ", "GB", "447400123456", "GB"),
        ("07400\u00a0123456", "GB", "447400123456", "GB"),  # NBSP
        ("'07400123456", "GB", "447400123456", "GB"),  # Excel's text marker
        ('="07400123456"', "GB", "447400123456", "GB"),  # Excel's formula trick
        ("０７４００１２３４５６", "GB", "447400123456", "GB"),  # full-width digits
        ("tel:+44-7400-123456", "GB", "447400123456", "GB"),
        ("+39 06 1234 5678", "GB", "390612345678", "IT"),  # keeps Italy's leading 0
        ("+33 6 12 34 56 78", "GB", "33612345678", "FR"),
        ("01512 3456789", "DE", "4915123456789", "DE"),
        ("+447911123456", "GB", "447911123456", "GG"),  # +44 7911 is Guernsey
    ],
)
def test_numbers_are_normalised_to_international_digits(
    raw: str, region: str, msisdn: str, country: str
) -> None:
    """Every common way of writing a number gives the EAPI's digits-only msisdn and region."""
    result = parse_number(raw, region)
    assert isinstance(result, Number)
    assert (result.msisdn, result.country) == (msisdn, country)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("4.47401E+11", SCIENTIFIC_REASON),
        ("4,47401E+11", SCIENTIFIC_REASON),
        ("", "the number is empty"),
        ("   ", "the number is empty"),
        ("07400 123456 ext 5", "has an extension (5); an SMS cannot reach one"),
        ("07400123456#22", "has an extension (22); an SMS cannot reach one"),
        ("0800 FLOWERS", "contains letters; write the number in digits"),
        ("n/a", "not a phone number"),
        ("12345", "too short for a number in GB (is the area code missing?)"),
        ("+44 74", "too short for a number in GB"),
        ("07700 901001", "not a valid number for GB"),  # beside the drama range, unassigned
        ("+999 1234567", "not a phone number: unknown country code"),
        ("+44 7400 1234567890", "too long for a number in GB"),
    ],
)
def test_unusable_numbers_say_why(raw: str, reason: str) -> None:
    """A cell that cannot be sent to is refused with a reason a person can act on."""
    assert parse_number(raw, "GB") == BadNumber(reason)


def test_scientific_notation_reason_tells_what_to_do() -> None:
    """The Excel-notation reason names the loss and the fix."""
    assert "digits are lost" in SCIENTIFIC_REASON
    assert "format the column as Text" in SCIENTIFIC_REASON


def test_ambiguous_digits_prefer_the_mobile_reading() -> None:
    """12 digits starting 44 in a DE file: the GB mobile wins over a DE landline, flagged."""
    result = parse_number("447400123456", "DE")
    assert isinstance(result, Number)
    assert result.msisdn == "447400123456"
    assert result.flags == (
        "ambiguous number: read as +447400123456, but it is also valid as +49447400123456",
    )


def test_ambiguous_digits_with_own_country_code_read_as_international() -> None:
    """Digits starting with the default country's code are read as international, flagged."""
    result = parse_number("4915112345678", "DE")
    assert isinstance(result, Number)
    assert result.msisdn == "4915112345678"
    assert result.flags[0].startswith("ambiguous number: read as +4915112345678")


def test_ambiguous_digits_without_own_country_code_read_as_national() -> None:
    """A US 10-digit number that is also a valid Egyptian one stays national, flagged."""
    result = parse_number("2015550123", "US")
    assert isinstance(result, Number)
    assert result.msisdn == "12015550123"
    assert "also valid as +2015550123" in result.flags[0]


def test_a_trunk_prefix_is_never_ambiguous() -> None:
    """A number written with its national 0 is read nationally, with no flag."""
    assert parse_number("07400 123456", "GB") == Number("447400123456", "GB", ())


def test_landlines_are_flagged() -> None:
    """A fixed-line number is kept, but flagged: it may not receive SMS."""
    result = parse_number("020 7946 0000", "GB")
    assert isinstance(result, Number)
    assert result.flags == ("not a mobile number; it may not receive SMS",)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("447400123456", True),
        ("+44 7400 123456", True),
        ("07400-123456", True),
        ("4.47401E+11", True),
        ("447400123456.0", True),
        ("msisdn", False),
        ("Phone Number", False),
        ("123", False),
        ("", False),
    ],
)
def test_looks_like_number_tells_data_from_headers(cell: str, expected: bool) -> None:
    """Header detection: a phone-like first cell means the file starts with data."""
    assert looks_like_number(cell) is expected


@pytest.mark.parametrize(
    "raw",
    [
        "+447400123456",
        "+442079460000",
        "+447700900123",
        "+4412345",
        "+12015550123",
        "+12015550100",
        "+15555555555",
        "+390612345678",
        "+8001234",
        "+77001234567",
        "+861381234567",
        "+8613812345678",
    ],
)
def test_number_type_unknown_means_invalid(raw: str) -> None:
    """The shortcut the parser relies on: number_type is UNKNOWN exactly for invalid numbers."""
    number = phonenumbers.parse(raw, None)
    valid = phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.UNKNOWN
    assert valid == phonenumbers.is_valid_number(number)


@pytest.mark.parametrize(
    "raw",
    ["447700900001", "+44 7700 900123", "07700 900999", "447700900001.0", "'07700900042"],
)
def test_ofcom_drama_range_is_accepted_and_flagged(raw: str) -> None:
    """Ofcom's 07700 900xxx test numbers (invalid to libphonenumber) are sendable but flagged."""
    result = parse_number(raw, "GB")
    assert isinstance(result, Number)
    assert result.msisdn.startswith("447700900")
    assert len(result.msisdn) == 12
    assert result.country == "GB"
    assert DRAMA_FLAG in result.flags


def test_just_outside_the_drama_range_is_still_rejected() -> None:
    """Only the reserved thousand numbers are let through; a neighbour stays invalid."""
    assert isinstance(parse_number("447700901001", "GB"), BadNumber)


@pytest.mark.parametrize(
    "raw",
    [
        "+447400123456",
        "+441481123456",
        "+12025550123",
        "+14165550123",
        "+79123456789",
        "+77001234567",
        "+390612345678",
        "+80012345678",
        "+4412345",
        "+882345678901",
    ],
)
def test_type_and_region_match_the_public_api(raw: str) -> None:
    """The one-pass type-and-region lookup agrees with number_type and region_code_for_number."""
    from bot.intake.numbers import _typed

    number = phonenumbers.parse(raw, None)
    expected = (phonenumbers.number_type(number), phonenumbers.region_code_for_number(number))
    assert _typed(number) == expected


def _digits_cases() -> list[tuple[str, str]]:
    """Digits-only cells, each country's numbers written without `+`, read in many regions."""
    rng = random.Random(14)
    samples = ["33612345678", "4915123456789", "12015550123", "390612345678", "61412345678"]
    for _ in range(400):
        samples.append(
            str(rng.randrange(1, 10)) + "".join(rng.choices("0123456789", k=rng.randrange(4, 17)))
        )
    regions = ("GB", "US", "DE", "FR", "IT", "RU", "AU", "IN", "BR", "JP", "CN", "ZA", "GG")
    return [(digits, region) for digits in samples for region in regions]


def test_the_international_shortcut_agrees_with_the_full_path() -> None:
    """Digits that cannot be a national number skip the national parse and get the same result.

    The full path parses in the region first and reads `+digits` only when that may differ; the
    shortcut must never change an answer, whatever the digits and the default region.
    """
    shortcuts = 0
    for digits, region in _digits_cases():
        full = _full_path(digits, region)
        assert parse_number(digits, region) == full, (digits, region)
        shortcuts += _only_international(digits, region) and isinstance(full, Number)
    assert shortcuts > 100  # the shortcut was taken, so the comparison means something


def _full_path(digits: str, region: str) -> Number | BadNumber:
    """`parse_number` with the shortcut turned off."""
    shortcut = numbers._only_international
    numbers._only_international = lambda bare, region: False
    try:
        return parse_number(digits, region)
    finally:
        numbers._only_international = shortcut
