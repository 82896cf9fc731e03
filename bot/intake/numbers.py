"""Phone numbers as people and spreadsheets write them, normalised to the EAPI's msisdn.

The msisdn is `format_number(n, E164)[1:]`: international digits without `+`, never built by
concatenating the country code and national number (Italian numbers would lose their leading 0).

A cell is cleaned of what spreadsheets add (`'` or `="…"` to force text, a float's `.0`, NBSP),
then parsed with phonenumbers in the default region. Scientific notation is refused: its digits
are already lost. A digits-only cell with no trunk prefix (`0`) may be read two ways, as a
national number of the default region and as `+digits`; when both are valid numbers and differ,
the row is flagged and the rule is: the reading that is a mobile number when only one is (we
are sending SMS); else international when the digits start with the default region's calling
code; else national (a spreadsheet that drops a national number's leading 0 keeps the rest;
someone who types the country code means it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumberFormat,
    PhoneNumberType,
    phonenumberutil,
)
from phonenumbers import ValidationResult as Possible

_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
_FLOAT_ZERO = re.compile(r"(\+?\d+)[.,]0+")
_DIGITS = re.compile(r"\d+")
_LETTERS = re.compile(r"[^\W\d_]")
_SEPARATORS = str.maketrans("", "", " \u00a0\u202f\u2007\t-./()")
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
# Ofcom reserves +44 7700 900000-900999 for drama and testing; libphonenumber calls them invalid,
# but they are what people put in sample files, so they are accepted and flagged.
# phonenumbers refuses a national number longer than this (TOO_LONG) before reading it.
_MAX_NATIONAL = 17
_DRAMA = re.compile(r"\+447700900\d{3}")
DRAMA_FLAG = "Ofcom's drama/test range: no phone will receive it"

# phonenumbers' own type lookup for known metadata (private; absent -> the public calls).
_TYPE_HELPER = getattr(phonenumberutil, "_number_type_helper", None)

SCIENTIFIC_REASON = (
    "Excel turned this number into scientific notation; its digits are lost — format the "
    "column as Text and export again"
)


@dataclass(frozen=True, slots=True)
class Number:
    """A valid destination: EAPI msisdn digits, its region, and warnings for a person."""

    msisdn: str
    country: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BadNumber:
    """A cell that is not a number we can send to, with the reason in words."""

    reason: str


@cache
def _enable_cache() -> None:
    """Keep phonenumbers' compiled patterns: ~10x faster on varied countries (research 3.1)."""
    phonenumbers.enable_pattern_cache()


def clean_cell(raw: str) -> str:
    """The cell without spreadsheet wrappers (`'…`, `="…"`), NBSP, full-width digits, `.0`."""
    # NFKC leaves ASCII as it is; most cells are ASCII, so only the others pay for it.
    text = raw.strip() if raw.isascii() else unicodedata.normalize("NFKC", raw).strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1].strip()
    text = text.lstrip("'").strip()
    zero = _FLOAT_ZERO.fullmatch(text)
    return zero.group(1) if zero else text


def looks_like_number(raw: str) -> bool:
    """True when a cell looks like a phone number (used to tell a data row from a header)."""
    text = clean_cell(raw)
    if _SCIENTIFIC.fullmatch(text):
        return True
    bare = text.removeprefix("+").translate(_SEPARATORS)
    return len(bare) >= 6 and bare.isdigit()


def parse_number(raw: str, default_region: str) -> Number | BadNumber:
    """Normalise one cell to a `Number`, or say why it cannot be sent to."""
    _enable_cache()
    text = clean_cell(raw)
    if not text:
        return BadNumber("the number is empty")
    bare = text.translate(_SEPARATORS)
    # Digits with separators (most cells) can be neither scientific notation nor hold letters:
    # the two regexes are for the other cells.
    plain = bare.removeprefix("+").isdigit()
    if not plain and _SCIENTIFIC.fullmatch(text):
        return BadNumber(SCIENTIFIC_REASON)
    if bare.isdigit() and bare.isascii() and _only_international(bare, default_region):
        international = _valid_international(bare)
        if international is not None:
            return international
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        return BadNumber(_parse_failure(exc))
    if number.extension:
        return BadNumber(f"has an extension ({number.extension}); an SMS cannot reach one")
    if not plain and _LETTERS.search(text.removeprefix("tel:")):
        return BadNumber("contains letters; write the number in digits")
    kind, region = _typed(number)
    flags: list[str] = []
    if _could_be_ambiguous(bare, number):
        number, kind, region, flag = _resolve_ambiguous(bare, number, kind, region, default_region)
        flags += [flag] if flag else []
    if kind == PhoneNumberType.UNKNOWN:
        drama = _drama_number(number, bare)
        if drama is None:
            return BadNumber(_invalid_reason(number, default_region))
        return Number(msisdn=drama, country="GB", flags=(*flags, DRAMA_FLAG))
    if kind not in _MOBILE_TYPES:
        flags.append("not a mobile number; it may not receive SMS")
    msisdn = phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
    return Number(msisdn=msisdn, country=region or default_region, flags=tuple(flags))


def _only_international(bare: str, region: str) -> bool:
    """True when digits-only input cannot be a valid national number of `region`.

    Then its national reading can only end as the `+digits` reading does (`_resolve_ambiguous`
    picks the valid one), so when that is valid the national parse is skipped: a fifth of a
    typical file's cells are other countries' numbers without `+`. Conservative by construction:
    parsing the digits in `region` would keep them whole as the national number (no trunk or
    international prefix, nor the region's calling code, at their start) and no region of that
    calling code has a number of their length. test_intake_numbers holds it against the full path.
    """
    if bare.startswith("0") or len(bare) > _MAX_NATIONAL:
        return False
    rules = _national_rules(region)
    return (
        rules is not None
        and len(bare) not in rules.lengths
        and not bare.startswith(rules.calling_code)
        and not any(prefix.match(bare) for prefix in rules.prefixes)
    )


@dataclass(frozen=True, slots=True)
class _NationalRules:
    calling_code: str
    lengths: frozenset[int]  # every possible national length in the calling code's regions
    prefixes: tuple[re.Pattern[str], ...]  # international and trunk prefixes phonenumbers strips


@cache
def _national_rules(region: str) -> _NationalRules | None:
    """What `_only_international` needs of a region, or None when it cannot be sure."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code is None:
        return None
    lengths: set[int] = set()
    for member in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, ()):
        member_data = PhoneMetadata.metadata_for_region_or_calling_code(
            metadata.country_code, member
        )
        general = None if member_data is None else member_data.general_desc
        possible = None if general is None else general.possible_length
        if not possible:  # phonenumbers then matches the pattern alone: length says nothing
            return None
        lengths.update(possible)
    patterns = (metadata.international_prefix, metadata.national_prefix_for_parsing)
    prefixes = tuple(re.compile(pattern) for pattern in patterns if pattern)
    return _NationalRules(str(metadata.country_code), frozenset(lengths), prefixes)


def _valid_international(digits: str) -> Number | None:
    """`+digits` as a Number when that is a valid number (else None: take the full path)."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return None
    kind, region = _typed(number)
    if kind == PhoneNumberType.UNKNOWN or region is None:
        return None
    flags = () if kind in _MOBILE_TYPES else ("not a mobile number; it may not receive SMS",)
    msisdn = phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
    return Number(msisdn=msisdn, country=region, flags=flags)


def _could_be_ambiguous(bare: str, national: phonenumbers.PhoneNumber) -> bool:
    """True when digits-only input might also be read as `+digits` differently.

    When the national reading already is `+digits` (phonenumbers took the default region's
    calling code off the front), the international reading is the same number: no second parse.
    """
    if not _DIGITS.fullmatch(bare) or bare.startswith("0"):
        return False
    country = str(national.country_code)
    national_digits = phonenumbers.national_significant_number(national)
    return not (bare.startswith(country) and bare[len(country) :] == national_digits)


def _drama_number(number: phonenumbers.PhoneNumber, bare: str) -> str | None:
    """The msisdn when the number (or its digits read as international) is in the drama range."""
    for candidate in (phonenumbers.format_number(number, PhoneNumberFormat.E164), "+" + bare):
        if _DRAMA.fullmatch(candidate):
            return candidate[1:]
    return None


def _typed(number: phonenumbers.PhoneNumber) -> tuple[int, str | None]:
    """The number's type (UNKNOWN exactly when it is not valid) and its region, found once.

    `is_valid_number` is `number_type(...) != UNKNOWN` underneath, and `number_type` first
    finds the region, the costly part for shared calling codes (+1, +44, +7). This does what
    `number_type` does but keeps the region (test_numbers holds both against the public API);
    without phonenumbers' helper it falls back to the two public calls.
    """
    region: str | None = phonenumbers.region_code_for_number(number)
    if _TYPE_HELPER is None:
        return int(phonenumbers.number_type(number)), region
    if region is None or number.country_code is None:  # no metadata: not a valid number
        return PhoneNumberType.UNKNOWN, None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(number.country_code, region)
    if metadata is None:
        return PhoneNumberType.UNKNOWN, region
    national = phonenumbers.national_significant_number(number)
    return int(_TYPE_HELPER(national, metadata)), region


def _resolve_ambiguous(
    digits: str,
    national: phonenumbers.PhoneNumber,
    national_kind: int,
    national_region: str | None,
    region: str,
) -> tuple[phonenumbers.PhoneNumber, int, str | None, str | None]:
    """Pick national or international for digits-only input valid both ways (module doc)."""
    try:
        international = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return national, national_kind, national_region, None
    intl_kind, intl_region = _typed(international)
    if intl_kind == PhoneNumberType.UNKNOWN or international == national:
        return national, national_kind, national_region, None
    if national_kind == PhoneNumberType.UNKNOWN:
        return international, intl_kind, intl_region, None
    intl_mobile, national_mobile = intl_kind in _MOBILE_TYPES, national_kind in _MOBILE_TYPES
    if intl_mobile != national_mobile:
        prefer_intl = intl_mobile
    else:
        prefer_intl = digits.startswith(str(phonenumbers.country_code_for_region(region)))
    as_intl = phonenumbers.format_number(international, PhoneNumberFormat.E164)
    as_national = phonenumbers.format_number(national, PhoneNumberFormat.E164)
    used, other = (as_intl, as_national) if prefer_intl else (as_national, as_intl)
    flag = f"ambiguous number: read as {used}, but it is also valid as {other}"
    if prefer_intl:
        return international, intl_kind, intl_region, flag
    return national, national_kind, national_region, flag


def _parse_failure(exc: NumberParseException) -> str:
    kind = exc.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        return "not a phone number: unknown country code"
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return "too short to be a phone number"
    if kind == NumberParseException.TOO_LONG:
        return "too long to be a phone number"
    return "not a phone number"


def _invalid_reason(number: phonenumbers.PhoneNumber, default_region: str) -> str:
    region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    where = default_region if region in ("ZZ", None) else region
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == Possible.INVALID_COUNTRY_CODE:
        return f"unknown country code +{number.country_code}"
    if possible in (Possible.TOO_SHORT, Possible.INVALID_LENGTH):
        detail = "too short" if possible == Possible.TOO_SHORT else "wrong length"
        return f"{detail} for a number in {where}"
    if possible == Possible.IS_POSSIBLE_LOCAL_ONLY:
        return f"too short for a number in {where} (is the area code missing?)"
    if possible == Possible.TOO_LONG:
        return f"too long for a number in {where}"
    return f"not a valid number for {where}"
