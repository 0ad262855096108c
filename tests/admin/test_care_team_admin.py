import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.choices import ActivityKind
from patients.models import Activity
from tests import factories
from tests.admin import form_data, sign_in

CHANGELIST = reverse("admin:patients_patient_changelist")
CASE_LOAD = "case_load-0-"


def change_url(patient) -> str:
    return reverse("admin:patients_patient_change", args=[patient.pk])


@pytest.fixture
def staff(client, db):
    return sign_in(client)


@pytest.fixture
def jane(db):
    return factories.lcm_user(first_name="Jane", last_name="Coordinator")


@pytest.fixture
def bob(db):
    return factories.lcm_user(first_name="Bob", last_name="Manager")


@pytest.fixture
def dr_smith(db):
    return factories.provider_user(first_name="Dr.", last_name="Smith")


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def post_change(client, patient, **changes):
    data = form_data(client.get(change_url(patient)))
    data.update({f"{CASE_LOAD}{name}": value for name, value in changes.items()})
    return client.post(change_url(patient), data)


# --- the care team inline on the patient page ------------------------------------------------


def test_assigning_an_olcm_on_the_patient_page_creates_the_case_load(client, staff, jane):
    patient = factories.ecm_patient()
    response = post_change(client, patient, olcm=jane.pk, reason="Intake")
    assert response.status_code == 302, response.context and response.context["errors"]

    case_load = CaseLoad.objects.get(patient=patient)
    assert case_load.olcm == jane
    assert case_load.olcm_assigned_at is not None
    (entry,) = LcmAssignmentHistory.objects.filter(patient=patient)
    assert (entry.role, entry.previous_user, entry.new_user) == ("olcm", None, jane)
    assert (entry.acted_by, entry.acted_by_name, entry.reason) == (staff, "Sam Staff", "Intake")
    (activity,) = Activity.objects.filter(patient=patient)
    assert activity.kind == ActivityKind.LCM_ASSIGNED
    assert activity.actor == staff


def test_replacing_an_lcm_records_one_history_entry(client, staff, jane, bob):
    patient = factories.ecm_patient()
    factories.CaseLoadFactory(patient=patient, olcm=jane, ilcm=bob)
    assert post_change(client, patient, olcm=bob.pk).status_code == 302

    (entry,) = LcmAssignmentHistory.objects.filter(patient=patient)
    assert (entry.role, entry.previous_user, entry.new_user) == ("olcm", jane, bob)
    assert Activity.objects.filter(patient=patient).count() == 1


def test_clearing_an_lcm_removes_it_through_the_service(client, staff, jane, bob):
    patient = factories.ecm_patient()
    factories.CaseLoadFactory(patient=patient, olcm=jane, ilcm=bob)
    assert post_change(client, patient, ilcm="", reason="Moved away").status_code == 302

    case_load = CaseLoad.objects.get(patient=patient)
    assert (case_load.olcm, case_load.ilcm, case_load.ilcm_assigned_at) == (jane, None, None)
    (entry,) = LcmAssignmentHistory.objects.filter(patient=patient)
    assert (entry.role, entry.previous_user, entry.new_user) == ("ilcm", bob, None)
    (activity,) = Activity.objects.filter(patient=patient)
    assert activity.kind == ActivityKind.LCM_REMOVED
    assert "Moved away" in activity.description


def test_changing_only_the_provider(client, staff, jane, dr_smith):
    patient = factories.ecm_patient()
    factories.CaseLoadFactory(patient=patient, olcm=jane)
    assert post_change(client, patient, provider=dr_smith.pk).status_code == 302

    assert CaseLoad.objects.get(patient=patient).provider == dr_smith
    (entry,) = LcmAssignmentHistory.objects.filter(patient=patient)
    assert (entry.role, entry.new_user) == ("provider", dr_smith)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"olcm": "NOT_LCM"}, "Select a valid choice"),
        ({"provider": ""}, "The primary provider can&#x27;t be removed, only replaced."),
    ],
)
def test_care_team_form_errors(client, staff, jane, dr_smith, changes, error):
    outsider = factories.UserFactory(roles=["coordinator"])
    patient = factories.ecm_patient()
    factories.CaseLoadFactory(patient=patient, olcm=jane, provider=dr_smith)
    changes = {key: outsider.pk if value == "NOT_LCM" else value for key, value in changes.items()}
    response = post_change(client, patient, **changes)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not LcmAssignmentHistory.objects.exists()


def test_an_inactive_lcm_cannot_be_chosen(client, staff, jane):
    gone = factories.lcm_user(is_active=False)
    patient = factories.ecm_patient()
    factories.CaseLoadFactory(patient=patient, olcm=jane)
    response = post_change(client, patient, olcm=gone.pk)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_a_new_case_load_needs_an_lcm(client, staff, dr_smith):
    patient = factories.ecm_patient()
    response = post_change(client, patient, provider=dr_smith.pk)
    assert response.status_code == 200
    assert "Assign an oLCM or an iLCM" in response.content.decode()
    assert not CaseLoad.objects.exists()


# --- the case load admin ---------------------------------------------------------------------


def test_case_load_admin_add_goes_through_the_service(client, staff, jane):
    patient = factories.ecm_patient()
    add = reverse("admin:care_team_caseload_add")
    response = client.post(add, {"patient": patient.pk, "olcm": jane.pk, "reason": "New"})
    assert response.status_code == 302, response.context and response.context["errors"]
    case_load = CaseLoad.objects.get(patient=patient)
    assert case_load.olcm == jane
    (entry,) = LcmAssignmentHistory.objects.filter(patient_id=case_load.patient_id)
    assert (entry.new_user, entry.reason, entry.acted_by) == (jane, "New", staff)


def test_case_load_admin_change_goes_through_the_service(client, staff, jane, bob):
    case_load = factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=jane)
    url = reverse("admin:care_team_caseload_change", args=[case_load.pk])
    data = form_data(client.get(url))
    data["olcm"] = bob.pk
    assert client.post(url, data).status_code == 302
    (entry,) = LcmAssignmentHistory.objects.filter(patient_id=case_load.patient_id)
    assert (entry.previous_user, entry.new_user) == (jane, bob)


def test_a_service_refusal_in_the_case_load_admin_is_a_message(client, staff, jane):
    not_ecm = factories.PatientFactory()
    add = reverse("admin:care_team_caseload_add")
    response = client.post(add, {"patient": not_ecm.pk, "olcm": jane.pk}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == ["Patient not found"]
    assert not CaseLoad.objects.exists()


def test_case_loads_cannot_be_deleted_in_the_admin(client, staff, jane):
    case_load = factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=jane)
    response = client.get(reverse("admin:care_team_caseload_change", args=[case_load.pk]))
    assert response.context["has_delete_permission"] is False


# --- changelist actions ------------------------------------------------------------------------


def action_post(client, action, patients, **extra):
    data = {
        "action": action,
        helpers.ACTION_CHECKBOX_NAME: [patient.pk for patient in patients],
        **extra,
    }
    return client.post(CHANGELIST, data)


def test_assign_action_shows_an_intermediate_page(client, staff, jane):
    patients = [
        factories.ecm_patient(member_id="MEM-A", patient__first_name="Ann", patient__last_name="A"),
        factories.ecm_patient(member_id="MEM-B", patient__first_name="Ben", patient__last_name="B"),
    ]
    response = action_post(client, "assign_olcm", patients, index="0")
    assert response.status_code == 200
    assert response.templates[0].name == "admin/care_team/lcm_action.html"
    html = response.content.decode()
    for text in ("Ann A", "MEM-A", "Ben B", "MEM-B", "Assign an oLCM", "csrfmiddlewaretoken"):
        assert text in html
    for patient in patients:
        assert f'name="_selected_action" value="{patient.pk}"' in html
    assert '<input type="hidden" name="action" value="assign_olcm">' in html
    assert 'name="apply"' in html
    assert 'name="index"' not in html
    assert "admin/js/autocomplete.js" in html
    assert not LcmAssignmentHistory.objects.exists()


def test_assign_action_applies_per_patient_and_reports(client, staff, jane, bob):
    done = [factories.ecm_patient() for _ in range(2)]
    already = factories.ecm_patient()
    factories.CaseLoadFactory(patient=already, olcm=bob)
    not_ecm = factories.PatientFactory(first_name="Norm", last_name="Plain")
    response = action_post(
        client,
        "assign_olcm",
        [*done, already, not_ecm],
        apply="Assign",
        user=jane.pk,
        reason="Rebalancing",
    )
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    (message,) = messages_of(client.get(CHANGELIST))
    assert message == (
        "Assigned Jane Coordinator as oLCM to 3 patients; 1 failed: Norm Plain (Patient not found)."
    )
    entries = LcmAssignmentHistory.objects.all()
    assert len(entries) == 3
    assert {(e.role, e.new_user, e.reason, e.acted_by) for e in entries} == {
        ("olcm", jane, "Rebalancing", staff)
    }
    assert Activity.objects.filter(kind=ActivityKind.LCM_ASSIGNED).count() == 3
    assert CaseLoad.objects.get(patient=already).olcm == jane


def test_assign_action_refuses_a_user_who_is_not_an_lcm(client, staff):
    patient = factories.ecm_patient()
    outsider = factories.UserFactory(roles=["coordinator"])
    response = action_post(client, "assign_ilcm", [patient], apply="Assign", user=outsider.pk)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not LcmAssignmentHistory.objects.exists()


def test_remove_action(client, staff, jane, bob):
    with_ilcm = factories.ecm_patient()
    factories.CaseLoadFactory(patient=with_ilcm, olcm=jane, ilcm=bob)
    without = factories.ecm_patient()
    page = action_post(client, "remove_ilcm", [with_ilcm, without])
    assert page.status_code == 200
    assert "Remove the iLCM" in page.content.decode()

    response = action_post(client, "remove_ilcm", [with_ilcm, without], apply="Remove", reason="")
    assert response.status_code == 302
    (message,) = messages_of(client.get(CHANGELIST))
    assert message == "Removed the iLCM from 1 patient; 1 patient had none."
    case_load = CaseLoad.objects.get(patient=with_ilcm)
    assert (case_load.olcm, case_load.ilcm) == (jane, None)
    (entry,) = LcmAssignmentHistory.objects.all()
    assert (entry.role, entry.previous_user, entry.new_user) == ("ilcm", bob, None)


# --- autocomplete offers only the users a role may take ------------------------------------


@pytest.mark.parametrize(
    ("model_name", "field_name", "expected"),
    [
        ("caseload", "olcm", {"Jane Coordinator"}),
        ("caseload", "ilcm", {"Jane Coordinator"}),
        ("caseload", "provider", {"Dr. Smith"}),
    ],
)
def test_autocomplete_is_limited_by_role(
    client, staff, jane, dr_smith, model_name, field_name, expected
):
    factories.lcm_user(first_name="Gone", last_name="Away", is_active=False)
    factories.UserFactory(roles=["coordinator"], first_name="Cora", last_name="Other")
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "care_team", "model_name": model_name, "field_name": field_name},
    )
    assert response.status_code == 200
    assert {item["text"] for item in response.json()["results"]} == expected


def test_autocomplete_for_other_user_fields_is_not_limited(client, jane):
    superuser = sign_in(client, superuser=True)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "accounts", "model_name": "apitoken", "field_name": "user", "term": "a"},
    )
    names = {item["text"] for item in response.json()["results"]}
    assert {"Jane Coordinator", str(superuser)} <= names


def test_staff_with_the_admin_role_look_up_only_the_users_a_role_may_take(client, staff, jane):
    """The care-team pickers work for them; any other lookup of users needs a superuser."""
    lookups = [
        ("care_team", "caseload", "olcm", 200),
        ("accounts", "apitoken", "user", 403),
        ("care_team", "lcmassignmenthistory", "new_user", 403),
    ]
    for app_label, model_name, field_name, status in lookups:
        response = client.get(
            reverse("admin:autocomplete"),
            {"app_label": app_label, "model_name": model_name, "field_name": field_name},
        )
        assert response.status_code == status, (model_name, field_name)
    # Only the autocomplete view: the users' own pages stay closed.
    query = {"app_label": "care_team", "model_name": "caseload", "field_name": "olcm"}
    assert client.get(reverse("admin:accounts_user_changelist"), query).status_code == 403
