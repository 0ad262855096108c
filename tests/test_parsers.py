"""The API's JSON parser (``ecm_admin.parsers``): what it reads, what it refuses and how it
names the place, without recursion."""

import json
import random

import pytest

from ecm_admin.exceptions import MalformedRequest, UnprocessableEntity
from ecm_admin.parsers import MAX_JSON_DEPTH, MAX_REPORTED, parse_json, too_deep

NUL = "must not contain NUL characters"
SURROGATE = "must not contain unpaired surrogates (invalid Unicode)"


def refused(body: bytes) -> tuple[int, list[str]]:
    try:
        parse_json(body)
    except MalformedRequest as exc:
        return 400, exc.errors
    except UnprocessableEntity as exc:
        return 422, exc.errors
    raise AssertionError(f"{body[:60]!r} was accepted")


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


@pytest.mark.parametrize(
    "body",
    [
        b'{"patient": {"address": {"street": "1 Main St", "city": "Fresno"}}}',
        b'{"assignments": [{"patient_id": 1, "olcm_user_id": 2, "reason": "tab\\tand\\nnewline"}]}',
        '{"name": "Ana María 中文 😀", "n": -1.5e3, "ok": true, "none": null}'.encode(),
        b'"\\ud83d\\ude00"',  # a surrogate pair is one character, not a lone surrogate
        b"  [1, 2, 3]  ",
    ],
)
def test_ordinary_documents_are_read_as_json(body):
    assert parse_json(body) == json.loads(body)


def test_the_nesting_limit_is_exact():
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    mixed = b'{"a":' * (MAX_JSON_DEPTH - 1) + b"[1]" + b"}" * (MAX_JSON_DEPTH - 1)
    assert parse_json(mixed) is not None
    for body in (nested(MAX_JSON_DEPTH + 1), nested(1000), b"[" * 100_000, b'{"a":' * 1000):
        assert refused(body) == (
            400,
            [
                f"Request body is nested too deeply (at most {MAX_JSON_DEPTH} levels of arrays "
                "and objects)"
            ],
        )


def test_brackets_inside_strings_do_not_count():
    body = json.dumps({"note": "[" * 500 + '\\"{' * 100}).encode()
    assert not too_deep(body)
    assert parse_json(body)["note"].startswith("[[[")


def test_the_depth_scan_is_exact_on_json_documents():
    rng = random.Random(15)

    def document(depth: int):
        """A random document exactly ``depth`` levels deep, with strings full of brackets,
        quotes and backslashes."""
        text = "".join(rng.choice('[]{}"\\a') for _ in range(rng.randint(0, 6)))
        if depth == 0:
            return rng.choice([text, 1, None])
        inner = [document(depth - 1), document(rng.randint(0, min(depth - 1, 2)))]
        rng.shuffle(inner)
        if rng.random() < 0.5:
            return inner
        return {f"{text}{i}": value for i, value in enumerate(inner)}

    for _ in range(300):
        depth = rng.randint(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3)
        body = json.dumps(document(depth)).encode()
        assert too_deep(body) == (depth > MAX_JSON_DEPTH), body


def test_the_depth_scan_never_says_less_than_the_decoder_would_reach():
    """On any bytes: wherever the decoder could still be reading (no backslash outside a
    string yet), the scan counts at least as deep."""

    def decoder_reach(body: bytes) -> bool:
        depth = 0
        in_string = escaped = False
        for byte in body:
            if in_string:
                if escaped:
                    escaped = False
                elif byte == ord("\\"):
                    escaped = True
                elif byte == ord('"'):
                    in_string = False
            elif byte == ord("\\"):
                return False  # the decoder fails here
            elif byte == ord('"'):
                in_string = True
            elif byte in b"[{":
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    return True
            elif byte in b"]}":
                depth -= 1
                if depth < 0:
                    return False  # and here
        return False

    rng = random.Random(15)
    for _ in range(3000):
        body = bytes(rng.choice(b'[[[[{{{]]]}}"\\a,') for _ in range(rng.randint(0, 400)))
        if decoder_reach(body):
            assert too_deep(body), body


def test_an_open_string_runs_to_the_end_and_the_scan_stays_linear():
    # Each quote would restart a backtracking string pattern: this must not be quadratic.
    body = b'"' + b'\\"' * 500_000 + b"\\"
    assert refused(body)[0] == 400


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b'{"a": 1, "a": 2}', 'Request body has the key "a" more than once'),
        (b'{"a": {"b": [1, {"c": 1, "c": 1}]}}', 'a.b[1] has the key "c" more than once'),
        (b'[{}, {"x": 1, "y": 2, "x": 3}]', '[1] has the key "x" more than once'),
    ],
)
def test_duplicate_keys_are_400_naming_the_key_and_where(body, sentence):
    assert refused(body) == (400, [sentence])


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b'{"email": "\\ud800", "password": "x"}', f"email {SURROGATE}"),
        (b'{"assignments": [{}, {"reason": "a\\u0000"}]}', f"assignments[1].reason {NUL}"),
        (
            b'{"patient": {"address": {"street": "\\udfff"}}}',
            f"patient.address.street {SURROGATE}",
        ),
        (b'{"x": "bell\\u0007"}', "x must not contain control characters"),
        (b'{"x": "\\b"}', "x must not contain control characters"),
        (b'{"x": "\\f"}', "x must not contain control characters"),
        (b'{"x": "\\u007f"}', "x must not contain control characters"),
        (b'{"x": "\\ufffe"}', "x must not contain Unicode non-characters"),
        ('{"x": "\ufdd0"}'.encode(), "x must not contain Unicode non-characters"),
        (b'{"x": "\\udbff\\udfff"}', "x must not contain Unicode non-characters"),  # U+10FFFF
        (b'"\\u0000"', f"Request body {NUL}"),
        (b'[["ok", "\\u0000"]]', f"[0][1] {NUL}"),
    ],
)
def test_unstorable_text_is_422_naming_its_path(body, sentence):
    assert refused(body) == (422, [sentence])


def test_a_refused_key_is_never_repeated_back():
    status, errors = refused(b'{"patient": {"address": {"\\ud800x": "1 Main St"}}}')
    assert (status, errors) == (422, [f"patient.address has a key that {SURROGATE}"])
    status, errors = refused(b'{"\\u0000": {"also": "\\u0000"}}')
    assert errors == [f"Request body has a key that {NUL}"]
    # The answer can always be encoded (a lone surrogate cannot be).
    json.dumps({"errors": errors}, ensure_ascii=False).encode("utf-8")


def test_every_refused_string_is_named_up_to_a_limit():
    assert refused(b'{"a": "\\u0000", "b": ["\\ud800"]}') == (
        422,
        [f"a {NUL}", f"b[0] {SURROGATE}"],
    )
    many = json.dumps([f"x\x00{i}" for i in range(MAX_REPORTED + 5)]).encode()
    status, errors = refused(many)
    assert status == 422
    assert errors[:2] == [f"[0] {NUL}", f"[1] {NUL}"]
    assert errors[-1] == "... and 5 more"
    assert len(errors) == MAX_REPORTED + 1


def test_a_duplicate_key_outranks_refused_text():
    assert refused(b'{"a": "\\u0000", "a": "\\u0000"}')[0] == 400


MALFORMED = "Malformed JSON in request body"
TOO_LONG = "Request body has a number longer than 100 characters"
NOT_UTF8 = "Request body is not valid UTF-8 (byte 8)"


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b"NaN", f"{MALFORMED}: NaN and Infinity are not JSON numbers"),
        (b'{"a": -Infinity}', f"{MALFORMED}: NaN and Infinity are not JSON numbers"),
        (b"1" + b"0" * 5000, TOO_LONG),  # past Python's 4,300-digit limit for int()
        (b"[0." + b"1" * 200 + b"]", TOO_LONG),
        (b'{"page": 1e400}', "Request body has a number too large to represent"),
        (b'{"a": "\xff"}', NOT_UTF8),
        (b'{"a": "\xed\xa0\x80"}', NOT_UTF8),  # U+D800 encoded: not UTF-8
        (b"\xef\xbb\xbf{}", f"{MALFORMED}: it must not start with a byte order mark"),
        (b" \n\t ", f"{MALFORMED}: it holds only white space"),
        (
            b"{nope",
            f"{MALFORMED}: Expecting property name enclosed in double quotes at line 1, column 2",
        ),
        (b'{"a": "\x01"}', f"{MALFORMED}: Invalid control character at line 1, column 8"),
        (b'"abc', f"{MALFORMED}: Unterminated string starting at line 1, column 1"),
    ],
)
def test_unreadable_bodies_are_400_with_a_clear_sentence(body, sentence):
    assert refused(body) == (400, [sentence])


def test_a_large_ordinary_body_is_not_walked_for_nothing():
    body = json.dumps(
        {"assignments": [{"patient_id": i, "olcm_user_id": 2, "reason": "Q3"} for i in range(1000)]}
    ).encode()
    assert len(parse_json(body)["assignments"]) == 1000
