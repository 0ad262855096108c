"""The Django admin's sign-in under the same failure limits as the API's, per email and per
client address, with the same counters."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AccessEvent
from tests import factories
from tests.admin import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.limits]

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
NAT = "203.0.113.7"
WRONG_PASSWORD = "Please enter the correct email and password for a staff account"
LOCKED = "Too many failed sign-ins for this email or from this address."


@pytest.fixture
def staff():
    user = factories.UserFactory(email="stella@example.org", is_staff=True, roles=["admin"])
    user.set_password(PASSWORD)
    user.save()
    return user


def admin_sign_in(email="stella@example.org", password=PASSWORD, ip=NAT, client=None):
    client = client or Client()
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def events():
    return list(AccessEvent.objects.order_by("id").values_list("source", "action", "status_code"))


def test_60_wrong_passwords_lock_the_email_and_say_so(staff, settings):
    limit, window = settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS
    responses = [admin_sign_in(password=f"guess {n}") for n in range(60)]
    assert [r.status_code for r in responses] == [200] * limit + [429] * (60 - limit)
    assert WRONG_PASSWORD in responses[0].content.decode()
    locked = responses[-1]
    assert locked["Content-Type"].startswith("text/html")
    assert LOCKED in locked.content.decode()
    assert "Try again in 5 minutes." in locked.content.decode()
    assert 0 < int(locked["Retry-After"]) <= window
    # The right password now, from any address: refused, not checked.
    client = Client()
    right = admin_sign_in(ip="198.51.100.1", client=client)
    assert right.status_code == 429 and LOCKED in right.content.decode()
    assert client.get(INDEX).status_code == 302  # not signed in
    # Failures audited as before (the login form re-shown: 200), refusals as rate_limited.
    assert events() == [("admin", "auth_failed", 200)] * limit + [
        ("admin", "rate_limited", 429)
    ] * (61 - limit)


def test_the_admin_and_the_api_share_the_counters(staff, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    body = {"email": "stella@example.org", "password": "nope"}
    for _ in range(3):
        assert APIClient().post("/v1/auth/tokens", body, format="json").status_code == 401
    assert admin_sign_in(ip="198.51.100.1").status_code == 429
    other = factories.UserFactory(email="otto@example.org", is_staff=True)
    other.set_password(PASSWORD)
    other.save()
    for _ in range(3):
        assert admin_sign_in("otto@example.org", "nope").status_code == 200
    body = {"email": "otto@example.org", "password": PASSWORD}
    assert APIClient().post("/v1/auth/tokens", body, format="json").status_code == 429


def test_a_locked_address_lets_in_staff_who_signed_in_from_it_before(staff, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    client = Client()
    assert admin_sign_in(client=client).status_code == 302
    assert client.get(INDEX).status_code == 200
    newcomer = factories.UserFactory(email="nina@example.org", is_staff=True, roles=["admin"])
    newcomer.set_password(PASSWORD)
    newcomer.save()
    for n in range(3):
        assert admin_sign_in(f"guess{n}@example.org", "nope").status_code == 200
    assert admin_sign_in(f"guess{n}@example.org", "nope").status_code == 429
    assert admin_sign_in().status_code == 302
    refused = admin_sign_in("nina@example.org")
    assert refused.status_code == 429 and LOCKED in refused.content.decode()
    assert admin_sign_in("nina@example.org", ip="198.51.100.1").status_code == 302


def test_a_staff_sign_in_clears_the_email_counter(staff, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    admin_sign_in(password="nope")
    admin_sign_in(password="nope")
    assert admin_sign_in().status_code == 302
    admin_sign_in(password="nope")
    admin_sign_in(password="nope")
    assert admin_sign_in().status_code == 302


def test_a_user_who_is_not_staff_counts_as_a_failure(settings):
    settings.AUTH_FAILURE_LIMIT = 2
    user = factories.UserFactory(email="nora@example.org", is_staff=False, roles=["admin"])
    user.set_password(PASSWORD)
    user.save()
    assert admin_sign_in("nora@example.org").status_code == 200
    assert admin_sign_in("nora@example.org").status_code == 200
    assert admin_sign_in("nora@example.org").status_code == 429


def test_the_login_page_itself_is_not_refused(staff, settings):
    settings.AUTH_FAILURE_LIMIT = 1
    admin_sign_in(password="nope")
    assert admin_sign_in().status_code == 429
    assert Client().get(LOGIN, REMOTE_ADDR=NAT).status_code == 200
