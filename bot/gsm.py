"""The GSM 03.38 alphabet as the BulkSMS EAPI accepts it (7-bit text in an ISO-8859-1 form).

A message can go as 7-bit when every character is in GSM 03.38 *and* has an ISO-8859-1 form the
EAPI maps back to it: the Latin-1 characters themselves, and the Greek capitals, which BulkSMS
takes as spare Latin-1 bytes (`eapi-research.md` 1.8). Everything else makes the message 16-bit.
"""

from __future__ import annotations

from dataclasses import dataclass

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
# The Latin-1 characters BulkSMS would show as Greek: never sent as 7-bit.
LATIN1_SHOWN_AS_GREEK = frozenset(GREEK_TO_LATIN1.values())

EAPI_7BIT = frozenset(
    c
    for c in (GSM_BASIC | GSM_EXTENSION)
    if c in GREEK_TO_LATIN1 or (ord(c) < 256 and c not in ("\f",))
)


@dataclass(frozen=True, slots=True)
class Forced16Bit:
    """The first character that makes a message 16-bit, and why, in words for a person."""

    index: int
    char: str
    reason: str


def _why(char: str) -> str:
    name = f"'{char}' (U+{ord(char):04X})"
    if char == "€":
        return f"{name} cannot travel in the EAPI's ISO-8859-1 7-bit form"
    if char in LATIN1_SHOWN_AS_GREEK:
        return f"{name} would arrive as a Greek letter in BulkSMS's 7-bit form"
    if char == "\f":
        return f"{name} (form feed) is not accepted in BulkSMS's 7-bit form"
    return f"{name} is not in the GSM 7-bit alphabet"


def first_non_7bit(text: str) -> Forced16Bit | None:
    """The first character that forces 16-bit, or None when the text can go as 7-bit."""
    for index, char in enumerate(text):
        if char not in EAPI_7BIT:
            return Forced16Bit(index, char, _why(char))
    return None


def eapi_7bit_form(text: str) -> str:
    """The text as the EAPI wants 7-bit: Latin-1 characters, Greek capitals as their bytes.

    Raises ValueError when the text cannot go as 7-bit (see `first_non_7bit`).
    """
    forced = first_non_7bit(text)
    if forced is not None:
        raise ValueError(f"not 7-bit at character {forced.index + 1}: {forced.reason}")
    return "".join(GREEK_TO_LATIN1.get(c, c) for c in text)


def eapi_16bit_form(text: str) -> str:
    """The text as the EAPI wants 16-bit: hex of UTF-16BE code units, upper case."""
    return text.encode("utf-16-be").hex().upper()
