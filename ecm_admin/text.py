"""The one rule for text the service accepts from outside: what it refuses, and why.

Every input path (JSON bodies, query strings, the headers the service reads, CSV files)
checks its text with ``text_problem`` before anything reaches the database, and says the same
sentence for the same problem. Refused:

- NUL (U+0000): PostgreSQL text cannot hold it;
- other C0 control characters (U+0001-U+001F) except tab, line feed and carriage return, and
  DEL (U+007F): no name, address, identifier or reason contains them, and they corrupt CSV
  exports and log lines;
- unpaired surrogates (U+D800-U+DFFF): they cannot be encoded as UTF-8 at all (a JSON
  ``"\\ud800"`` escape decodes to one; so does an invalid byte read with ``surrogateescape``);
- Unicode non-characters (U+FDD0-U+FDEF and the last two code points of every plane, such as
  U+FFFE and U+FFFF): reserved for internal use, never interchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NUL = "must not contain NUL characters"
CONTROL = "must not contain control characters"
SURROGATE = "must not contain unpaired surrogates (invalid Unicode)"
NONCHARACTER = "must not contain Unicode non-characters"

_BMP_NONCHARACTERS = re.compile("[\ufdd0-\ufdef\ufffe\uffff]")
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")


def _has_noncharacter(value: str) -> bool:
    """U+FDD0-U+FDEF, or the last two code points of a plane (U+FFFE, U+1FFFF, U+10FFFE...).
    Those beyond the first plane are told by their code point: a character class listing
    them makes every search about ten times slower per character."""
    if _BMP_NONCHARACTERS.search(value) is not None:
        return True
    return any(ord(found.group()) & 0xFFFE == 0xFFFE for found in _BEYOND_BMP.finditer(value))


# Each class of refused characters with its sentence, checked in this order (a NUL is a
# control character too: it is named as NUL, the sentence users have seen for it).
_RULES: tuple[tuple[Callable[[str], object], str], ...] = (
    (re.compile("\x00").search, NUL),
    (re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]").search, CONTROL),
    (re.compile("[\ud800-\udfff]").search, SURROGATE),
    (_has_noncharacter, NONCHARACTER),
)
# One pass over the text for the common case: every refused character is in this class, and
# so is every character beyond the first plane (rare; the rules then tell them apart).
_SCREEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U00010000-\U0010ffff]"
)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be accepted (a phrase to put after the field's name), or ``None``.

    >>> text_problem("Ana")
    >>> text_problem("A\\x00")
    'must not contain NUL characters'
    """
    if _SCREEN.search(value) is None:
        return None
    for found, sentence in _RULES:
        if found(value):
            return sentence
    return None  # characters beyond the first plane, none of them a non-character


def is_safe_text(value: str) -> bool:
    return text_problem(value) is None


# The same rule as a regular expression for the OpenAPI document (JSON Schema ``pattern``,
# ECMA-262 syntax): a string made only of accepted characters. Surrogates are left out: a
# schema pattern cannot tell an unpaired one from half of a pair. ``UNSAFE_TEXT_CLASS`` is the
# inside of the character class, for patterns that add to the rule.
UNSAFE_TEXT_CLASS = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFDD0-\uFDEF\uFFFE\uFFFF"
SAFE_TEXT_PATTERN = rf"^[^{UNSAFE_TEXT_CLASS}]*$"
