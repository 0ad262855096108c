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

NUL = "must not contain NUL characters"
CONTROL = "must not contain control characters"
SURROGATE = "must not contain unpaired surrogates (invalid Unicode)"
NONCHARACTER = "must not contain Unicode non-characters"

# U+FFFE and U+FFFF, U+1FFFE and U+1FFFF, ... U+10FFFE and U+10FFFF.
_PLANE_ENDS = [chr(plane << 16 | last) for plane in range(17) for last in (0xFFFE, 0xFFFF)]
# Each class of refused characters with its sentence, checked in this order (a NUL is a
# control character too: it is named as NUL, the sentence users have seen for it).
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile("\x00"), NUL),
    (re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]"), CONTROL),
    (re.compile("[\ud800-\udfff]"), SURROGATE),
    (re.compile("[\ufdd0-\ufdef" + "".join(_PLANE_ENDS) + "]"), NONCHARACTER),
)
# One pass over the text for the common case: nothing refused.
_ANY = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in _RULES))


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be accepted (a phrase to put after the field's name), or ``None``.

    >>> text_problem("Ana")
    >>> text_problem("A\\x00")
    'must not contain NUL characters'
    """
    if _ANY.search(value) is None:
        return None
    for pattern, sentence in _RULES:
        if pattern.search(value) is not None:
            return sentence
    return None  # unreachable: _ANY matched one of the rules


def is_safe_text(value: str) -> bool:
    return _ANY.search(value) is None


# The same rule as a regular expression for the OpenAPI document (JSON Schema ``pattern``,
# ECMA-262 syntax): a string made only of accepted characters. Surrogates are left out: a
# schema pattern cannot tell an unpaired one from half of a pair. ``UNSAFE_TEXT_CLASS`` is the
# inside of the character class, for patterns that add to the rule.
UNSAFE_TEXT_CLASS = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFDD0-\uFDEF\uFFFE\uFFFF"
SAFE_TEXT_PATTERN = rf"^[^{UNSAFE_TEXT_CLASS}]*$"
