"""accounts.backends: Django admin permissions from roles, and sign-in by email and password."""

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.contrib.auth.models import Permission

from accounts.backends import ROLE_GRANTS, ROLE_PERMISSIONS, RoleBackend, admin_access
from accounts.choices import RoleName
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-backend-test-passphrase"


def user(*, roles=(), **kwargs):
    made = factories.UserFactory(roles=list(roles), **kwargs)
    made.set_password(PASSWORD)
    made.save()
    return made


def test_every_granted_permission_is_one_django_knows():
    for role, names in ROLE_PERMISSIONS.items():
        for name in names:
            app_label, codename = name.split(".")
            assert Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).exists(), (role, name)
    for grants in ROLE_GRANTS.values():
        for model, actions in grants.items():
            assert set(actions) <= set(apps.get_model(model)._meta.default_permissions), model


def test_staff_with_the_admin_role_hold_the_patient_permissions():
    staff = user(roles=["admin", "ecm"], is_staff=True)
    assert staff.has_perm("patients.change_patient")
    assert staff.has_perm("care_team.add_caseload")
    assert staff.has_perm("audit.view_accessevent")
    assert not staff.has_perm("patients.delete_patient")
    assert not staff.has_perm("patients.change_activity")
    assert not staff.has_perm("accounts.view_user")
    assert not staff.has_perm("accounts.add_apitoken")
    assert staff.has_module_perms("patients")
    assert staff.has_module_perms("care_team")
    assert staff.has_module_perms("audit")
    assert not staff.has_module_perms("accounts")
    assert not staff.has_module_perms("auth")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"roles": ["admin"], "is_staff": False},  # the admin role, but not staff
        {"roles": ["admin"], "is_staff": True, "is_active": False},
        {"roles": ["ecm", "provider"], "is_staff": True},
        {"roles": [], "is_staff": True},
    ],
)
def test_others_hold_no_permission(kwargs):
    other = user(**kwargs)
    assert other.get_all_permissions() == set()
    for app_label in ("patients", "care_team", "audit", "accounts"):
        assert not other.has_module_perms(app_label)


def test_permissions_given_to_a_user_or_a_group_grant_nothing():
    staff = user(is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="patients", codename="view_patient")
    )
    assert not staff.has_perm("patients.view_patient")


def test_superusers_hold_every_permission():
    superuser = user(is_staff=True, is_superuser=True)
    assert superuser.has_perm("accounts.change_user")
    assert superuser.has_perm("patients.delete_patient")
    assert superuser.has_module_perms("accounts")


def test_with_perm_lists_the_staff_whose_roles_give_it():
    holder = user(roles=["admin"], is_staff=True)
    superuser = user(is_staff=True, is_superuser=True)
    user(roles=["admin"], is_staff=False)
    user(roles=["admin"], is_staff=True, is_active=False)
    user(roles=["ecm"], is_staff=True)
    backend = RoleBackend()
    assert set(backend.with_perm("patients.change_patient")) == {holder, superuser}
    assert set(backend.with_perm("patients.change_patient", include_superusers=False)) == {holder}
    assert set(backend.with_perm("accounts.change_user")) == {superuser}


def test_sign_in_by_email_and_password():
    staff = user(roles=["admin"], is_staff=True, email="ana@example.org")
    assert authenticate(username="ana@example.org", password=PASSWORD) == staff
    assert authenticate(username="ana@example.org", password="wrong") is None
    staff.is_active = False
    staff.save()
    assert authenticate(username="ana@example.org", password=PASSWORD) is None


def test_what_create_user_says_follows_the_mapping():
    assert admin_access([RoleName.ADMIN], is_staff=True, is_superuser=False) == (
        "staff with the admin role: can view, add and change patients, ECM eligibility "
        "information, ECM authorizations and case loads; can only view ECM status history, "
        "activities, LCM assignment history and access events; can view and change Lead Care "
        "Manager workload; users, roles and API tokens need a superuser"
    )
    assert admin_access(["ecm"], is_staff=True, is_superuser=False) == (
        "staff without the admin role: can sign in to the Django admin but sees nothing"
    )
    assert admin_access(["admin"], is_staff=False, is_superuser=False) == (
        "not staff: can't sign in to the Django admin"
    )
