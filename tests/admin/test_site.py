import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.admin import PAGE_MODELS, one_of_each, sign_in

INDEX = reverse("admin:index")


@pytest.fixture
def staff(client, db):
    """A superuser: every model and page (what staff by role may open: test_permissions)."""
    return sign_in(client, superuser=True)


def test_the_site_names_the_service(client, staff):
    html = client.get(INDEX).content.decode()
    assert "<title>Enhanced Care Management back office | ECM Admin</title>" in html
    assert '<a href="/admin/">ECM Admin</a>' in html


def test_every_model_is_registered(client, staff):
    html = client.get(INDEX).content.decode()
    for model in (
        "patients/patient",
        "patients/ecmeligibilityinformation",
        "patients/ecmauthorization",
        "patients/ecmstatushistory",
        "patients/activity",
        "care_team/caseload",
        "care_team/lcmassignmenthistory",
        "care_team/leadcaremanagerworkload",
        "accounts/user",
        "accounts/role",
        "accounts/apitoken",
    ):
        assert f'href="/admin/{model}/"' in html


def test_every_page_renders(client, staff):
    rows = one_of_each()
    assert {type(row) for row in rows} == set(admin.site._registry) - PAGE_MODELS
    for model in PAGE_MODELS:
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert client.get(changelist).status_code == 200, model.__name__
    for row in rows:
        opts = row._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"{name}_change", args=[row.pk])).status_code == 200, name
        assert client.get(reverse(f"{name}_history", args=[row.pk])).status_code == 200, name
        model_admin = admin.site._registry[type(row)]
        request = client.get(INDEX).wsgi_request
        if model_admin.has_add_permission(request):
            assert client.get(reverse(f"{name}_add")).status_code == 200, name


def test_groups_are_not_offered(client, staff):
    """Access follows roles (accounts.backends): Django's groups and per-user permissions
    would grant nothing, so the admin does not offer them."""
    assert Group not in admin.site._registry
    html = client.get(reverse("admin:accounts_user_change", args=[staff.pk])).content.decode()
    assert 'name="groups"' not in html
    assert 'name="user_permissions"' not in html


def test_admin_static_files_are_served_by_the_app(client):
    """Under gunicorn nothing else serves /static/: the admin must not come up unstyled."""
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
