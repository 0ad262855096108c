"""create_user, create_token and revoke_tokens (API.md §5)."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import UserTokenAuthentication
from accounts.models import ApiToken, User, hash_token
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-42"


def run(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def authenticate(raw: str):
    request = RequestFactory().get("/", HTTP_X_USER_TOKEN=raw)
    return UserTokenAuthentication().authenticate(request)


# --- create_user -------------------------------------------------------------------------


def create_user(*extra: str, email="Jane.Coordinator@Example.org", roles="admin,ecm"):
    return run(
        "create_user",
        "--email",
        email,
        "--first-name",
        "Jane",
        "--last-name",
        "Coordinator",
        "--roles",
        roles,
        *extra,
    )


def test_create_user_with_password_from_env_and_staff(monkeypatch):
    monkeypatch.setenv("NEW_USER_PASSWORD", PASSWORD)

    out, _ = create_user("--staff", "--password-from-env", "NEW_USER_PASSWORD")

    assert out == (
        "Created user jane.coordinator@example.org (roles: admin, ecm; staff with the admin "
        "role: can view, add and change patients, ECM eligibility information, ECM "
        "authorizations and case loads; can only view ECM status history, activities, LCM "
        "assignment history and access events; can view and change Lead Care Manager workload; "
        "users, roles and API tokens need a superuser)\n"
    )
    user = User.objects.get()
    assert user.email == "jane.coordinator@example.org"
    assert user.name == "Jane Coordinator"
    assert user.is_staff and user.is_active
    assert user.role_names() == ["admin", "ecm"]
    assert user.check_password(PASSWORD)


def test_create_user_says_a_staff_user_without_the_admin_role_sees_nothing():
    out, _ = create_user("--staff", roles="ecm")

    assert out == (
        "Created user jane.coordinator@example.org (roles: ecm; staff without the admin role: "
        "can sign in to the Django admin but sees nothing)\n"
    )


def test_create_user_says_a_superuser_can_do_everything():
    factories.UserFactory(email="jane.coordinator@example.org", is_superuser=True)

    out, _ = create_user("--staff", roles="ecm")

    assert out == (
        "Updated user jane.coordinator@example.org (roles: ecm; superuser: can do everything "
        "in the Django admin)\n"
    )


def test_create_user_without_password_gets_an_unusable_one():
    out, _ = create_user(roles=" ECM , coordinator,ecm")

    assert out == "Created user jane.coordinator@example.org (roles: coordinator, ecm)\n"
    user = User.objects.get()
    assert not user.has_usable_password()
    assert not user.is_staff


def test_create_user_updates_by_email_and_replaces_roles():
    user = factories.UserFactory(
        email="jane.coordinator@example.org", roles=["admin", "provider"], is_staff=True
    )
    user.set_password(PASSWORD)
    user.save()

    out, _ = create_user(email="JANE.COORDINATOR@example.org", roles="ecm")

    assert out == "Updated user jane.coordinator@example.org (roles: ecm)\n"
    user.refresh_from_db()
    assert User.objects.count() == 1
    assert user.role_names() == ["ecm"]
    assert not user.is_staff
    assert user.check_password(PASSWORD), "no --password-from-env: the password is kept"


def test_create_user_missing_password_variable(monkeypatch):
    monkeypatch.delenv("NO_SUCH_VARIABLE", raising=False)

    with pytest.raises(CommandError, match="NO_SUCH_VARIABLE is not set"):
        create_user("--password-from-env", "NO_SUCH_VARIABLE")
    assert not User.objects.exists()


def test_create_user_empty_or_weak_password(monkeypatch):
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.setenv("WEAK", "password")
    with pytest.raises(CommandError, match="EMPTY is empty"):
        create_user("--password-from-env", "EMPTY")
    with pytest.raises(CommandError, match="Password rejected"):
        create_user("--password-from-env", "WEAK")
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"email": "not-an-email"}, "--email is not a valid email address"),
        ({"roles": "admin,bad role"}, "bad role is not a role name"),
    ],
)
def test_create_user_validates_input(options, message):
    with pytest.raises(CommandError, match=message):
        create_user(**options)
    assert not User.objects.exists()


def test_create_user_blank_name():
    with pytest.raises(CommandError, match="--first-name can't be blank"):
        run("create_user", "--email=a@example.org", "--first-name= ", "--last-name=X", "--roles=")


def test_create_user_dry_run_writes_nothing(monkeypatch):
    monkeypatch.setenv("NEW_USER_PASSWORD", PASSWORD)

    out, _ = create_user("--password-from-env", "NEW_USER_PASSWORD", "--dry-run")

    assert out == (
        "Would create user jane.coordinator@example.org (roles: admin, ecm) "
        "(dry run: nothing written)\n"
    )
    assert not User.objects.exists()


# --- create_token ------------------------------------------------------------------------


def test_create_token_prints_only_the_token_and_stores_only_its_digest():
    user = factories.UserFactory(email="ops@example.org", roles=["admin"])

    out, err = run("create_token", "--email", "OPS@example.org", "--days", "7", "--name", "ci")

    raw = out.removesuffix("\n")
    assert out.count("\n") == 1 and raw.startswith("ecm_") and len(raw) > 40
    assert raw not in err
    assert "Created token 'ci'" in err and "ops@example.org" in err
    token = ApiToken.objects.get()
    assert token.user == user and token.name == "ci"
    assert token.digest == hash_token(raw)
    for column in ApiToken._meta.concrete_fields:
        assert raw not in str(getattr(token, column.attname)), column.name
    assert token.expires_at - token.created_at == dt.timedelta(days=7)
    assert authenticate(raw)[0] == user


def test_create_token_default_lifetime(settings):
    factories.UserFactory(email="ops@example.org")
    run("create_token", "--email", "ops@example.org")
    token = ApiToken.objects.get()
    assert token.expires_at - token.created_at == dt.timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)


def test_create_token_unknown_or_inactive_user():
    factories.UserFactory(email="gone@example.org", is_active=False)
    with pytest.raises(CommandError, match=r"No user with email nobody@example\.org"):
        run("create_token", "--email", "nobody@example.org")
    with pytest.raises(CommandError, match=r"gone@example\.org is inactive"):
        run("create_token", "--email", "gone@example.org")
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", ["0", "-1", "abc", "1.5", "100000"])
def test_create_token_days_must_be_a_positive_integer(days):
    factories.UserFactory(email="ops@example.org")
    with pytest.raises(CommandError, match="--days"):
        run("create_token", "--email", "ops@example.org", "--days", days)
    assert not ApiToken.objects.exists()


def test_create_token_dry_run():
    factories.UserFactory(email="ops@example.org")
    out, err = run("create_token", "--email", "ops@example.org", "--dry-run")
    assert out == ""
    assert "Would create a token for ops@example.org (dry run: nothing written)" in err
    assert not ApiToken.objects.exists()


# --- revoke_tokens -----------------------------------------------------------------------


def test_revoke_tokens_makes_them_unusable():
    user = factories.UserFactory(email="ops@example.org")
    live = [factories.ApiTokenFactory(user=user) for _ in range(2)]
    factories.ApiTokenFactory(user=user, revoked_at=timezone.now())
    other = factories.ApiTokenFactory()

    out, _ = run("revoke_tokens", "--email", "Ops@Example.org")

    assert out == "Revoked 2 tokens for ops@example.org\n"
    for token in live:
        with pytest.raises(AuthenticationFailed):
            authenticate(token.raw)
    assert not ApiToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert authenticate(other.raw)[0] == other.user
    out, _ = run("revoke_tokens", "--email", "ops@example.org")
    assert out == "Revoked 0 tokens for ops@example.org\n"


def test_revoke_tokens_dry_run_counts_and_writes_nothing():
    token = factories.ApiTokenFactory(user=factories.UserFactory(email="ops@example.org"))

    out, _ = run("revoke_tokens", "--email", "ops@example.org", "--dry-run")

    assert out == "Would revoke 1 token for ops@example.org (dry run: nothing written)\n"
    token.refresh_from_db()
    assert token.revoked_at is None
    assert authenticate(token.raw)[0] == token.user


def test_revoke_tokens_unknown_user():
    with pytest.raises(CommandError, match=r"No user with email nobody@example\.org"):
        run("revoke_tokens", "--email", "nobody@example.org")
