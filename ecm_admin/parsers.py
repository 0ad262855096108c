"""The API's JSON parser: strict, bounded, and the one place where a request body meets the
text rule (``ecm_admin.text``).

Every JSON body goes through ``StrictJSONParser`` (``DEFAULT_PARSER_CLASSES``) when a view
first reads ``request.data`` (after authentication: a protected route answers 401 to a caller
without a token before looking at the body). What it refuses, in this order:

- **400** nesting deeper than ``MAX_JSON_DEPTH`` levels of arrays and objects. Counted by one
  linear scan of the raw bytes before anything is decoded: Python's JSON decoder recurses once
  per level, so a 2 KB body nested 1,000 deep would otherwise exhaust its stack.
- **400** a body that is not UTF-8 (whatever ``charset`` the ``Content-Type`` names), not
  JSON (syntax; ``NaN`` and ``Infinity``), or that holds a number longer than
  ``MAX_NUMBER_LENGTH`` characters (Python refuses to read integers of more than 4,300 digits)
  or too large for a float (``1e400``).
- **400** an object with the same key twice (which one would count is ambiguous), naming the
  key when it is safe to repeat.
- **422** a string, or an object key, that the text rule refuses (NUL, control characters,
  unpaired surrogates, non-characters), naming its JSON path:
  ``assignments[0].reason must not contain NUL characters``. A refused key is never repeated
  in the answer (a lone surrogate cannot even be encoded in it):
  ``patient.address has a key that must not contain unpaired surrogates (invalid Unicode)``.

So views, serializers and services never see text the database cannot store. The document is
walked with an explicit stack, never by recursion; a body whose raw text has no character the
rule refuses and no escape that could produce one is not walked at all.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from rest_framework.parsers import JSONParser

from ecm_admin.exceptions import MalformedRequest, UnprocessableEntity
from ecm_admin.text import is_safe_text, text_problem

MAX_JSON_DEPTH = 32
MAX_NUMBER_LENGTH = 100
# At most this many sentences per answer (a body may hold thousands of bad strings).
MAX_REPORTED = 20

MALFORMED_JSON = "Malformed JSON in request body"
TOO_DEEP = (
    f"Request body is nested too deeply (at most {MAX_JSON_DEPTH} levels of arrays and objects)"
)
NOT_UTF8 = "Request body is not valid UTF-8"
BYTE_ORDER_MARK = f"{MALFORMED_JSON}: it must not start with a byte order mark"
EMPTY = f"{MALFORMED_JSON}: it holds only white space"
NOT_A_NUMBER = f"{MALFORMED_JSON}: NaN and Infinity are not JSON numbers"
NUMBER_TOO_LONG = f"Request body has a number longer than {MAX_NUMBER_LENGTH} characters"
NUMBER_OUT_OF_RANGE = "Request body has a number too large to represent"

# The bytes that tell structure from strings: quotes and brackets (each opener kept as "(",
# each closer as ")"); everything else is dropped.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_OPEN = ord("(")
# The scan skips a run of this many brackets whose openers could not pass the limit.
_CHUNK = 32
# A run of digits long enough that the numbers are read with the length check (which costs
# a call per number); otherwise the decoder's own reading.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGITS = b"0" * (MAX_NUMBER_LENGTH + 1)
# An escape that can decode to a character the text rule refuses: \u0000, \b, \f...
_RISKY_ESCAPE = re.compile(r"\\[ubf]")


class _Refused(Exception):
    """Raised from the decoder's hooks; becomes a 400."""

    def __init__(self, sentence: str):
        super().__init__(sentence)
        self.sentence = sentence


class _Duplicated:
    """An object that had a key twice, kept as its pairs until the walk names the key."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]):
        self.pairs = pairs


def _brackets(body: bytes) -> bytes:
    """The brackets of ``body`` outside its strings, as ``(`` and ``)``, in order.

    Escaped backslashes go first, then escaped quotes (so every quote left opens or closes a
    string); what lies between the 2nd and 3rd quote, 4th and 5th... is outside the strings.
    A string left open runs to the end. Only bytes operations: linear, and fast.
    """
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(text.translate(_AS_PARENS, _NOT_STRUCTURE).split(b'"')[::2])


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether some point of ``body`` is inside more than ``limit`` arrays and objects.

    Brackets inside strings do not count. For a JSON document this is exactly how deep the
    decoder would go; for a body that is not one it may say more (a stray closing bracket is
    not special), which is a 400 either way. Linear in the size of the body: a run of
    brackets whose openers could not pass the limit is counted, not walked.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    parens = _brackets(body)
    if parens.count(b"(") <= limit:
        return False
    depth = 0
    for start in range(0, len(parens), _CHUNK):
        chunk = parens[start : start + _CHUNK]
        opens = chunk.count(b"(")
        if depth + opens <= limit:
            depth += 2 * opens - len(chunk)
            continue
        for byte in chunk:
            if byte == _OPEN:
                depth += 1
                if depth > limit:
                    return True
            else:
                depth -= 1
    return False


def _constant(name: str) -> Any:
    raise _Refused(NOT_A_NUMBER)


def _int(token: str) -> int:
    if len(token) > MAX_NUMBER_LENGTH:
        raise _Refused(NUMBER_TOO_LONG)
    return int(token)


def _float(token: str) -> float:
    if len(token) > MAX_NUMBER_LENGTH:
        raise _Refused(NUMBER_TOO_LONG)
    value = float(token)
    if not math.isfinite(value):
        raise _Refused(NUMBER_OUT_OF_RANGE)
    return value


def parse_json(body: bytes) -> Any:
    """The document in ``body``, or ``MalformedRequest`` (400) / ``UnprocessableEntity`` (422)
    from ``ecm_admin.exceptions``."""
    if too_deep(body):
        raise MalformedRequest(TOO_DEEP)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"{NOT_UTF8} (byte {exc.start + 1})") from None
    if text.startswith("\ufeff"):
        raise MalformedRequest(BYTE_ORDER_MARK)
    if not text.strip():
        raise MalformedRequest(EMPTY)
    duplicated = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Duplicated:
        nonlocal duplicated
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        duplicated = True
        return _Duplicated(pairs)

    try:
        document = json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_constant=_constant,
            parse_int=_int if _LONG_DIGITS in body.translate(_DIGITS_AS_ZEROS) else None,
            parse_float=_float,
        )
    except json.JSONDecodeError as exc:
        raise MalformedRequest(
            f"{MALFORMED_JSON}: {exc.msg.removesuffix(' at')} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None
    except _Refused as exc:
        raise MalformedRequest(exc.sentence) from None
    except RecursionError:  # not expected after too_deep; never a 500 all the same
        raise MalformedRequest(TOO_DEEP) from None
    if duplicated or not is_safe_text(text) or _RISKY_ESCAPE.search(text):
        _inspect(document)
    return document


def _where(path: tuple | None) -> str:
    """``(((None, "assignments"), 0), "reason")`` → ``assignments[0].reason``."""
    if path is None:
        return "Request body"
    steps = []
    while path is not None:
        path, step = path
        steps.append(step)
    out = []
    for step in reversed(steps):
        if isinstance(step, int):
            out.append(f"[{step}]")
        else:
            out.append(f".{step}" if out else step)
    return "".join(out)


def _capped(sentences: list[str], total: int) -> list[str]:
    if total > len(sentences):
        return [*sentences, f"... and {total - len(sentences)} more"]
    return sentences


def _inspect(document: Any) -> None:
    """Walk the document (explicit stack, document order); 400 for a duplicate key, else 422
    for text the rule refuses."""
    duplicates: list[str] = []
    refused: list[str] = []
    counts = {"duplicates": 0, "refused": 0}

    def note(kind: str, sentences: list[str], sentence: str) -> None:
        if sentence in sentences:
            return
        counts[kind] += 1
        if len(sentences) < MAX_REPORTED:
            sentences.append(sentence)

    stack: list[tuple[Any, tuple | None]] = [(document, None)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            problem = text_problem(node)
            if problem is not None:
                note("refused", refused, f"{_where(path)} {problem}")
        elif isinstance(node, list):
            stack.extend((node[i], (path, i)) for i in range(len(node) - 1, -1, -1))
        elif isinstance(node, (dict, _Duplicated)):
            pairs = node.pairs if isinstance(node, _Duplicated) else node.items()
            seen: set[str] = set()
            named: set[str] = set()
            children = []
            for key, value in pairs:
                problem = text_problem(key)
                if problem is not None:
                    # Never repeated: the value under a refused key is not looked at either.
                    note("refused", refused, f"{_where(path)} has a key that {problem}")
                    continue
                if key in seen and key not in named:
                    named.add(key)
                    sentence = f'{_where(path)} has the key "{key}" more than once'
                    note("duplicates", duplicates, sentence)
                seen.add(key)
                children.append((value, (path, key)))
            stack.extend(reversed(children))
    if duplicates:
        raise MalformedRequest(_capped(duplicates, counts["duplicates"]))
    if refused:
        raise UnprocessableEntity(_capped(refused, counts["refused"]))


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with the checks above (a subclass, so DRF and drf-spectacular treat
    it as the JSON parser it is)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json(stream.read())
