"""Hostile input on every route and method, signed in and not: text the database cannot store,
deep nesting, duplicate keys and unreadable numbers in a JSON body; refused text and repeated
parameters in a query string; refused text in the headers the service reads.

Never a 500, never a traceback in the log; always the documented 4xx. Without a token a
protected route answers 401 whatever the body holds (DRF authenticates before it parses);
the open sign-in route refuses the body itself. A query string or a header is refused before
anything else, signed in or not, without a single database query.
"""

import json
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ecm_admin.parsers import MAX_JSON_DEPTH
from ecm_admin.request_context import regex_to_template
from tests import factories
from tests.test_route_sweep import PUBLIC, ROUTES, methods_of

pytestmark = pytest.mark.django_db

API = "v1/admin/clinic/ecm/"
# The (route, method) pairs that read a JSON body. Every POST, PUT and PATCH must be here
# (checked below), so a new write route gets these tests too.
BODY_READERS = {
    ("v1/auth/tokens", "POST"),
    (f"{API}patients/filter", "POST"),
    (f"{API}patients/{{patient_id}}", "PUT"),
    (f"{API}patients/{{patient_id}}", "PATCH"),
    (f"{API}lead_care_managers/assign", "POST"),
    (f"{API}lead_care_managers/assign", "PUT"),
    (f"{API}lead_care_managers/assign", "DELETE"),
    (f"{API}lead_care_managers/bulk_assign", "POST"),
    (f"{API}lead_care_managers/auto_assign", "POST"),
    (f"{API}lead_care_managers/{{pk}}", "PATCH"),
    (f"{API}lead_care_managers/{{pk}}/transfer", "POST"),
}

SURROGATE = "must not contain unpaired surrogates (invalid Unicode)"
NUL = "must not contain NUL characters"
CONTROL = "must not contain control characters"
NONCHARACTER = "must not contain Unicode non-characters"
TOO_DEEP = (
    f"Request body is nested too deeply (at most {MAX_JSON_DEPTH} levels of arrays and objects)"
)
# A 2 KB body nested 1,000 deep: Python's JSON decoder alone would exhaust its stack.
DEEP = b"[" * 1000 + b"]" * 1000

# Raw bytes, as an attacker sends them (the test client does not re-encode them).
BODIES = {
    "lone surrogate": (b'{"x": "\\ud800"}', 422, [f"x {SURROGATE}"]),
    "NUL": (b'{"x": "a\\u0000b"}', 422, [f"x {NUL}"]),
    "control character": (b'{"x": "\\u001b[31m"}', 422, [f"x {CONTROL}"]),
    "non-character": (b'{"x": "\\uffff"}', 422, [f"x {NONCHARACTER}"]),
    "refused key": (b'{"\\udc80": "x"}', 422, [f"Request body has a key that {SURROGATE}"]),
    "deep nesting": (DEEP, 400, [TOO_DEEP]),
    "duplicate keys": (b'{"x": 1, "x": 2}', 400, ['Request body has the key "x" more than once']),
    "5,000-digit number": (
        b'{"x": 1' + b"0" * 5000 + b"}",
        400,
        ["Request body has a number longer than 100 characters"],
    ),
    "NaN": (
        b'{"x": NaN}',
        400,
        ["Malformed JSON in request body: NaN and Infinity are not JSON numbers"],
    ),
    "huge float": (b'{"x": 1e999}', 400, ["Request body has a number too large to represent"]),
    "not UTF-8": (b'{"x": "\xc3\x28"}', 400, ["Request body is not valid UTF-8 (byte 8)"]),
    "white space only": (
        b" \r\n ",
        400,
        ["Malformed JSON in request body: it holds only white space"],
    ),
}


def template(route: str) -> str:
    return regex_to_template(route)


def path_of(route: str, patient_id: int) -> str:
    path = template(route).replace("{patient_id}", str(patient_id))
    return "/" + path.replace("{pk}", str(patient_id))  # a user id: any will do


def is_open(pattern, method: str) -> bool:
    return method in PUBLIC.get(pattern.name, ())


def methods(pattern) -> list[str]:
    # DELETE last: on the sign-out route it revokes the token the other requests use.
    return sorted(methods_of(pattern.callback), key=lambda method: (method == "DELETE", method))


@pytest.fixture
def patient():
    return factories.ecm_patient()


@pytest.fixture
def no_tracebacks(caplog):
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]
    assert "Traceback" not in caplog.text


def test_every_write_route_reads_its_body_through_these_tests():
    found = {
        (template(route), m) for route, pattern in ROUTES for m in methods_of(pattern.callback)
    }
    assert found >= BODY_READERS
    writes = {(t, m) for t, m in found if m in ("POST", "PUT", "PATCH")}
    assert writes <= BODY_READERS


@pytest.mark.parametrize("kind", BODIES)
@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[template(r) for r, _ in ROUTES])
def test_hostile_bodies_on_every_route(
    route, pattern, kind, admin_client, anon_client, patient, no_tracebacks
):
    body, status, errors = BODIES[kind]
    path = path_of(route, patient.pk)
    for method in methods(pattern):
        for client, signed_in in ((anon_client, False), (admin_client, True)):
            response = client.generic(method, path, body, content_type="application/json")
            outcome = (method, path, signed_in, response.status_code, response.content[:200])
            assert response.status_code < 500, outcome
            if not signed_in and not is_open(pattern, method):
                assert response.status_code == 401, outcome
            elif (template(route), method) in BODY_READERS:
                assert response.status_code == status, outcome
                assert response.json() == {"errors": errors}, outcome


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "patients/{id}"),
        ("patch", "patients/{id}"),
        ("post", "patients/filter"),
        ("post", "lead_care_managers/assign"),
        ("put", "lead_care_managers/assign"),
        ("delete", "lead_care_managers/assign"),
        ("post", "lead_care_managers/bulk_assign"),
    ],
)
def test_a_bad_string_deep_in_a_real_body_is_named_by_its_path(admin_client, patient, method, path):
    lcm = factories.lcm_user()
    item = {"patient_id": patient.pk, "olcm_user_id": lcm.pk, "reason": "x\ud800"}
    bodies = {
        "patients/{id}": {"patient": {"address": {"street": "1 Main\ud800"}}},
        "patients/filter": {"filters": {"authorization_status": "x\ud800"}},
        "lead_care_managers/assign": item,
        "lead_care_managers/bulk_assign": {"assignments": [item]},
    }
    where = {
        "patients/{id}": "patient.address.street",
        "patients/filter": "filters.authorization_status",
        "lead_care_managers/assign": "reason",
        "lead_care_managers/bulk_assign": "assignments[0].reason",
    }
    body = bodies[path]
    if method == "delete":
        body = {"patient_id": patient.pk, "role": "olcm", "reason": "x\ud800"}
    # json.dumps escapes the lone surrogate as \ud800, as any JSON client would.
    response = admin_client.generic(
        method.upper(),
        f"/{API}{path.format(id=patient.pk)}",
        json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    assert response.json() == {"errors": [f"{where[path]} {SURROGATE}"]}
    patient.refresh_from_db()
    assert not hasattr(patient, "case_load") or patient.case_load.olcm_id is None


def test_the_reported_sign_in_repro_is_422_before_any_database_call(anon_client):
    body = b'{"email":"\\ud800","password":"x"}'
    with CaptureQueriesContext(connection) as queries:
        response = anon_client.generic(
            "POST", "/v1/auth/tokens", body, content_type="application/json"
        )
    assert response.status_code == 422
    assert response.json() == {"errors": [f"email {SURROGATE}"]}
    # Only the request's own rate count (by address, before the body is read) ran.
    touched = [q["sql"] for q in queries if "accounts_abusecounter" not in q["sql"]]
    assert touched == []


def test_deep_nesting_on_sign_in_is_400_without_a_traceback(anon_client, no_tracebacks):
    assert len(DEEP) == 2000
    for body in (DEEP, b'{"email":' * 1000, b'{"a":[' * 500):
        response = anon_client.generic(
            "POST", "/v1/auth/tokens", body, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.json() == {"errors": [TOO_DEEP]}


# --- query strings and headers ---------------------------------------------------------------

QUERIES = {
    "NUL": ("search=a%00b", [f"search {NUL}"]),
    "control character": ("search=%1B%5B31m", [f"search {CONTROL}"]),
    "lone surrogate, percent-encoded": ("search=%ED%A0%80", [f"search {SURROGATE}"]),
    "invalid UTF-8, percent-encoded": ("search=Jo%FFhn", [f"search {SURROGATE}"]),
    "invalid UTF-8, raw byte": ("search=Jo\xffhn", [f"search {SURROGATE}"]),
    "non-character": ("search=%EF%BF%BE", [f"search {NONCHARACTER}"]),
    "refused name": ("se%00arch=1", [f"A query parameter name {NUL}"]),
    "unsafe name": ("%3Cb%3E=%00", [f"A query parameter {NUL}"]),
    "repeated parameter": ("page=2&page=3", ["page must be given once"]),
    "repeated, spelt differently": ("page=2&pag%65=3", ["page must be given once"]),
}


@pytest.mark.parametrize("kind", QUERIES)
@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[template(r) for r, _ in ROUTES])
def test_hostile_query_strings_on_every_route(
    route, pattern, kind, admin_client, anon_client, patient, no_tracebacks
):
    query, errors = QUERIES[kind]
    path = path_of(route, patient.pk)
    api = path.startswith("/v1/")
    for method in methods(pattern):
        for client in (anon_client, admin_client):
            with CaptureQueriesContext(connection) as queries:
                response = client.generic(method, path, QUERY_STRING=query)
            outcome = (method, path, response.status_code, response.content[:200])
            if kind.startswith("repeated") and not api:
                assert response.status_code < 500, outcome  # only the API's are all scalar
                continue
            assert response.status_code == 422, outcome
            if method != "HEAD":
                assert response.json() == {"errors": errors}, outcome
            assert len(queries) == 0, outcome


HEADERS = {
    "X-User-Token": ("HTTP_X_USER_TOKEN", "ecm_\x00abc", NUL),
    "If-Match": ("HTTP_IF_MATCH", '"abc\x01"', CONTROL),
    "X-Request-ID": ("HTTP_X_REQUEST_ID", "req\x7f1", CONTROL),
}


@pytest.mark.parametrize("header", HEADERS)
@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[template(r) for r, _ in ROUTES])
def test_refused_text_in_a_header_the_service_reads(route, pattern, header, anon_client, patient):
    meta, value, problem = HEADERS[header]
    path = path_of(route, patient.pk)
    for method in methods(pattern):
        with CaptureQueriesContext(connection) as queries:
            response = anon_client.generic(method, path, **{meta: value})
        assert response.status_code == 422, (method, path, response.status_code)
        if method != "HEAD":
            assert response.json() == {"errors": [f"{header} {problem}"]}
        assert len(queries) == 0


def test_repeated_parameters_are_fine_outside_the_api_and_single_ones_everywhere(
    admin_client, patient
):
    assert admin_client.get("/healthz?probe=1&probe=2").status_code == 200
    response = admin_client.get(f"/{API}patients?page=1&per_page=5&search=")
    assert response.status_code == 200


def test_too_many_query_parameters_is_400(anon_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    query = "&".join(f"p{i}=1" for i in range(6))
    response = anon_client.get(f"/{API}patients", QUERY_STRING=query)
    assert response.status_code == 400
    assert response.json() == {"errors": ["Too many query parameters (limit 5)"]}


def test_a_charset_in_content_type_does_not_smuggle_text_past_the_rule(admin_client):
    """Django decodes the query string with the charset Content-Type names: in UTF-7,
    "%2BAAA-" (valid UTF-8 for "+AAA-") is a NUL. What the views read passes the rule too."""
    url = f"/{API}lead_care_managers"
    response = admin_client.get(
        url, QUERY_STRING="search=%2BAAA-", content_type="text/plain; charset=utf-7"
    )
    assert response.status_code == 422
    assert response.json() == {"errors": [f"A query parameter {NUL}"]}
    assert admin_client.get(url, QUERY_STRING="search=%2BAAA-").status_code == 200
