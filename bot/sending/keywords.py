"""The consent keywords of a reply: a reply that is only STOP (or a synonym) opts its sender out.

The rule (research §B.3, as carriers and other gateways apply it): surrounding spaces and
punctuation are ignored, case and width are ignored, and what is left must be exactly one
keyword. Anything else is a reply for a person to read, never acted on: "please stop
texting me" is shown, not obeyed, and so is "STOP STOP". START or UNSTOP takes a reply-made
entry off the list again.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
OPT_IN = frozenset({"start", "unstop"})


class Keyword(StrEnum):
    """What a keyword reply asks for."""

    STOP = "stop"
    START = "start"


def _is_edge(char: str) -> bool:
    """Spaces, punctuation and symbols (emoji included) around a keyword do not count."""
    return char.isspace() or unicodedata.category(char)[0] in "PSZC"


def bare_word(text: str) -> str:
    """The text without surrounding spaces and punctuation, case-folded and NFKC-folded (a phone
    may send full-width or styled letters)."""
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return unicodedata.normalize("NFKC", text[start:end]).casefold()


def keyword_of(text: str) -> Keyword | None:
    """STOP or START when the whole reply is one such keyword, else None."""
    word = bare_word(text)
    if word in OPT_OUT:
        return Keyword.STOP
    if word in OPT_IN:
        return Keyword.START
    return None
