import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from care_team.models import LcmAssignmentHistory
from ecm_admin.exceptions import UnprocessableEntity
from patients.choices import ActivityKind, AcuityLevel, MemberRecordStatus
from patients.models import Activity, EcmEligibilityInformation, EcmStatusHistory, Patient
from tests import factories
from tests.admin import form_data, sign_in

CHANGELIST = reverse("admin:patients_patient_changelist")


def change_url(patient) -> str:
    return reverse("admin:patients_patient_change", args=[patient.pk])


@pytest.fixture
def staff(client, db):
    return sign_in(client)


@pytest.fixture
def jane(db):
    return factories.lcm_user(first_name="Jane", last_name="Coordinator")


def listed(response) -> set[int]:
    return {patient.pk for patient in response.context["cl"].result_list}


def full_patient(*, olcm=None, ilcm=None, provider=None, **eligibility):
    patient = factories.ecm_patient(**eligibility)
    factories.CaseLoadFactory(patient=patient, olcm=olcm, ilcm=ilcm, provider=provider)
    factories.AuthorizationFactory(patient=patient)
    return patient


# --- changelist ----------------------------------------------------------------------------


def test_changelist_shows_the_columns(client, staff, jane):
    dr = factories.provider_user(first_name="Dr.", last_name="Smith")
    full_patient(
        olcm=jane,
        provider=dr,
        member_id="MEM-42",
        acuity_level=AcuityLevel.HIGH,
        ecm_benefit_auth_end_date=dt.date(2025, 6, 30),
        patient__first_name="John",
        patient__last_name="Doe",
    )
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("MEM-42", "John Doe", "New member", "High", "Jane Coordinator", "Dr. Smith"):
        assert text in html
    assert "June 30, 2025" in html
    headers = [header["text"] for header in response.context["result_headers"][1:]]
    assert headers == [
        "Member ID",
        "Name",
        "Status",
        "Acuity",
        "oLCM",
        "iLCM",
        "Provider",
        "Authorization ends",
    ]


def test_changelist_runs_a_fixed_number_of_queries(client, staff, django_assert_num_queries):
    lcms = [factories.lcm_user() for _ in range(3)]
    providers = [factories.provider_user() for _ in range(2)]

    def add_patients(count):
        for i in range(count):
            full_patient(olcm=lcms[i % 3], ilcm=lcms[(i + 1) % 3], provider=providers[i % 2])

    add_patients(3)
    with CaptureQueriesContext(connection) as few:
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 3

    add_patients(97)
    with django_assert_num_queries(len(few)):
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 100


@pytest.mark.parametrize(
    "term", ["MEM0000777", "X1234567Z", "doe", "john do", "jdoe@example.org", "JOHN"]
)
def test_search(client, staff, term):
    john = factories.ecm_patient(
        member_id="MEM0000777",
        cin="X1234567Z",
        patient__first_name="John",
        patient__last_name="Doe",
        patient__email="jdoe@example.org",
    )
    factories.ecm_patient(patient__first_name="Mary", patient__last_name="Major")
    response = client.get(CHANGELIST, {"q": term})
    assert listed(response) == {john.pk}


def test_filters(client, staff, jane):
    bob = factories.lcm_user(first_name="Bob", last_name="Manager")
    complete = full_patient(olcm=jane, ilcm=bob, member_record_status="continuing_member")
    no_ilcm = full_patient(olcm=bob, acuity_level=AcuityLevel.LOW)
    no_case_load = factories.ecm_patient()
    factories.AuthorizationFactory(patient=no_case_load, status="Pending")

    def filtered(**params):
        response = client.get(CHANGELIST, params)
        assert response.status_code == 200
        return listed(response)

    everyone = {complete.pk, no_ilcm.pk, no_case_load.pk}
    status = "ecm_eligibility_information__member_record_status__exact"
    assert filtered(**{status: "continuing_member"}) == {complete.pk}
    assert filtered(ecm_eligibility_information__acuity_level__exact="low") == {no_ilcm.pk}
    assert filtered(case_load__olcm__id__exact=jane.pk) == {complete.pk}
    assert filtered(case_load__ilcm__id__exact=bob.pk) == {complete.pk}
    assert filtered(authorization_status="pending") == {no_case_load.pk}
    assert filtered(authorization_status="Approved") == {complete.pk, no_ilcm.pk}
    assert filtered(missing_lcm="olcm") == {no_case_load.pk}
    assert filtered(missing_lcm="ilcm") == {no_ilcm.pk, no_case_load.pk}
    assert filtered(missing_lcm="any") == {no_ilcm.pk, no_case_load.pk}
    assert filtered() == everyone


def test_filter_choices(client, staff, jane):
    bob = factories.lcm_user(first_name="Bob", last_name="Manager")
    full_patient(olcm=jane, ilcm=bob, provider=factories.provider_user())
    factories.AuthorizationFactory(patient=factories.ecm_patient(), status="APPROVED")
    factories.AuthorizationFactory(patient=factories.ecm_patient(), status="Denied")
    response = client.get(CHANGELIST)
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert set(specs) >= {
        "member record status",
        "acuity level",
        "oLCM",
        "iLCM",
        "provider",
        "authorization status",
        "missing an LCM",
    }
    # Statuses are offered once whatever their case; oLCMs offered are the ones assigned.
    assert [value for value, _ in specs["authorization status"].lookup_choices] == [
        "APPROVED",
        "Denied",
    ]
    assert [label for _, label in specs["oLCM"].lookup_choices] == ["Jane Coordinator"]


def test_a_bad_filter_value_is_not_a_server_error(client, staff):
    response = client.get(CHANGELIST, {"missing_lcm": "nobody"})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


# --- change page -----------------------------------------------------------------------------


def test_change_page_shows_every_inline(client, staff, jane):
    patient = full_patient(olcm=jane)
    factories.StatusHistoryFactory(patient=patient, changed_by="System Import")
    factories.ActivityFactory(patient=patient, description="Called the member")
    factories.LcmAssignmentHistoryFactory(
        patient=patient, new_user=jane, reason="Initial assignment"
    )
    response = client.get(change_url(patient))
    assert response.status_code == 200
    inlines = {
        inline.opts.model._meta.model_name: inline
        for inline in response.context["inline_admin_formsets"]
    }
    assert set(inlines) == {
        "ecmeligibilityinformation",
        "caseload",
        "ecmauthorization",
        "ecmstatushistory",
        "lcmassignmenthistory",
        "activity",
    }
    for name in ("ecmstatushistory", "lcmassignmenthistory", "activity"):
        inline = inlines[name]
        assert not inline.has_add_permission
        assert not inline.has_change_permission
        assert not inline.has_delete_permission
        assert inline.has_view_permission
    html = response.content.decode()
    for text in ("System Import", "Called the member", "Initial assignment"):
        assert text in html


def test_history_inlines_show_the_newest_rows_first_and_at_most_fifty(client, staff):
    patient = factories.ecm_patient()
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for day in range(60):
        factories.ActivityFactory(
            patient=patient, description=f"note {day}", created_at=base + dt.timedelta(days=day)
        )
    response = client.get(change_url(patient))
    (activities,) = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.opts.model is Activity
    ]
    shown = [form.instance.description for form in activities.forms]
    assert len(shown) == 50
    assert shown[0] == "note 59"
    assert shown[-1] == "note 10"


def test_a_status_change_goes_through_the_service(client, staff):
    patient = factories.ecm_patient()
    data = form_data(client.get(change_url(patient)))
    data["ecm_eligibility_information-0-member_record_status"] = MemberRecordStatus.CONTINUING
    response = client.post(change_url(patient), data)
    assert response.status_code == 302, response.context and response.context["errors"]

    eligibility = EcmEligibilityInformation.objects.get(patient=patient)
    assert eligibility.member_record_status == MemberRecordStatus.CONTINUING
    (history,) = EcmStatusHistory.objects.filter(patient=patient)
    assert history.status == MemberRecordStatus.CONTINUING
    assert history.changed_by == "Sam Staff"
    assert history.changed_by_user == staff
    (activity,) = Activity.objects.filter(patient=patient)
    assert activity.kind == ActivityKind.STATUS_CHANGED
    assert activity.actor == staff


def test_other_changes_record_one_activity_naming_the_fields(client, staff):
    patient = factories.ecm_patient(acuity_level=AcuityLevel.LOW)
    data = form_data(client.get(change_url(patient)))
    data["ecm_eligibility_information-0-acuity_level"] = AcuityLevel.HIGH
    data["phone"] = "+18055550199"
    assert client.post(change_url(patient), data).status_code == 302

    patient.refresh_from_db()
    assert patient.phone == "+18055550199"
    assert patient.ecm_eligibility_information.acuity_level == AcuityLevel.HIGH
    assert not EcmStatusHistory.objects.filter(patient=patient).exists()
    (activity,) = Activity.objects.filter(patient=patient)
    assert activity.kind == ActivityKind.PATIENT_UPDATED
    assert activity.metadata == {"fields": ["acuity_level", "phone"]}
    assert activity.actor_name == "Sam Staff"


def test_saving_without_changes_writes_nothing(client, staff, jane):
    patient = full_patient(olcm=jane)
    before = patient.ecm_eligibility_information.updated_at
    data = form_data(client.get(change_url(patient)))
    assert client.post(change_url(patient), data).status_code == 302
    assert not Activity.objects.filter(patient=patient).exists()
    assert not EcmStatusHistory.objects.exists()
    assert not LcmAssignmentHistory.objects.exists()
    assert EcmEligibilityInformation.objects.get(patient=patient).updated_at == before


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("ecm_eligibility_information-0-cin", "12-45", "CIN must be 9 letters or digits."),
        (
            "ecm_eligibility_information-0-ecm_npi",
            "1234567890",
            "ECM NPI is not a valid NPI (10 digits with a valid check digit).",
        ),
        (
            "ecm_eligibility_information-0-ecm_benefit_auth_end_date",
            "2023-12-31",
            "ECM benefit auth end date can&#x27;t be before the ECM benefit auth effective date.",
        ),
        ("date_of_birth", "2999-01-01", "Date of birth can&#x27;t be in the future."),
        ("date_of_birth", "1899-12-31", "Date of birth can&#x27;t be before 1900-01-01."),
    ],
)
def test_invalid_values_are_form_errors(client, staff, field, value, error):
    patient = factories.ecm_patient(member_record_status=MemberRecordStatus.NEW)
    data = form_data(client.get(change_url(patient)))
    data[field] = value
    data["ecm_eligibility_information-0-member_record_status"] = MemberRecordStatus.PENDING
    response = client.post(change_url(patient), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not EcmStatusHistory.objects.exists()
    assert not Activity.objects.exists()


def test_a_taken_member_id_is_a_form_error(client, staff):
    factories.ecm_patient(member_id="TAKEN")
    patient = factories.ecm_patient()
    data = form_data(client.get(change_url(patient)))
    data["ecm_eligibility_information-0-member_id"] = "TAKEN"
    response = client.post(change_url(patient), data)
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def new_authorization(patient, **fields) -> dict:
    return {
        "ecm_authorizations-TOTAL_FORMS": "1",
        "ecm_authorizations-0-patient": str(patient.pk),
        **{f"ecm_authorizations-0-{name}": value for name, value in fields.items()},
    }


def test_authorizations_are_edited_inline(client, staff):
    patient = factories.ecm_patient()
    data = form_data(client.get(change_url(patient)))
    data.update(new_authorization(patient, auth_no="AUTH-1", status="Approved"))
    assert client.post(change_url(patient), data).status_code == 302
    assert [a.auth_no for a in patient.ecm_authorizations.all()] == ["AUTH-1"]


def test_authorization_dates_are_checked(client, staff):
    patient = factories.ecm_patient()
    data = form_data(client.get(change_url(patient)))
    data.update(
        new_authorization(
            patient, auth_no="AUTH-1", start_date="2024-05-01", expiration_date="2024-04-01"
        )
    )
    response = client.post(change_url(patient), data)
    assert response.status_code == 200
    assert "Expiration date can&#x27;t be before the start date." in response.content.decode()


def test_a_service_refusal_is_a_message_and_nothing_is_kept(client, staff, monkeypatch):
    patient = factories.ecm_patient(patient__phone="+18055550100")
    data = form_data(client.get(change_url(patient)))
    data["phone"] = "+18055550111"
    data.update(new_authorization(patient, auth_no="NEW-AUTH", status="Approved"))

    def refuse(**kwargs):
        raise UnprocessableEntity("Validation failed: Member ID has already been taken")

    monkeypatch.setattr("patients.admin.patient_update", refuse)
    response = client.post(change_url(patient), data, follow=True)
    assert response.status_code == 200
    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["Validation failed: Member ID has already been taken"]
    patient.refresh_from_db()
    assert patient.phone == "+18055550100"
    assert not patient.ecm_authorizations.exists()


def test_adding_a_patient_with_eligibility_records_the_first_status(client, staff):
    add = reverse("admin:patients_patient_add")
    data = form_data(client.get(add))
    data.update(
        {
            "first_name": "Nina",
            "last_name": "New",
            "gender": "female",
            "ecm_eligibility_information-0-member_id": "MEM-NEW",
            "ecm_eligibility_information-0-member_record_status": MemberRecordStatus.PENDING,
        }
    )
    response = client.post(add, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    patient = Patient.objects.get(first_name="Nina")
    assert patient.ecm_eligibility_information.member_id == "MEM-NEW"
    (history,) = EcmStatusHistory.objects.filter(patient=patient)
    assert (history.status, history.changed_by) == (MemberRecordStatus.PENDING, "Sam Staff")
    assert Activity.objects.filter(patient=patient, kind=ActivityKind.STATUS_CHANGED).count() == 1


def test_a_new_patient_born_before_1900_is_a_form_error(client, staff):
    add = reverse("admin:patients_patient_add")
    data = form_data(client.get(add))
    data.update({"first_name": "Olga", "last_name": "Old", "date_of_birth": "0001-01-01"})
    response = client.post(add, data)
    assert response.status_code == 200
    assert "Date of birth can&#x27;t be before 1900-01-01." in response.content.decode()
    assert not Patient.objects.filter(first_name="Olga").exists()


# --- eligibility admin -----------------------------------------------------------------------


def test_eligibility_admin_changes_go_through_the_service(client, staff):
    patient = factories.ecm_patient()
    eligibility = patient.ecm_eligibility_information
    url = reverse("admin:patients_ecmeligibilityinformation_change", args=[eligibility.pk])
    data = form_data(client.get(url))
    data["member_record_status"] = MemberRecordStatus.TERMINATED
    assert client.post(url, data).status_code == 302
    (history,) = EcmStatusHistory.objects.filter(patient=patient)
    assert (history.status, history.changed_by_user) == (MemberRecordStatus.TERMINATED, staff)
    assert Activity.objects.filter(patient=patient).count() == 1


# --- read-only history and audit ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_name", "make"),
    [
        ("patients_ecmstatushistory", factories.StatusHistoryFactory),
        ("patients_activity", factories.ActivityFactory),
        ("care_team_lcmassignmenthistory", factories.LcmAssignmentHistoryFactory),
    ],
)
def test_history_and_audit_tables_are_read_only(client, staff, model_name, make):
    row = make()
    assert client.get(reverse(f"admin:{model_name}_changelist")).status_code == 200
    view = client.get(reverse(f"admin:{model_name}_change", args=[row.pk]))
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False
    assert 'name="_save"' not in view.content.decode()
    assert client.get(reverse(f"admin:{model_name}_add")).status_code == 403
    assert client.post(reverse(f"admin:{model_name}_change", args=[row.pk]), {}).status_code == 403
    assert client.get(reverse(f"admin:{model_name}_delete", args=[row.pk])).status_code == 403
    model_admin = view.context["adminform"].model_admin
    request = view.wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert model_admin.has_view_permission(request, row)
    assert type(row).objects.filter(pk=row.pk).exists()
