"""The abuse limits through the API: who gets 429, and who is served (README, "What 429 means,
and for whom"). Run on the configured counter store: the database by default, Redis when
CACHE_URL=redis://... (CI runs this module both ways)."""

import datetime as dt
import secrets
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import TokenKind
from audit.models import AccessEvent
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.limits]

SIGN_IN = "/v1/auth/tokens"
PATIENTS = "/v1/admin/clinic/ecm/patients"
PASSWORD = "a long and unusual passphrase 42"
INVALID = {"errors": ["Invalid email or password"]}
TOO_MANY = {"errors": ["Too many failed attempts; try again later"]}
NAT = "203.0.113.7"  # one address for a whole clinic


def user(email: str, **kwargs):
    account = factories.UserFactory(email=email, roles=["admin"], **kwargs)
    account.set_password(PASSWORD)
    account.save()
    return account


@pytest.fixture
def alice():
    return user("alice@example.org")


@pytest.fixture
def bob():
    return user("bob@example.org")


def sign_in(email="alice@example.org", password=PASSWORD, ip=NAT):
    body = {"email": email, "password": password}
    return APIClient().post(SIGN_IN, body, format="json", REMOTE_ADDR=ip)


def get_patients(raw: str, ip: str = NAT):
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=raw)
    return client.get(PATIENTS, REMOTE_ADDR=ip)


def dead_tokens(owner) -> list[str]:
    """Tokens that fail in every way a real one can: unknown, expired, revoked, idle."""
    now = timezone.now()
    expired = factories.ApiTokenFactory(user=owner, expires_at=now - dt.timedelta(seconds=1))
    revoked = factories.ApiTokenFactory(user=owner, revoked_at=now)
    idle = factories.ApiTokenFactory(
        user=owner,
        kind=TokenKind.SIGN_IN,
        idle_timeout=dt.timedelta(minutes=20),
        last_used_at=now - dt.timedelta(hours=1),
    )
    return ["ecm_" + secrets.token_urlsafe(32), expired.raw, revoked.raw, idle.raw, "x"]


def assert_too_many(response, window: int):
    assert response.status_code == 429, response.content[:200]
    assert response.json() == TOO_MANY
    assert 0 < int(response["Retry-After"]) <= window + 1


# --- tokens ----------------------------------------------------------------------------------


def test_bad_tokens_are_refused_but_a_valid_token_is_served(admin, admin_token, settings):
    """60 bad, expired, revoked and idle tokens from one address, then a valid one: served."""
    limit, window = settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS
    assert limit == 10
    dead = dead_tokens(admin)
    statuses = []
    for n in range(60):
        response = get_patients(dead[n % len(dead)])
        statuses.append(response.status_code)
        if n >= limit:
            assert_too_many(response, window)
    assert statuses == [401] * limit + [429] * (60 - limit)
    assert get_patients(admin_token.raw).status_code == 200
    assert_too_many(get_patients(dead[0]), window)
    # Another address is not refused.
    assert get_patients(dead[0], ip="198.51.100.1").status_code == 401


def test_refused_tokens_are_audited_with_their_status(admin, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    bad = "ecm_" + secrets.token_urlsafe(32)
    for _ in range(3):
        get_patients(bad)
    events = list(AccessEvent.objects.order_by("id").values_list("action", "status_code"))
    assert events == [("auth_failed", 401), ("auth_failed", 401), ("rate_limited", 429)]


def test_token_failures_do_not_lock_sign_ins(admin, bob):
    for _ in range(60):
        get_patients("ecm_" + secrets.token_urlsafe(32))
    # bob has never signed in from this address.
    assert sign_in("bob@example.org").status_code == 201


def test_a_valid_token_is_limited_by_its_own_rate(admin_client, admin, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert admin_client.get(PATIENTS).status_code == 200
    response = admin_client.get(PATIENTS)
    assert response.status_code == 429
    assert list(response.json()) == ["errors"]
    assert response.json()["errors"][0].startswith("Rate limit exceeded")
    assert 0 < int(response["Retry-After"]) <= 61
    # Another token of the same user, from the same address, has its own count.
    assert (
        get_patients(factories.ApiTokenFactory(user=admin).raw, ip="127.0.0.1").status_code == 200
    )


def test_the_rate_limit_can_be_turned_off(admin_client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    for _ in range(5):
        assert admin_client.get(PATIENTS).status_code == 200


def test_the_failure_limit_can_be_turned_off(admin, admin_token, settings):
    settings.AUTH_FAILURE_LIMIT = 0
    for _ in range(15):
        assert get_patients("ecm_" + secrets.token_urlsafe(32)).status_code == 401


def test_sign_in_attempts_are_rate_limited_per_address(alice, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    assert sign_in().status_code == 201
    assert sign_in().status_code == 201
    response = sign_in()
    assert response.status_code == 429
    assert response.json()["errors"][0].startswith("Rate limit exceeded")
    assert sign_in(ip="198.51.100.1").status_code == 201


def test_the_failure_window_ends(admin, admin_token, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    settings.AUTH_FAILURE_WINDOW_SECONDS = 3  # room for a slow machine between the requests
    bad = "ecm_" + secrets.token_urlsafe(32)
    assert [get_patients(bad).status_code for _ in range(3)] == [401, 401, 429]
    time.sleep(3.2)
    assert get_patients(bad).status_code == 401


# --- sign-ins: per email -----------------------------------------------------------------------


def test_a_locked_email_is_refused_even_with_the_right_password(alice, bob, settings):
    limit, window = settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS
    for n in range(limit):
        assert sign_in(password="nope", ip=f"10.0.0.{n}").json() == INVALID
    for n in range(5):
        # The right password, from addresses that never failed: not even checked.
        assert_too_many(sign_in(ip=f"10.0.1.{n}"), window)
    # Another account, from one of those addresses, is not affected.
    assert sign_in("bob@example.org", ip="10.0.0.1").status_code == 201


def test_a_locked_email_signs_in_again_when_the_window_ends(alice, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    settings.AUTH_FAILURE_WINDOW_SECONDS = 3  # room for a slow machine between the requests
    sign_in(password="nope")
    sign_in(password="nope")
    assert sign_in().status_code == 429
    time.sleep(3.2)
    assert sign_in().status_code == 201


def test_a_successful_sign_in_clears_the_email_counter(alice, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    sign_in(password="nope", ip="10.0.0.1")
    sign_in(password="nope", ip="10.0.0.2")
    assert sign_in(ip="10.0.0.3").status_code == 201
    sign_in(password="nope", ip="10.0.0.4")
    sign_in(password="nope", ip="10.0.0.5")
    assert sign_in(ip="10.0.0.6").status_code == 201


# --- sign-ins: per address -----------------------------------------------------------------------


def test_an_address_with_60_failures_still_lets_its_known_users_sign_in(alice, bob, settings):
    """A clinic behind one address: someone there fails 60 times, on other accounts."""
    limit, window = settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS
    assert sign_in().status_code == 201  # alice signed in from the clinic before
    statuses = [sign_in(f"guess{n}@example.org", "nope").status_code for n in range(60)]
    assert statuses == [401] * limit + [429] * (60 - limit)
    assert sign_in().status_code == 201
    # bob never signed in from here: refused, right password or not, until the window ends,
    # so that a guesser cannot tell a right guess from a wrong one.
    assert_too_many(sign_in("bob@example.org"), window)
    assert_too_many(sign_in("bob@example.org", "nope"), window)
    # From anywhere else bob signs in; that does not make the clinic's address known for him.
    assert sign_in("bob@example.org", ip="198.51.100.1").status_code == 201
    assert_too_many(sign_in("bob@example.org"), window)


def test_refused_attempts_are_not_counted_as_failures(alice, bob, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    for n in range(3):
        sign_in(f"guess{n}@example.org", "nope")
    for _ in range(10):
        assert sign_in("bob@example.org", "nope").status_code == 429
    # bob's email counted none of those: from another address his wrong passwords are 401.
    for _ in range(3):
        assert sign_in("bob@example.org", "nope", ip="198.51.100.1").json() == INVALID


def test_a_known_users_wrong_password_at_a_locked_address_counts(alice, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    assert sign_in().status_code == 201
    for n in range(3):
        sign_in(f"guess{n}@example.org", "nope")
    # Checked (alice is known here), wrong, answered like everything failing from here.
    for _ in range(3):
        assert_too_many(sign_in(password="nope"), settings.AUTH_FAILURE_WINDOW_SECONDS)
    # ... and counted against alice's email: now locked everywhere.
    assert sign_in(ip="198.51.100.1").status_code == 429


def test_successful_sign_ins_do_not_count_against_the_address(settings):
    settings.AUTH_FAILURE_LIMIT = 3
    for n in range(8):
        user(f"staff{n}@example.org")
        assert sign_in(f"staff{n}@example.org").status_code == 201
    assert sign_in("staff0@example.org", "nope").json() == INVALID
