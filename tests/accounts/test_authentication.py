"""``X-User-Token`` authentication and the admin-role permission (API.md §1).

The tests call a tiny view defined here, with the global defaults (token authentication,
admin role required), so they do not depend on the real routes.
"""

import datetime as dt
import hashlib

import pytest
from django.apps import apps
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts import services
from accounts.authentication import LAST_USED_RESOLUTION
from accounts.models import TOKEN_DISPLAY_CHARS, ApiToken
from tests import factories


class WhoAmIView(APIView):
    """Uses the project defaults: token authentication, admin role."""

    def get(self, request):
        return Response({"id": request.user.id, "email": request.user.email})

    def post(self, request):
        return Response({"received": request.data})


urlpatterns = [path("whoami", WhoAmIView.as_view())]

pytestmark = [pytest.mark.urls("tests.accounts.test_authentication"), pytest.mark.django_db]

URL = "/whoami"


def client_with(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=raw)
    return client


def assert_401(response, message: str = "Authentication required"):
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"errors": [message]}
    assert response["WWW-Authenticate"] == "Token"


# --- 401 -------------------------------------------------------------------------------------


def test_missing_header_is_401_with_www_authenticate(anon_client):
    assert_401(anon_client.get(URL))


def test_missing_header_on_a_write_is_401_too(anon_client):
    assert_401(anon_client.post(URL, {"a": 1}, format="json"))


@pytest.mark.parametrize("raw", ["", "   ", "ecm_not-a-real-token", "x" * 5000])
def test_unknown_blank_or_oversized_token_is_401(raw):
    assert_401(client_with(raw).get(URL))


def test_expired_token_is_401_token_has_expired(admin):
    token = factories.ApiTokenFactory(
        user=admin, expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert_401(client_with(token.raw).get(URL), "Token has expired")


def test_revoked_token_is_401(admin):
    token = factories.ApiTokenFactory(user=admin)
    services.tokens_revoke(user=admin)
    response = client_with(token.raw).get(URL)
    assert_401(response, response.json()["errors"][0])
    assert "revoked" in response.json()["errors"][0]


def test_inactive_user_is_401(admin, admin_token):
    admin.is_active = False
    admin.save(update_fields=["is_active"])
    response = client_with(admin_token.raw).get(URL)
    assert_401(response, response.json()["errors"][0])
    assert "inactive" in response.json()["errors"][0]


def test_token_in_another_header_or_query_string_is_not_accepted(admin_token):
    client = APIClient()
    assert_401(client.get(URL, HTTP_AUTHORIZATION=f"Token {admin_token.raw}"))
    assert_401(client.get(URL, {"token": admin_token.raw, "X-User-Token": admin_token.raw}))


def test_401_body_leaks_nothing_about_the_token(admin):
    token = factories.ApiTokenFactory(user=admin, expires_at=timezone.now() - dt.timedelta(days=1))
    body = client_with(token.raw).get(URL).content.decode()
    assert token.raw not in body
    assert admin.email not in body


# --- 403 and success -------------------------------------------------------------------------


def test_authenticated_without_admin_role_is_403_exact(viewer_client):
    response = viewer_client.get(URL)
    assert response.status_code == 403
    assert response.json() == {"errors": ["Admin access required"]}


def test_user_with_no_roles_at_all_is_403():
    token = factories.ApiTokenFactory(user=factories.UserFactory())
    response = client_with(token.raw).get(URL)
    assert response.status_code == 403
    assert response.json() == {"errors": ["Admin access required"]}


def test_admin_token_authenticates(admin_client, admin):
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"id": admin.id, "email": admin.email}


def test_surrounding_whitespace_in_header_is_tolerated(admin_token):
    response = client_with(f"  {admin_token.raw} ").get(URL)
    assert response.status_code == 200


def test_token_issued_by_the_service_authenticates(admin):
    _, raw = services.token_create(user=admin, days=1, name="cli")
    assert client_with(raw).get(URL).status_code == 200


def test_role_granted_later_takes_effect_on_next_request():
    user = factories.UserFactory()
    token = factories.ApiTokenFactory(user=user)
    client = client_with(token.raw)
    assert client.get(URL).status_code == 403
    services.user_set_roles(user=user, roles=["admin"])
    assert client.get(URL).status_code == 200


# --- last_used_at ----------------------------------------------------------------------------


def _token_updates(queries) -> int:
    table = ApiToken._meta.db_table
    return sum(
        1 for q in queries if q["sql"].lstrip().upper().startswith("UPDATE") and table in q["sql"]
    )


def test_last_used_at_is_written_on_use_at_most_once_a_minute(admin_client, admin_token):
    assert admin_token.last_used_at is None

    before = timezone.now()
    with CaptureQueriesContext(connection) as first_queries:
        assert admin_client.get(URL).status_code == 200
    admin_token.refresh_from_db()
    first = admin_token.last_used_at
    assert first is not None and first >= before
    assert _token_updates(first_queries.captured_queries) == 1

    with CaptureQueriesContext(connection) as second_queries:
        assert admin_client.get(URL).status_code == 200
    admin_token.refresh_from_db()
    assert admin_token.last_used_at == first
    assert _token_updates(second_queries.captured_queries) == 0

    stale = first - LAST_USED_RESOLUTION - dt.timedelta(seconds=1)
    ApiToken.objects.filter(pk=admin_token.pk).update(last_used_at=stale)
    with CaptureQueriesContext(connection) as third_queries:
        assert admin_client.get(URL).status_code == 200
    admin_token.refresh_from_db()
    assert admin_token.last_used_at >= first
    assert _token_updates(third_queries.captured_queries) == 1


def test_failed_authentication_does_not_touch_last_used_at(admin):
    token = factories.ApiTokenFactory(
        user=admin, expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    client_with(token.raw).get(URL)
    token.refresh_from_db()
    assert token.last_used_at is None


# --- storage ---------------------------------------------------------------------------------


def test_raw_token_is_in_no_database_column(admin):
    token, raw = services.token_create(user=admin, days=1, name="ci")
    assert client_with(raw).get(URL).status_code == 200

    token.refresh_from_db()
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:TOKEN_DISPLAY_CHARS]
    secret = raw[TOKEN_DISPLAY_CHARS:]
    assert len(secret) >= 32

    searched = 0
    tables = set(connection.introspection.table_names())  # some exist on PostgreSQL only
    for model in apps.get_models():
        if model._meta.db_table not in tables:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, (models.CharField, models.TextField)):
                continue
            manager = model._base_manager
            assert not manager.filter(**{f"{field.attname}__contains": secret}).exists(), (
                f"{model._meta.label}.{field.name} holds the token"
            )
            searched += 1
    assert searched > 5
