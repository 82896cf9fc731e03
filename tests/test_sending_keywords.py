"""The keyword rule: a reply that is only an opt-out (or opt-in) word, nothing more."""

from __future__ import annotations

import pytest

from bot.sending.keywords import Keyword, keyword_of


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", " Stop. ", "STOPALL", "unsubscribe!", "Cancel", "END", "quit", "\nSTOP\r\n",
     "«stop»", "STOP 🛑", "ＳＴＯＰ"],
)  # fmt: skip
def test_a_reply_that_is_only_an_opt_out_word_is_stop(text: str) -> None:
    """Any case; spaces, punctuation and emoji around it ignored."""
    assert keyword_of(text) is Keyword.STOP


@pytest.mark.parametrize("text", ["START", " unstop ", "Start!"])
def test_start_and_unstop_are_opt_in(text: str) -> None:
    """START or UNSTOP asks to be sent to again."""
    assert keyword_of(text) is Keyword.START


@pytest.mark.parametrize(
    "text",
    ["please stop texting me", "STOP STOP", "stopp", "don't stop", "stop-all", "", "  ",
     "s t o p", "STOP2", "yes", "stop me", "Ende"],
)  # fmt: skip
def test_anything_else_is_a_reply_never_acted_on(text: str) -> None:
    """Sentences, near misses and empty replies are shown, not obeyed."""
    assert keyword_of(text) is None
