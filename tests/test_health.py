"""``GET /healthz``: public; ``{"status": "ok"}`` after ``SELECT 1``; 503 JSON if the DB is down."""

import pytest
from django.db import OperationalError
from django.test import Client
from rest_framework.test import APIClient

from ecm_admin import health

# The probe's own urlpatterns (the last test checks the root urlconf routes to them).
pytestmark = pytest.mark.urls("ecm_admin.health")


@pytest.mark.parametrize("url", ["/healthz", "/healthz/"])
def test_healthz_is_public_and_ok(db, url):
    response = APIClient().get(url)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_healthz_ignores_a_bad_token(db):
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN="ecm_nonsense")
    assert client.get("/healthz").status_code == 200


def test_healthz_head(db):
    assert Client().head("/healthz").status_code == 200


def test_healthz_wrong_verb_is_405_json(db):
    response = APIClient().post("/healthz", {}, format="json")
    assert response.status_code == 405
    assert "errors" in response.json()


def test_healthz_runs_select_1(db, django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        APIClient().get("/healthz")
    assert "SELECT 1" in captured.captured_queries[0]["sql"]


def test_healthz_is_503_json_when_the_database_is_down(db, monkeypatch):
    def unreachable():
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(health, "ping_database", unreachable)
    response = APIClient().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["errors"] and "database" in body["errors"][0].lower()
    assert int(response["Retry-After"]) > 0
    assert b"Connection refused" not in response.content


@pytest.mark.urls("ecm_admin.urls")
def test_healthz_is_wired_in_the_root_urlconf(db):
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
