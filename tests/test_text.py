"""The one rule for accepted text (``ecm_admin.text``)."""

import pytest

from ecm_admin.text import SAFE_TEXT_PATTERN, text_problem


@pytest.mark.parametrize(
    "value",
    ["", "Ana María", "O'Brien-Smith", "tab\there", "two\nlines\r\n", "中文 😀", "\u0085 NEL"],
)
def test_ordinary_text_is_accepted(value):
    assert text_problem(value) is None


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ("a\x00b", "must not contain NUL characters"),
        ("\x00\ud800", "must not contain NUL characters"),
        ("bell\x07", "must not contain control characters"),
        ("esc\x1b[0m", "must not contain control characters"),
        ("del\x7f", "must not contain control characters"),
        ("\ud800", "must not contain unpaired surrogates (invalid Unicode)"),
        ("bad byte \udcff", "must not contain unpaired surrogates (invalid Unicode)"),
        ("\ufffe", "must not contain Unicode non-characters"),
        ("\uffff", "must not contain Unicode non-characters"),
        ("\ufdd0", "must not contain Unicode non-characters"),
        ("\U0010ffff", "must not contain Unicode non-characters"),
    ],
)
def test_unsafe_text_is_named(value, sentence):
    assert text_problem(value) == sentence


def test_schema_pattern_agrees_with_the_rule_on_what_it_can_express():
    import re

    # The ECMA-262 \\uXXXX escapes read the same in Python's re.
    pattern = re.compile(SAFE_TEXT_PATTERN)
    for value in ("Ana", "tab\t", "a\x00", "a\x01", "\x7f", "\ufffe", "\ufdd5"):
        assert (pattern.fullmatch(value) is not None) == (text_problem(value) is None), value
