import datetime as dt

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone

from accounts import admin as accounts_admin
from accounts.models import ApiToken, User, hash_token
from accounts.services import user_set_roles
from tests import factories
from tests.admin import PASSWORD, form_data, sign_in

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
TOKENS = reverse("admin:accounts_apitoken_changelist")


@pytest.fixture
def staff(client, db):
    """Users, roles and tokens need a superuser."""
    return sign_in(client, superuser=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- signing in --------------------------------------------------------------------------------


def test_a_staff_user_can_sign_in(client, db):
    user = factories.UserFactory(email="stella@example.org", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    response = client.post(LOGIN, {"username": "stella@example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200


def test_a_user_who_is_not_staff_cannot_sign_in(client, db):
    user = factories.UserFactory(email="nora@example.org", is_staff=False, roles=["admin"])
    user.set_password(PASSWORD)
    user.save()
    response = client.post(LOGIN, {"username": "nora@example.org", "password": PASSWORD})
    assert response.status_code == 200
    assert "Please enter the correct email and password for a staff account" in (
        response.content.decode()
    )
    index = client.get(INDEX)
    assert index.status_code == 302
    assert index["Location"].startswith(LOGIN)


# --- users -------------------------------------------------------------------------------------


def test_adding_a_user_with_a_password_and_roles(client, staff):
    ecm = factories.RoleFactory(name="ecm")
    admin_role = factories.RoleFactory(name="admin")
    add = reverse("admin:accounts_user_add")
    assert client.get(add).status_code == 200
    response = client.post(
        add,
        {
            "email": "New.Person@Example.org",
            "first_name": "New",
            "last_name": "Person",
            "assigned_roles": [ecm.pk, admin_role.pk],
            "usable_password": "true",
            "password1": "a-long-and-unusual-passphrase",
            "password2": "a-long-and-unusual-passphrase",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    user = User.objects.get(email="new.person@example.org")
    assert user.check_password("a-long-and-unusual-passphrase")
    assert user.role_names() == ["admin", "ecm"]
    assert not user.is_staff


def test_changing_roles_goes_through_the_service(client, staff, monkeypatch):
    user = factories.UserFactory(roles=["ecm", "coordinator"])
    provider = factories.RoleFactory(name="provider")
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = form_data(client.get(url))
    calls = []
    monkeypatch.setattr(
        accounts_admin,
        "user_set_roles",
        lambda **kwargs: calls.append(kwargs) or user_set_roles(**kwargs),
    )
    ecm = user.roles.get(name="ecm")
    data["assigned_roles"] = [str(ecm.pk), str(provider.pk)]
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert calls == [{"user": user, "roles": ["ecm", "provider"]}]
    user.refresh_from_db()
    assert user.role_names() == ["ecm", "provider"]


def test_the_user_page_lists_tokens_without_their_digest(client, staff):
    user = factories.UserFactory()
    token = factories.ApiTokenFactory(user=user, name="laptop")
    response = client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    html = response.content.decode()
    assert token.prefix in html
    assert "laptop" in html
    assert token.digest not in html
    assert token.raw not in html
    (inline,) = response.context["inline_admin_formsets"]
    assert not inline.has_add_permission
    assert not inline.has_change_permission


def test_the_password_is_changed_like_djangos_user_admin(client, staff):
    user = factories.UserFactory()
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = client.post(
        url, {"password1": "another-long-passphrase", "password2": "another-long-passphrase"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-long-passphrase")


# --- API tokens --------------------------------------------------------------------------------


def test_creating_a_token_shows_the_raw_value_once(client, staff):
    owner = factories.UserFactory(email="owner@example.org")
    add = reverse("admin:accounts_apitoken_add")
    assert client.get(add).status_code == 200
    response = client.post(add, {"user": owner.pk, "name": "ci", "days": "7"}, follow=True)
    assert response.status_code == 200

    (token,) = ApiToken.objects.filter(user=owner)
    (created,) = [m for m in messages_of(response) if m.startswith("New API token")]
    raw = created.split("<code>")[1].split("</code>")[0]
    assert raw.startswith(token.prefix)
    assert hash_token(raw) == token.digest
    assert response.content.decode().count(raw) == 1
    assert token.name == "ci"
    assert token.expires_at - token.created_at == dt.timedelta(days=7)
    # Only the digest is stored, and the raw value is never shown again.
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in {str(value) for value in stored.values()}
    for url in (TOKENS, reverse("admin:accounts_apitoken_change", args=[token.pk])):
        html = client.get(url).content.decode()
        assert raw not in html
        assert token.digest not in html


def test_a_stored_token_is_read_only(client, staff):
    token = factories.ApiTokenFactory(name="old")
    url = reverse("admin:accounts_apitoken_change", args=[token.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert "digest" not in response.context["adminform"].form.fields


def test_revoke_action(client, staff):
    live = factories.ApiTokenFactory()
    revoked_at = timezone.now() - dt.timedelta(days=1)
    revoked = factories.ApiTokenFactory(revoked_at=revoked_at)
    untouched = factories.ApiTokenFactory()
    response = client.post(
        TOKENS,
        {"action": "revoke", "index": "0", helpers.ACTION_CHECKBOX_NAME: [live.pk, revoked.pk]},
        follow=True,
    )
    assert messages_of(response) == ["Revoked 1 API token; 1 already revoked."]
    live.refresh_from_db()
    revoked.refresh_from_db()
    untouched.refresh_from_db()
    assert live.revoked_at is not None
    assert revoked.revoked_at == revoked_at
    assert untouched.revoked_at is None


def test_token_list_shows_state_and_never_the_digest(client, staff):
    live = factories.ApiTokenFactory()
    expired = factories.ApiTokenFactory(expires_at=timezone.now() - dt.timedelta(days=1))
    revoked = factories.ApiTokenFactory(revoked_at=timezone.now())
    html = client.get(TOKENS).content.decode()
    for token in (live, expired, revoked):
        assert token.prefix in html
        assert token.digest not in html
    for state in ("Live", "Expired", "Revoked"):
        assert f'<td class="field-state">{state}</td>' in html
    for state, token in (("live", live), ("expired", expired), ("revoked", revoked)):
        response = client.get(TOKENS, {"state": state})
        assert [t.pk for t in response.context["cl"].result_list] == [token.pk]
