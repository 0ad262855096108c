"""The one error envelope, ``{"errors": ["sentence", ...]}``, and the pagination helper.

API.md §1: JSON always (never an HTML page, not even for 404, 405, 500 or a database outage),
400 for malformed JSON, 413 for a body over the limit, 500 without a stack trace, 503 with
``Retry-After`` when the database is down; ``page`` and ``per_page`` rules.

The views here are test-only (this module is the urlconf), so the tests do not depend on
the real routes.
"""

import json

import pytest
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404, JsonResponse
from django.test import Client
from django.urls import path
from django.views.decorators.http import require_GET
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import Role
from ecm_admin.exceptions import INTERNAL_ERROR, UnprocessableEntity
from ecm_admin.pagination import MAX_PER_PAGE, page_request, paginate

SECRET_DETAIL = "SELECT first_name FROM patients_patient WHERE last_name = 'Doe' -- Jane Doe"


class EchoView(APIView):
    """Project defaults (admin token required)."""

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        if not isinstance(request.data, dict):
            raise UnprocessableEntity("Request body must be a JSON object")
        return Response({"received": request.data})


class PublicView(APIView):
    authentication_classes = []
    permission_classes = []


class BoomView(PublicView):
    def get(self, request):
        raise RuntimeError(SECRET_DETAIL)


class DatabaseDownView(PublicView):
    def get(self, request):
        raise OperationalError("could not connect to server: Connection refused")


class RolePageView(PublicView):
    """The pagination helper over a real queryset, from the query string or a JSON body."""

    def _page(self, params):
        queryset = Role.objects.filter(name__startswith="zz-page-").order_by("name", "id")
        return Response(
            paginate(queryset, page_request(params), "roles", lambda r: {"name": r.name})
        )

    def get(self, request):
        return self._page(request.query_params)

    def post(self, request):
        return self._page(request.data)


class WriteThenBoomView(PublicView):
    def post(self, request):
        Role.objects.create(name="zz-written-before-failure")
        raise RuntimeError(SECRET_DETAIL)


def plain_boom(request):
    raise RuntimeError(SECRET_DETAIL)


def plain_database_down(request):
    raise OperationalError("could not connect to server: Connection refused")


PLAIN_CLIENT_ERRORS = {
    "not-found": (Http404("No such thing"), 404),
    "forbidden": (PermissionDenied(), 403),
    "bad-request": (BadRequest("bad"), 400),
    "suspicious": (SuspiciousOperation("odd"), 400),
}


def plain_client_error(request, kind):
    raise PLAIN_CLIENT_ERRORS[kind][0]


@require_GET
def plain_get_only(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("echo", EchoView.as_view()),
    path("boom", BoomView.as_view()),
    path("db-down", DatabaseDownView.as_view()),
    path("roles", RolePageView.as_view()),
    path("write-then-boom", WriteThenBoomView.as_view()),
    path("plain/boom", plain_boom),
    path("plain/db-down", plain_database_down),
    path("plain/get-only", plain_get_only),
    path("plain/client-error/<str:kind>", plain_client_error),
]

pytestmark = pytest.mark.urls("tests.test_error_envelope")


def assert_envelope(response, status: int) -> list[str]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"errors"}, body
    errors = body["errors"]
    assert isinstance(errors, list) and errors
    assert all(isinstance(e, str) and e for e in errors)
    assert b"<html" not in response.content.lower()
    assert b"Traceback" not in response.content
    return errors


# --- 404 -------------------------------------------------------------------------------------


@pytest.mark.urls("ecm_admin.urls")
@pytest.mark.parametrize(
    "url", ["/no/such/route", "/v1/admin/clinic/ecm/no_such_resource", "/v1/", "/"]
)
def test_unknown_route_is_404_json(db, url):
    for client in (APIClient(), Client()):
        assert_envelope(client.get(url), 404)


@pytest.mark.urls("ecm_admin.urls")
def test_unknown_route_is_404_json_with_debug_on_too(db, settings):
    settings.DEBUG = True
    errors = assert_envelope(Client().get("/no/such/route"), 404)
    assert errors == ["Not found"]


def test_unknown_route_in_any_urlconf_is_404_json(db):
    # This urlconf defines no handler404: the middleware still answers with the envelope.
    assert assert_envelope(Client().get("/nowhere"), 404) == ["Not found"]


def test_unknown_route_is_404_json_for_every_verb(db):
    client = APIClient()
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)("/nowhere", {"a": 1}, format="json")
        assert_envelope(response, 404)


# --- 405 -------------------------------------------------------------------------------------


def test_wrong_verb_is_405_json(admin_client):
    errors = assert_envelope(admin_client.delete("/echo"), 405)
    assert "DELETE" in errors[0]
    assert_envelope(admin_client.put("/echo", {"a": 1}, format="json"), 405)


def test_wrong_verb_on_public_view_is_405_json(db):
    response = APIClient().post("/boom", {}, format="json")
    assert_envelope(response, 405)
    assert "GET" in response["Allow"]


def test_wrong_verb_on_plain_django_view_is_405_json_with_allow(db):
    response = Client().post("/plain/get-only", {})
    assert assert_envelope(response, 405) == ["Method not allowed"]
    assert response["Allow"] == "GET"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- 400 / 415 / 422 on bodies ---------------------------------------------------------------


@pytest.mark.parametrize("body", ['{"a": ', "{'a': 1}", "not json", '{"a": 1}}', "\ufeff{"])
def test_malformed_json_body_is_400(admin_client, body):
    response = admin_client.post("/echo", body, content_type="application/json")
    errors = assert_envelope(response, 400)
    assert "JSON" in errors[0]


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null", "true"])
def test_non_object_json_is_what_the_view_decides(admin_client, body):
    response = admin_client.post("/echo", body, content_type="application/json")
    assert assert_envelope(response, 422) == ["Request body must be a JSON object"]


def test_json_object_body_reaches_the_view(admin_client):
    response = admin_client.post("/echo", {"name": "x"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"received": {"name": "x"}}


def test_form_body_is_415_json(admin_client):
    response = admin_client.post("/echo", "a=1", content_type="application/x-www-form-urlencoded")
    errors = assert_envelope(response, 415)
    assert "application/json" in errors[0]


# --- 413 -------------------------------------------------------------------------------------


def test_body_over_the_limit_is_413_json(admin_client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 64
    response = admin_client.post("/echo", {"padding": "x" * 200}, format="json")
    errors = assert_envelope(response, 413)
    assert "64" in errors[0]


def test_body_at_the_limit_is_accepted(admin_client, settings):
    body = json.dumps({"padding": "x" * 40})
    settings.MAX_REQUEST_BODY_BYTES = len(body)
    response = admin_client.post("/echo", body, content_type="application/json")
    assert response.status_code == 200


def test_body_over_the_limit_is_refused_before_authentication(settings, db):
    settings.MAX_REQUEST_BODY_BYTES = 10
    response = APIClient().post("/echo", {"padding": "x" * 50}, format="json")
    assert_envelope(response, 413)


def test_non_numeric_content_length_is_400_json(admin_client):
    response = admin_client.post(
        "/echo", "{}", content_type="application/json", CONTENT_LENGTH="abc"
    )
    assert_envelope(response, 400)


# --- 500 -------------------------------------------------------------------------------------


def test_unexpected_exception_in_api_view_is_500_without_details(db, caplog):
    response = APIClient().get("/boom")
    request_id = response["X-Request-ID"]
    assert assert_envelope(response, 500) == [f"{INTERNAL_ERROR} (request id {request_id})"]
    assert b"Doe" not in response.content and b"SELECT" not in response.content
    # ...but the operators still get the traceback in the log.
    assert "RuntimeError" in caplog.text


def test_unexpected_exception_in_plain_view_is_500_without_details(db):
    client = Client(raise_request_exception=False)
    response = client.get("/plain/boom")
    request_id = response["X-Request-ID"]
    assert assert_envelope(response, 500) == [f"{INTERNAL_ERROR} (request id {request_id})"]
    assert b"Doe" not in response.content


def test_unexpected_exception_is_json_with_debug_on_too(db, settings):
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    response = client.get("/plain/boom")
    assert_envelope(response, 500)
    assert b"Doe" not in response.content


def test_failed_request_rolls_back_its_writes_under_atomic_requests(db, monkeypatch):
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    response = APIClient().post("/write-then-boom", {}, format="json")
    assert_envelope(response, 500)
    assert not Role.objects.filter(name="zz-written-before-failure").exists()


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("kind", sorted(PLAIN_CLIENT_ERRORS))
def test_django_client_errors_in_plain_views_keep_their_status(db, settings, kind, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get(f"/plain/client-error/{kind}")
    assert_envelope(response, PLAIN_CLIENT_ERRORS[kind][1])


# --- 503 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/db-down", "/plain/db-down"])
def test_database_outage_is_503_with_retry_after(db, url):
    client = Client(raise_request_exception=False)
    errors = assert_envelope(client.get(url), 503)
    response = client.get(url)
    assert int(response["Retry-After"]) > 0
    assert "database" in errors[0].lower()
    assert b"Connection refused" not in response.content


# --- pagination ------------------------------------------------------------------------------


@pytest.fixture
def five_roles(db):
    for letter in "abcde":
        Role.objects.create(name=f"zz-page-{letter}")


def names(response) -> list[str]:
    return [row["name"] for row in response.json()["roles"]]


def test_pagination_defaults(five_roles):
    response = APIClient().get("/roles")
    assert response.status_code == 200
    assert len(names(response)) == 5
    assert response.json()["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 5,
        "per_page": 25,
    }


def test_pagination_pages_are_disjoint_and_ordered(five_roles):
    client = APIClient()
    pages = [names(client.get("/roles", {"page": p, "per_page": 2})) for p in (1, 2, 3)]
    assert pages == [
        ["zz-page-a", "zz-page-b"],
        ["zz-page-c", "zz-page-d"],
        ["zz-page-e"],
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "-1"},
        {"page": "abc"},
        {"page": "1.5"},
        {"page": "1e3"},
        {"page": "٣"},  # a non-ASCII digit
        {"per_page": "0"},
        {"per_page": "-5"},
        {"per_page": "ten"},
        {"page": "99999999999999999999999"},
    ],
)
def test_page_or_per_page_not_a_positive_integer_is_422(five_roles, params):
    response = APIClient().get("/roles", params)
    errors = assert_envelope(response, 422)
    assert next(iter(params)) in errors[0]


@pytest.mark.parametrize(
    "body", [{"page": 0}, {"page": True}, {"per_page": -1}, {"per_page": [10]}, {"page": "x"}]
)
def test_page_in_json_body_not_a_positive_integer_is_422(five_roles, body):
    assert_envelope(APIClient().post("/roles", body, format="json"), 422)


def test_page_in_json_body_accepts_integers_and_digit_strings(five_roles):
    client = APIClient()
    for body in ({"page": 2, "per_page": 2}, {"page": "2", "per_page": "2"}):
        response = client.post("/roles", body, format="json")
        assert response.status_code == 200
        assert names(response) == ["zz-page-c", "zz-page-d"]


def test_per_page_above_the_cap_is_served_and_reported_as_100(db):
    Role.objects.bulk_create(Role(name=f"zz-page-{i:03d}") for i in range(MAX_PER_PAGE + 5))
    response = APIClient().get("/roles", {"per_page": 500})
    assert response.status_code == 200
    assert len(names(response)) == MAX_PER_PAGE == 100
    assert response.json()["pagination"] == {
        "current_page": 1,
        "total_pages": 2,
        "total_count": 105,
        "per_page": 100,
    }


def test_page_past_the_end_is_empty_with_correct_totals(five_roles):
    response = APIClient().get("/roles", {"page": 10, "per_page": 2})
    assert response.status_code == 200
    assert response.json() == {
        "roles": [],
        "pagination": {"current_page": 10, "total_pages": 3, "total_count": 5, "per_page": 2},
    }


def test_empty_result_has_zero_pages(db):
    response = APIClient().get("/roles")
    assert response.json() == {
        "roles": [],
        "pagination": {"current_page": 1, "total_pages": 0, "total_count": 0, "per_page": 25},
    }


def test_page_request_blank_values_take_the_defaults():
    request = page_request({"page": "", "per_page": None})
    assert (request.page, request.per_page, request.offset) == (1, 25, 0)
    assert page_request({"page": " 3 ", "per_page": "10"}).offset == 20
