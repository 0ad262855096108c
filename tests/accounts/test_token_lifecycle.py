"""Token lifecycle: sign in, sign out, expiry, idle timeout, storage (the abuse limits:
test_limits.py)."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import authentication
from accounts.authentication import LAST_USED_RESOLUTION
from accounts.models import ApiToken, TokenKind, hash_token
from accounts.services import token_create
from tests import factories
from tests.admin import sign_in as admin_sign_in

pytestmark = pytest.mark.django_db

SIGN_IN = "/v1/auth/tokens"
SIGN_OUT = "/v1/auth/tokens/current"
PATIENTS = "/v1/admin/clinic/ecm/patients"
PASSWORD = "a long and unusual passphrase 42"
INVALID = {"errors": ["Invalid email or password"]}


@pytest.fixture
def alice():
    user = factories.UserFactory(
        email="alice@example.org", first_name="Alice", last_name="Able", roles=["admin", "ecm"]
    )
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(email="alice@example.org", password=PASSWORD, ip="127.0.0.1"):
    body = {"email": email, "password": password}
    return APIClient().post(SIGN_IN, body, format="json", REMOTE_ADDR=ip)


def with_token(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=raw)
    return client


# --- sign in -------------------------------------------------------------------------------


def test_sign_in_returns_a_sign_in_token(alice, settings):
    before = timezone.now()
    response = sign_in(email="  ALICE@example.org ")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"] == {
        "id": alice.pk,
        "name": "Alice Able",
        "email": "alice@example.org",
        "roles": ["admin", "ecm"],
    }
    raw = body["token"]
    assert raw.startswith("ecm_") and len(raw) >= 4 + 43
    token = ApiToken.objects.get(digest=hash_token(raw))
    assert token.kind == TokenKind.SIGN_IN
    assert token.idle_timeout == dt.timedelta(minutes=settings.SIGN_IN_TOKEN_IDLE_MINUTES)
    lifetime = token.expires_at - before
    assert dt.timedelta(hours=12) <= lifetime < dt.timedelta(hours=12, seconds=30)
    assert body["expires_at"].endswith("Z")
    assert with_token(raw).get(PATIENTS).status_code == 200


def test_sign_in_lifetime_is_configurable(alice, settings):
    settings.SIGN_IN_TOKEN_HOURS = 2
    raw = sign_in().json()["token"]
    token = ApiToken.objects.get(digest=hash_token(raw))
    assert token.expires_at - token.created_at == dt.timedelta(hours=2)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("alice@example.org", "wrong password"),
        ("nobody@example.org", PASSWORD),
        ("nobody@example.org", "wrong password"),
    ],
)
def test_wrong_credentials_are_one_indistinct_401(alice, email, password):
    response = sign_in(email, password)
    assert response.status_code == 401
    assert response.json() == INVALID
    assert response["WWW-Authenticate"] == "Token"


def test_an_inactive_user_gets_the_same_401(alice):
    alice.is_active = False
    alice.save()
    response = sign_in()
    assert (response.status_code, response.json()) == (401, INVALID)


def test_a_user_without_admin_role_may_sign_in_but_not_call_the_api(alice):
    alice.roles.clear()
    raw = sign_in().json()["token"]
    assert with_token(raw).get(PATIENTS).status_code == 403


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ({}, "email is required; password is required"),
        ({"email": "a@b.c"}, "password is required"),
        ({"email": "", "password": None}, "email is required; password is required"),
        ({"email": 5, "password": "x"}, "email must be a string"),
        ({"email": "a@b.c", "password": "x\x00y"}, "password must not contain NUL characters"),
        ({"email": "a\x00@b.c", "password": "x"}, "email must not contain NUL characters"),
        ({"email": "a" * 255, "password": "x"}, "email must be at most 254 characters"),
        ({"email": "a@b.c", "password": "x" * 1025}, "password must be at most 1024 characters"),
        ({"email": "a@b.c", "password": "x", "remember": True}, "Unknown key: remember"),
    ],
)
def test_sign_in_input_is_validated(db, body, sentence):
    response = APIClient().post(SIGN_IN, body, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": sentence.split("; ")}


def test_sign_in_needs_no_token_and_ignores_a_bad_one(alice):
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN="ecm_garbage")
    body = {"email": "alice@example.org", "password": PASSWORD}
    assert client.post(SIGN_IN, body, format="json").status_code == 201


# --- sign out ------------------------------------------------------------------------------


def test_sign_out_revokes_the_token_used(alice):
    raw = sign_in().json()["token"]
    other = sign_in().json()["token"]
    client = with_token(raw)
    response = client.delete(SIGN_OUT)
    assert response.status_code == 200
    assert response.json() == {"message": "Signed out"}
    after = client.get(PATIENTS)
    assert after.status_code == 401
    assert after.json() == {"errors": ["Token has been revoked"]}
    assert with_token(other).get(PATIENTS).status_code == 200


def test_sign_out_needs_a_valid_token_of_any_role(alice):
    assert APIClient().delete(SIGN_OUT).status_code == 401
    viewer = factories.UserFactory(roles=["ecm"])
    token = factories.ApiTokenFactory(user=viewer)
    assert with_token(token.raw).delete(SIGN_OUT).status_code == 200


# --- expiry and idle timeout -------------------------------------------------------------


def _age(token: ApiToken, *, last_used: dt.timedelta | None, created: dt.timedelta) -> None:
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=now - created, last_used_at=(now - last_used) if last_used else None
    )


def test_sign_in_token_expires_after_the_idle_timeout(alice, settings):
    settings.SIGN_IN_TOKEN_IDLE_MINUTES = 20
    raw = sign_in().json()["token"]
    token = ApiToken.objects.get(digest=hash_token(raw))
    client = with_token(raw)

    # last_used_at is written at most once a minute: 20 minutes after it, the last real use
    # may have been 19 minutes ago, so the token still works...
    _age(token, last_used=dt.timedelta(minutes=20, seconds=30), created=dt.timedelta(hours=1))
    assert client.get(PATIENTS).status_code == 200
    # ...and using it moved last_used_at forward.
    token.refresh_from_db()
    assert timezone.now() - token.last_used_at < dt.timedelta(seconds=5)

    _age(token, last_used=dt.timedelta(minutes=21, seconds=1), created=dt.timedelta(hours=1))
    response = client.get(PATIENTS)
    assert response.status_code == 401
    assert response.json() == {"errors": ["Token has expired (idle)"]}
    # A refused token is not revived by the attempt.
    assert client.get(PATIENTS).status_code == 401


def test_a_never_used_sign_in_token_idles_from_its_creation(alice):
    raw = sign_in().json()["token"]
    token = ApiToken.objects.get(digest=hash_token(raw))
    _age(token, last_used=None, created=dt.timedelta(minutes=25))
    assert with_token(raw).get(PATIENTS).json() == {"errors": ["Token has expired (idle)"]}


def test_idle_check_uses_the_resolution_of_last_used_at():
    token = ApiToken(
        idle_timeout=dt.timedelta(minutes=20),
        created_at=timezone.now(),
        last_used_at=timezone.now(),
    )
    now = token.last_used_at
    edge = dt.timedelta(minutes=20) + LAST_USED_RESOLUTION
    assert not authentication.idle_expired(token, now + edge - dt.timedelta(seconds=1))
    assert authentication.idle_expired(token, now + edge)


def test_service_tokens_have_no_idle_timeout_unless_asked(admin):
    token, raw = token_create(user=admin, days=1)
    assert token.kind == TokenKind.SERVICE and token.idle_timeout is None
    _age(token, last_used=dt.timedelta(days=0.9), created=dt.timedelta(days=0.95))
    assert with_token(raw).get(PATIENTS).status_code == 200


def test_create_token_idle_minutes(admin):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_token", "--email", admin.email, "--idle-minutes", "5", stdout=out,
                 stderr=StringIO())  # fmt: skip
    token = ApiToken.objects.get(digest=hash_token(out.getvalue().strip()))
    assert token.idle_timeout == dt.timedelta(minutes=5)
    assert token.kind == TokenKind.SERVICE


def test_service_token_lifetime_defaults_to_the_setting(admin, settings):
    settings.API_TOKEN_DEFAULT_DAYS = 3
    token, _ = token_create(user=admin)
    assert token.expires_at - token.created_at == dt.timedelta(days=3)


# --- storage -------------------------------------------------------------------------------


def _text_columns():
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                yield table, column.name


def test_no_raw_token_is_stored_in_any_column(alice, client):
    raws = [sign_in().json()["token"]]
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_token", "--email", alice.email, stdout=out, stderr=StringIO())
    raws.append(out.getvalue().strip())
    staff = admin_sign_in(client, superuser=True)  # tokens are issued by superusers
    response = client.post(
        "/admin/accounts/apitoken/add/", {"user": staff.pk, "name": "ui", "days": "1"}, follow=True
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    admin_raw = next(word for m in messages for word in m.split("<code>")[1:]).split("</code>")[0]
    raws.append(admin_raw)
    for raw in raws:
        assert with_token(raw).get(PATIENTS).status_code == 200  # each an admin's token

    columns = list(_text_columns())
    assert len(columns) > 50
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for raw in raws:
            secret = raw[12:]  # everything after the stored, non-secret prefix
            for table, column in columns:
                cursor.execute(
                    f"SELECT COUNT(*) FROM {qn(table)} WHERE CAST({qn(column)} AS TEXT) LIKE %s",
                    [f"%{secret}%"],
                )
                assert cursor.fetchone()[0] == 0, f"{table}.{column} holds a raw token"
