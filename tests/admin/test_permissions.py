"""What each kind of staff user may open and do in the Django admin (access follows roles).

Staff users are made the documented way (``create_user ... --staff --password-from-env``) and
sign in with their password: with the ``admin`` role they work on patient data and only view
the logs; without it they see nothing; users, roles and tokens need a superuser.
"""

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.management import call_command
from django.urls import reverse

from accounts.models import ApiToken, Role, User
from audit.models import AccessEvent
from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.models import (
    Activity,
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
)
from tests import factories
from tests.admin import PAGE_MODELS, PASSWORD, create_staff, one_of_each, sign_in

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")
CHANGELIST = reverse("admin:patients_patient_changelist")
EDITABLE = {Patient, EcmEligibilityInformation, EcmAuthorization, CaseLoad}
VIEW_ONLY = {EcmStatusHistory, Activity, LcmAssignmentHistory, AccessEvent}
SUPERUSER_ONLY = {User, Role, ApiToken}
LCM_ACTIONS = {"assign_olcm", "assign_ilcm", "remove_olcm", "remove_ilcm"}
AUTO_ASSIGN = "assign_lcms_automatically"
WORKLOAD = reverse("admin:care_team_leadcaremanagerworkload_changelist")
CARE_TEAM_PICKERS = [("caseload", "olcm"), ("caseload", "ilcm"), ("caseload", "provider")]
NOTHING = "You don\N{RIGHT SINGLE QUOTATION MARK}t have permission to view or edit anything."


def pages(row) -> dict[str, str]:
    opts = row._meta
    name = f"admin:{opts.app_label}_{opts.model_name}"
    return {
        "changelist": reverse(f"{name}_changelist"),
        "add": reverse(f"{name}_add"),
        "change": reverse(f"{name}_change", args=[row.pk]),
        "history": reverse(f"{name}_history", args=[row.pk]),
        "delete": reverse(f"{name}_delete", args=[row.pk]),
    }


def statuses(client, row) -> dict[str, int]:
    return {page: client.get(url).status_code for page, url in pages(row).items()}


def picker(client, model_name: str, field_name: str, term: str = ""):
    query = {"app_label": "care_team", "model_name": model_name, "field_name": field_name}
    return client.get(reverse("admin:autocomplete"), {**query, "term": term})


def action_choices(response) -> set[str]:
    return {value for value, _ in response.context["action_form"].fields["action"].choices}


def test_the_groups_below_cover_every_model_of_the_admin():
    assert set(admin.site._registry) == EDITABLE | VIEW_ONLY | SUPERUSER_ONLY | PAGE_MODELS


# --- staff with the admin role -------------------------------------------------------------


def test_staff_with_the_admin_role_edit_patient_data_and_only_view_the_logs(client):
    rows = one_of_each()
    sign_in(client)

    for row in rows:
        model = type(row)
        if model in EDITABLE:
            expected = {"changelist": 200, "add": 200, "change": 200, "history": 200}
        elif model in VIEW_ONLY:
            expected = {"changelist": 200, "add": 403, "change": 200, "history": 200}
        else:
            expected = {"changelist": 403, "add": 403, "change": 403, "history": 403}
        expected["delete"] = 403  # nothing is deleted but by a superuser
        assert statuses(client, row) == expected, model.__name__
        if model in SUPERUSER_ONLY:
            continue
        change = client.get(pages(row)["change"]).content.decode()
        assert ('name="_save"' in change) == (model in EDITABLE), model.__name__
        # Users' pages need a superuser: no page links to one (the log's users are names).
        assert "/admin/accounts/" not in change, model.__name__
        if model in VIEW_ONLY:
            assert client.post(pages(row)["change"], {}).status_code == 403, model.__name__


def test_their_index_lists_what_they_may_do(client):
    sign_in(client)
    response = client.get(INDEX)
    assert response.status_code == 200
    perms = {
        model["object_name"]: {perm for perm, allowed in model["perms"].items() if allowed}
        for app in response.context["app_list"]
        for model in app["models"]
    }
    assert perms == {
        **{model.__name__: {"view", "add", "change"} for model in EDITABLE},
        **{model.__name__: {"view"} for model in VIEW_ONLY},
        "LeadCareManagerWorkload": {"view", "change"},  # the Workload page: capacities
    }
    assert f'href="{WORKLOAD}"' in response.content.decode()
    assert "/admin/accounts/" not in response.content.decode()


def test_they_use_every_care_team_action_but_delete_nothing(client):
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    patient = factories.ecm_patient()
    sign_in(client)

    response = client.get(CHANGELIST)
    assert action_choices(response) == {"", *LCM_ACTIONS, AUTO_ASSIGN}
    for action in sorted(LCM_ACTIONS):
        page = client.post(
            CHANGELIST, {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(patient.pk)]}
        )
        assert page.status_code == 200, action
        assert 'id="lcm-action-form"' in page.content.decode(), action
    page = client.post(
        CHANGELIST, {"action": AUTO_ASSIGN, helpers.ACTION_CHECKBOX_NAME: [str(patient.pk)]}
    )
    assert page.status_code == 200
    assert 'id="auto-assign-form"' in page.content.decode()
    assert client.get(WORKLOAD).status_code == 200
    applied = client.post(
        CHANGELIST,
        {
            "action": "assign_olcm",
            helpers.ACTION_CHECKBOX_NAME: [str(patient.pk)],
            "apply": "1",
            "user": str(jane.pk),
            "reason": "",
        },
    )
    assert applied.status_code == 302
    assert CaseLoad.objects.get(patient=patient).olcm == jane
    deleted = client.post(
        CHANGELIST,
        {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: [str(patient.pk)]},
    )
    assert deleted.status_code == 302  # "no action selected": nothing happens
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_their_care_team_pickers_offer_the_users_a_role_may_take(client):
    factories.lcm_user(first_name="Jane", last_name="Coordinator")
    factories.provider_user(first_name="Dr.", last_name="Smith")
    sign_in(client)
    for model_name, field_name in CARE_TEAM_PICKERS:
        response = picker(client, model_name, field_name)
        assert response.status_code == 200, field_name
        names = {item["text"] for item in response.json()["results"]}
        assert names == ({"Dr. Smith"} if field_name == "provider" else {"Jane Coordinator"})


def test_the_patient_page_offers_every_inline(client):
    patient = factories.ecm_patient()
    sign_in(client)
    response = client.get(reverse("admin:patients_patient_change", args=[patient.pk]))
    inlines = {inline.formset.model: inline for inline in response.context["inline_admin_formsets"]}
    for model in (EcmEligibilityInformation, CaseLoad, EcmAuthorization):
        assert inlines[model].has_change_permission, model.__name__
    assert inlines[EcmAuthorization].has_add_permission
    for model in (EcmStatusHistory, LcmAssignmentHistory, Activity):
        assert not inlines[model].has_change_permission, model.__name__
        assert not inlines[model].has_add_permission, model.__name__


def test_losing_the_admin_role_closes_the_admin_at_the_next_request(client):
    user = sign_in(client)
    assert client.get(CHANGELIST).status_code == 200
    call_command(  # the same user, updated the documented way (the password is kept)
        *("create_user", "--email", user.email, "--first-name", "Sam", "--last-name", "Staff"),
        *("--roles", "ecm", "--staff"),
        stdout=StringIO(),
    )
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(INDEX).context["app_list"] == []


def test_an_inactive_user_with_the_admin_role_cannot_sign_in(client):
    user = create_staff()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert not client.login(username=user.email, password=PASSWORD)
    assert client.get(CHANGELIST).status_code == 302


# --- staff without the admin role ------------------------------------------------------------


@pytest.mark.parametrize("roles", ["", "ecm", "ecm,provider,coordinator"])
def test_staff_without_the_admin_role_sign_in_but_see_nothing(client, roles):
    rows = one_of_each()
    sign_in(client, roles=roles)

    index = client.get(INDEX)
    assert index.status_code == 200
    assert index.context["app_list"] == []
    assert NOTHING in index.content.decode()
    for app_label in ("patients", "care_team", "audit", "accounts"):
        assert client.get(reverse("admin:app_list", args=[app_label])).status_code == 404
    for row in rows:
        assert set(statuses(client, row).values()) == {403}, type(row).__name__
        assert client.post(pages(row)["change"], {}).status_code == 403, type(row).__name__
    for model_name, field_name in CARE_TEAM_PICKERS:
        assert picker(client, model_name, field_name).status_code == 403
    for name in ("assign_olcm", AUTO_ASSIGN):
        action = {"action": name, helpers.ACTION_CHECKBOX_NAME: [str(rows[0].pk)]}
        assert client.post(CHANGELIST, action).status_code == 403
    assert client.get(WORKLOAD).status_code == 403
    assert client.post(WORKLOAD, {}).status_code == 403


# --- superusers ----------------------------------------------------------------------------


def test_superusers_also_manage_users_roles_and_tokens_and_delete(client):
    rows = one_of_each()
    sign_in(client, superuser=True)
    index = client.get(INDEX)
    for model in SUPERUSER_ONLY:
        assert f'href="/admin/accounts/{model._meta.model_name}/"' in index.content.decode()
    for row in rows:
        if type(row) in SUPERUSER_ONLY:
            assert statuses(client, row)["changelist"] == 200
    assert "delete_selected" in action_choices(client.get(CHANGELIST))
    patient = next(row for row in rows if type(row) is Patient)
    assert client.get(pages(patient)["delete"]).status_code == 200
