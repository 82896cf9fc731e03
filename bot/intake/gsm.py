"""The GSM 03.38 alphabet as the BulkSMS EAPI accepts it (7-bit text in an ISO-8859-1 form).

A message can go as 7-bit when every character is in GSM 03.38 *and* has an ISO-8859-1 form the
EAPI maps back to it: the Latin-1 characters themselves, and the Greek capitals, which BulkSMS
takes as spare Latin-1 bytes (`eapi-research.md` 1.8). Everything else makes the message 16-bit.

`count_parts` counts SMS parts as carriers do (`eapi-research.md` 2.2, 2.3): 160 septets in one
part or 153 per concatenated part, an escape pair (`{`, `[`, `~`, ...) never split across two parts;
70 UTF-16 code units in one part or 67 per part, a surrogate pair (emoji) never split.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from bot.model import Dca

# GSM 03.38 basic table, minus ESC; every one costs one septet.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: ESC + code, two septets each. Form feed and € are GSM too, but cannot
# travel in the EAPI's 7-bit form (no FF on BulkSMS's list; € is not ISO-8859-1).
GSM_EXTENSION = frozenset("^{}\\[~]|\f€")

# Greek capitals travel as these Latin-1 bytes (the official BulkSMS sample's table).
GREEK_TO_LATIN1 = {
    "Δ": "\xd0",
    "Φ": "\xde",
    "Γ": "\xac",
    "Λ": "\xc2",
    "Ω": "\xdb",
    "Π": "\xba",
    "Ψ": "\xdd",
    "Σ": "\xca",
    "Θ": "\xd4",
    "Ξ": "\xb1",
}
_GREEK = frozenset(GREEK_TO_LATIN1)
_GREEK_AS_LATIN1 = str.maketrans(GREEK_TO_LATIN1)
# The Latin-1 characters BulkSMS would show as Greek: never sent as 7-bit.
LATIN1_SHOWN_AS_GREEK = frozenset(GREEK_TO_LATIN1.values())

EAPI_7BIT = frozenset(
    c
    for c in (GSM_BASIC | GSM_EXTENSION)
    if c in GREEK_TO_LATIN1 or (ord(c) < 256 and c not in ("\f",))
)


# The same sets as regexes: a regex scans a text in C without hashing each character.
_NOT_7BIT = re.compile("[^" + re.escape("".join(sorted(EAPI_7BIT))) + "]")
_EXTENSION = re.compile("[" + re.escape("".join(sorted(GSM_EXTENSION))) + "]")


@dataclass(frozen=True, slots=True)
class Forced16Bit:
    """The first character that makes a message 16-bit, and why, in words for a person."""

    index: int
    char: str
    reason: str


def _why(char: str) -> str:
    # An invisible character (tab, no-break space, zero-width space) is named, not shown.
    code = f"U+{ord(char):04X}"
    name = f"'{char}' ({code})" if char.isprintable() else f"{code} ({_unicode_name(char)})"
    if char == "€":
        return f"{name} cannot travel in the EAPI's ISO-8859-1 7-bit form"
    if char in LATIN1_SHOWN_AS_GREEK:
        return f"{name} would arrive as a Greek letter in BulkSMS's 7-bit form"
    if char == "\f":
        return f"{name} is not accepted in BulkSMS's 7-bit form"
    return f"{name} is not in the GSM 7-bit alphabet"


def _unicode_name(char: str) -> str:
    named = {"\t": "tab", "\f": "form feed", "\v": "vertical tab"}
    return named.get(char) or unicodedata.name(char, "").lower() or "a control character"


def first_non_7bit(text: str) -> Forced16Bit | None:
    """The first character that forces 16-bit, or None when the text can go as 7-bit."""
    found = _NOT_7BIT.search(text)
    if found is None:
        return None
    return Forced16Bit(found.start(), found.group(), _why(found.group()))


def eapi_7bit_form(text: str) -> str:
    """The text as the EAPI wants 7-bit: Latin-1 characters, Greek capitals as their bytes.

    Raises ValueError when the text cannot go as 7-bit (see `first_non_7bit`).
    """
    forced = first_non_7bit(text)
    if forced is not None:
        raise ValueError(f"not 7-bit at character {forced.index + 1}: {forced.reason}")
    if _GREEK.isdisjoint(text):  # in C, as is translate: approving 30,000 texts holds the GIL
        return text
    return text.translate(_GREEK_AS_LATIN1)


def eapi_16bit_form(text: str) -> str:
    """The text as the EAPI wants 16-bit: hex of UTF-16BE code units, upper case."""
    return text.encode("utf-16-be").hex().upper()


# Carrier limits (eapi-research.md 2.2): a concatenated part loses room to its 6-octet header.
SEVEN_BIT_SINGLE = 160  # septets in a message that fits one SMS
SEVEN_BIT_PART = 153  # septets per part of a concatenated message
SIXTEEN_BIT_SINGLE = 70  # UTF-16 code units in a message that fits one SMS
SIXTEEN_BIT_PART = 67  # UTF-16 code units per part of a concatenated message


def septets(text: str) -> int:
    """The 7-bit length of the text: extension characters count 2, every other character 1.

    Meaningful for text that can go as 7-bit (see `first_non_7bit`).
    """
    return len(text) + len(_EXTENSION.findall(text))  # one pass in C


def utf16_units(text: str) -> int:
    """The 16-bit length of the text: UTF-16 code units (a character outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _pack(costs: Iterator[int], per_part: int) -> int:
    """Parts needed when no character's units may be split across two parts."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def _seven_bit_parts(text: str) -> int:
    total = septets(text)
    if total <= SEVEN_BIT_SINGLE:
        return 1
    if total == len(text):  # no escape pairs: plain division is exact
        return -(-total // SEVEN_BIT_PART)
    # An escape pair may not straddle two parts, so a '{' at septet 153 opens the next part.
    return _pack((2 if c in GSM_EXTENSION else 1 for c in text), SEVEN_BIT_PART)


def _sixteen_bit_parts(text: str) -> int:
    total = utf16_units(text)
    if total <= SIXTEEN_BIT_SINGLE:
        return 1
    if total == len(text):  # no surrogate pairs: plain division is exact
        return -(-total // SIXTEEN_BIT_PART)
    # A surrogate pair may not straddle two parts, so an emoji at unit 67 opens the next part.
    return _pack((2 if ord(c) > 0xFFFF else 1 for c in text), SIXTEEN_BIT_PART)


def count_parts(text: str) -> tuple[Dca, int]:
    """The encoding the message needs and the SMS parts it takes, as carriers count them.

    7-bit when every character can travel in the EAPI's 7-bit form, else 16-bit. An empty text
    still occupies one SMS, so it counts as one 7-bit part.
    """
    return parts_given(text, first_non_7bit(text))


def parts_given(text: str, forced: Forced16Bit | None) -> tuple[Dca, int]:
    """`count_parts` for a caller that already has `first_non_7bit(text)` (one scan, not two)."""
    if forced is None:
        return Dca.SEVEN_BIT, _seven_bit_parts(text)
    return Dca.SIXTEEN_BIT, _sixteen_bit_parts(text)
