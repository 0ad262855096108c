"""Hardening: security headers, request ids, CORS, input limits (NUL, length, chunked),
logs without PHI, deployment checks."""

import io
import logging
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.client import ClientHandler
from rest_framework.test import APIClient

from care_team.models import CaseLoad
from ecm_admin.middleware import JsonErrorsMiddleware
from patients import views as patient_views
from tests import factories

BASE = "/v1/admin/clinic/ecm"
PROJECT_DIR = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture
def zebulon():
    return factories.ecm_patient(patient__first_name="Zebulon", patient__last_name="Quark")


def assert_hardened(response):
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Request-ID"]


# --- headers ---------------------------------------------------------------------------------


def test_security_headers_on_api_and_error_responses(admin_client, anon_client, zebulon, settings):
    assert_hardened(admin_client.get(f"{BASE}/patients/{zebulon.pk}"))
    assert_hardened(admin_client.get(f"{BASE}/patients/999999"))  # 404
    assert_hardened(admin_client.get(f"{BASE}/no-such-route"))  # 404 outside DRF
    assert_hardened(admin_client.get(f"{BASE}/patients", {"per_page": "x"}))  # 422
    assert_hardened(anon_client.get(f"{BASE}/patients"))  # 401
    assert_hardened(anon_client.get("/healthz"))
    settings.MAX_REQUEST_BODY_BYTES = 10
    too_big = admin_client.post(f"{BASE}/patients/filter", {"search": "x" * 50}, format="json")
    assert too_big.status_code == 413
    assert_hardened(too_big)


def test_security_headers_in_the_admin(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert_hardened(response)


def test_hsts_on_https_requests_only(db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    client = APIClient()  # a new client builds its middleware with these settings
    secure = client.get("/healthz", secure=True)
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in client.get("/healthz")


def test_a_safe_request_id_is_kept_and_an_unsafe_one_replaced(anon_client):
    kept = anon_client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abcd_EF:9")
    assert kept["X-Request-ID"] == "lb-1234.abcd_EF:9"
    for bad in ("<script>", "a b", "x" * 65, "id\nSet-Cookie: a=b", ""):
        replaced = anon_client.get("/healthz", HTTP_X_REQUEST_ID=bad)
        assert uuid.UUID(replaced["X-Request-ID"]).version == 4


def test_every_response_gets_its_own_request_id(anon_client):
    ids = {anon_client.get("/healthz")["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


# --- CORS ----------------------------------------------------------------------------------

ADMIN_FRONTEND = "https://admin.example.org"


def test_cors_answers_a_configured_origin_only(admin_client, settings, zebulon):
    settings.CORS_ALLOWED_ORIGINS = [ADMIN_FRONTEND]
    url = f"{BASE}/patients/{zebulon.pk}"
    allowed = admin_client.get(url, HTTP_ORIGIN=ADMIN_FRONTEND)
    assert allowed["Access-Control-Allow-Origin"] == ADMIN_FRONTEND
    exposed = {h.strip().lower() for h in allowed["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "x-request-id", "retry-after"} <= exposed
    assert "Access-Control-Allow-Credentials" not in allowed

    other = admin_client.get(url, HTTP_ORIGIN="https://evil.example.com")
    assert other.status_code == 200  # CORS is enforced by the browser...
    assert "Access-Control-Allow-Origin" not in other  # ...which gets no permission


def test_cors_preflight_allows_the_api_headers(db, settings):
    settings.CORS_ALLOWED_ORIGINS = [ADMIN_FRONTEND]
    response = APIClient().options(
        f"{BASE}/patients/1",
        HTTP_ORIGIN=ADMIN_FRONTEND,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-user-token, if-match, x-request-id, content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ADMIN_FRONTEND
    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"x-user-token", "if-match", "x-request-id", "content-type"} <= allowed
    assert "PUT" in response["Access-Control-Allow-Methods"]


def test_cors_error_responses_carry_the_headers_too(anon_client, settings):
    settings.CORS_ALLOWED_ORIGINS = [ADMIN_FRONTEND]
    response = anon_client.get(f"{BASE}/patients", HTTP_ORIGIN=ADMIN_FRONTEND)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == ADMIN_FRONTEND


def test_no_cors_for_the_django_admin(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [ADMIN_FRONTEND]
    response = client.get("/admin/login/", HTTP_ORIGIN=ADMIN_FRONTEND)
    assert "Access-Control-Allow-Origin" not in response


def test_admin_messages_are_kept_server_side(client):
    from tests.admin import sign_in

    assert django_settings.MESSAGE_STORAGE.endswith("session.SessionStorage")
    staff = sign_in(client, superuser=True)  # tokens are issued by superusers
    response = client.post(
        "/admin/accounts/apitoken/add/", {"user": staff.pk, "name": "ui", "days": "1"}
    )
    assert response.status_code == 302
    assert "messages" not in response.cookies
    assert "messages" not in client.cookies
    page = client.get(response["Location"]).content.decode()
    assert "<code>ecm_" in page  # shown once, from the session


# --- input limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/patients?search=Jo%00hn"),
        ("get", "/patients?status=new%00"),
        ("get", "/patients?sort_by=%00"),
        ("get", "/patients?x%00y=1"),
        ("get", "/patients/1?a=%00"),
        ("get", "/lead_care_managers?search=%00"),
        ("get", "/lead_care_managers?role=olcm%00"),
        ("get", "/patients/1/lead_care_managers?z=%00"),
        ("delete", "/lead_care_managers/assign?patient_id=1&role=olcm&reason=%00"),
        ("post", "/patients/filter?page=%00"),
        ("post", "/lead_care_managers/bulk_assign?atomic=%00"),
    ],
)
def test_nul_in_any_query_parameter_is_422(admin_client, method, path):
    response = getattr(admin_client, method)(f"{BASE}{path}")
    assert response.status_code == 422
    assert response.json()["errors"][0].endswith("must not contain NUL characters")


@pytest.mark.parametrize(
    ("method", "path", "body", "sentence"),
    [
        ("post", "/patients/filter", {"search": "a\x00b"}, "search must not contain NUL"),
        ("post", "/patients/filter", {"search": "a" * 201}, "search must be at most 200"),
        (
            "post",
            "/patients/filter",
            {"filters": {"authorization_status": "x" * 31}},
            "authorization_status must be at most 30",
        ),
        (
            "post",
            "/patients/filter",
            {"filters": {"authorization_status": "a\x00"}},
            "filters.authorization_status must not contain NUL",
        ),
        ("post", "/lead_care_managers/assign", {"reason": "a\x00"}, "reason must not contain NUL"),
        ("put", "/lead_care_managers/assign", {"reason": "a\x00"}, "reason must not contain NUL"),
        ("delete", "/lead_care_managers/assign", {"reason": "\x00"}, "reason must not contain NUL"),
        (
            "put",
            "/patients/{id}",
            {"patient": {"first_name": "A\x00"}},
            "patient.first_name must not contain NUL",
        ),
        ("patch", "/patients/{id}", {"patient": {"last_name": "A" * 101}}, "Last name is too long"),
        (
            "put",
            "/patients/{id}",
            {"patient": {"address": {"street": "x\x00"}}},
            "patient.address.street must not contain NUL",
        ),
        (
            "put",
            "/patients/{id}",
            {"patient": {"ecm_eligibility_information": {"ecm_provider_name": "p" * 201}}},
            "ECM provider name is too long",
        ),
    ],
)
def test_nul_and_overlong_strings_in_bodies_are_422(
    admin_client, zebulon, method, path, body, sentence
):
    if path.startswith("/lead_care_managers/assign"):
        body = {"patient_id": zebulon.pk, "olcm_user_id": 1, "role": "olcm", **body}
        if method == "delete":
            body.pop("olcm_user_id")
        else:
            body.pop("role")
    response = getattr(admin_client, method)(
        f"{BASE}{path.format(id=zebulon.pk)}", body, format="json"
    )
    assert response.status_code == 422, response.content
    assert any(sentence in error for error in response.json()["errors"]), response.json()


def test_overlong_reason_is_422(admin_client, zebulon):
    lcm = factories.lcm_user()
    body = {"patient_id": zebulon.pk, "olcm_user_id": lcm.pk, "reason": "r" * 1001}
    response = admin_client.post(f"{BASE}/lead_care_managers/assign", body, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["reason must be at most 1000 characters"]}


def test_a_bulk_body_with_unstorable_text_is_refused_as_a_whole(admin_client, zebulon):
    """Text the database cannot store makes the request malformed: 422 naming the item, and
    nothing written, not even the good items (it is not one failed item among others)."""
    lcm = factories.lcm_user()
    body = {
        "assignments": [
            {"patient_id": zebulon.pk, "olcm_user_id": lcm.pk, "reason": "ok"},
            {"patient_id": zebulon.pk, "olcm_user_id": lcm.pk, "reason": "bad\x00"},
        ]
    }
    response = admin_client.post(f"{BASE}/lead_care_managers/bulk_assign", body, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["assignments[1].reason must not contain NUL characters"]}
    assert not CaseLoad.objects.filter(patient=zebulon).exists()


def test_overlong_lcm_search_is_422(admin_client):
    response = admin_client.get(f"{BASE}/lead_care_managers", {"search": "s" * 201})
    assert response.status_code == 422
    assert response.json() == {"errors": ["search must be at most 200 characters"]}


def test_chunked_body_without_length_is_411(admin_client):
    response = admin_client.generic(
        "POST",
        f"{BASE}/patients/filter",
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    assert response.json()["errors"][0].startswith("Content-Length is required")


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        (f"{BASE}/lead_care_managers/bulk_assign", "ecm_not-a-token", 401),  # refused unread
        ("/healthz", None, 405),  # a method the route does not take
    ],
)
def test_a_body_the_answer_did_not_need_is_still_read_to_its_end(path, token, status):
    """gunicorn resets a connection it closes with more than 64 KiB of body unread; a proxy
    in front (nginx) that is still sending that body then answers 502, not the app's answer."""
    body = b'{"assignments": []}' + b" " * 300_000
    request = RequestFactory().generic(
        "POST", path, body, content_type="application/json", **_token_header(token)
    )
    stream = io.BytesIO(body)
    request.environ["wsgi.input"] = stream
    # The whole middleware stack and view, as a server calls them (the test client's handler,
    # which keeps the test's database connection open).
    response = ClientHandler(enforce_csrf_checks=False)(request.environ)
    assert response.status_code == status
    assert stream.tell() == len(body)


def _token_header(token):
    return {"HTTP_X_USER_TOKEN": token} if token else {}


def test_a_body_the_view_read_is_not_read_again(rf):
    body = b'{"a": 1}'
    request = rf.post("/anything", body, content_type="application/json")
    seen = []

    def view(req):
        seen.append(req.body)
        return HttpResponse(status=204)

    response = JsonErrorsMiddleware(view)(request)
    assert response.status_code == 204
    assert seen == [body]
    assert request.body == body


# --- logs ------------------------------------------------------------------------------------


def test_a_422_is_logged_with_its_request_id_and_without_the_search_term(admin_client, caplog):
    caplog.set_level(logging.INFO)
    response = admin_client.get(f"{BASE}/patients", {"search": "Zebulon", "per_page": "0"})
    assert response.status_code == 422
    request_id = response["X-Request-ID"]
    lines = [r for r in caplog.records if r.name == "ecm_admin.requests"]
    assert len(lines) == 1
    assert lines[0].request_id == request_id
    assert " 422 " in lines[0].getMessage()
    assert "/patients" in lines[0].getMessage()
    assert "Zebulon" not in caplog.text
    assert "search" not in caplog.text


@pytest.mark.undocumented_responses(reason="a 500 is no documented answer; this one is forced")
def test_a_500_is_logged_with_its_request_id_and_without_phi(
    admin_client, zebulon, caplog, monkeypatch
):
    caplog.set_level(logging.INFO)

    def broken(patient):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(patient_views, "patient_detail", broken)
    response = admin_client.get(f"{BASE}/patients/{zebulon.pk}")
    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    assert response.json() == {"errors": [f"Internal server error (request id {request_id})"]}
    assert b"Traceback" not in response.content and b"renderer" not in response.content
    error = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    assert error.request_id == request_id
    assert error.exc_info is not None  # the operators get the traceback...
    line = next(r for r in caplog.records if r.name == "ecm_admin.requests")
    assert line.request_id == request_id
    assert "Zebulon" not in caplog.text and "Quark" not in caplog.text  # ...but no PHI


def test_database_errors_are_logged_without_row_values(caplog):
    from django.db import IntegrityError

    from ecm_admin.exception_handler import api_exception_handler

    caplog.set_level(logging.INFO)
    detail = "Key (member_id)=(" + "MEM" + "SECRET) already exists"
    try:
        try:
            raise ValueError(detail)
        except ValueError as cause:
            raise IntegrityError(detail) from cause
    except IntegrityError as exc:
        response = api_exception_handler(exc, {})
    assert response.status_code == 500
    assert "MEMSECRET" not in caplog.text
    assert "IntegrityError" in caplog.text


def test_the_console_log_format_carries_the_request_id():
    from ecm_admin import settings as production  # the test settings replace LOGGING

    handler = production.LOGGING["handlers"]["console"]
    fmt = production.LOGGING["formatters"][handler["formatter"]]["format"]
    assert "%(request_id)s" in fmt
    # Every record has it, outside a request too: the format never fails.
    assert django_settings.LOGGING_CONFIG == "ecm_admin.request_context.configure_logging"
    record = logging.getLogger("anything").makeRecord("anything", logging.INFO, "", 0, "", (), None)
    assert logging.Formatter(fmt).format(record).split("[")[1].startswith("-]")


# --- deployment checks ---------------------------------------------------------------------


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "ecm_admin.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DEBUG": "0",
        "HTTPS_ONLY": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_of_this_issue():
    assert django_settings.MESSAGE_STORAGE == (
        "django.contrib.messages.storage.session.SessionStorage"
    )
    assert "corsheaders" in django_settings.INSTALLED_APPS
    assert "audit" in django_settings.INSTALLED_APPS
    assert django_settings.MIDDLEWARE[0] == "ecm_admin.request_context.RequestContextMiddleware"
