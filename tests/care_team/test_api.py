import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.choices import ActivityKind
from patients.models import Activity
from tests import factories
from tests.care_team.conftest import (
    ASSIGN_URL,
    BULK_URL,
    LCMS_URL,
    patient_lcms_url,
)

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CASE_LOAD_KEYS = {
    "id",
    "patient_id",
    "patient_name",
    "provider_id",
    "provider_name",
    "olcm_user_id",
    "olcm_name",
    "ilcm_user_id",
    "ilcm_name",
    "created_at",
    "updated_at",
}
LCM_ITEM_KEYS = {
    "id",
    "name",
    "email",
    "roles",
    "assigned_patients_count",
    "olcm_assignments_count",
    "ilcm_assignments_count",
}
ROUTES = [
    ("get", LCMS_URL),
    ("post", ASSIGN_URL),
    ("put", ASSIGN_URL),
    ("delete", ASSIGN_URL),
    ("get", patient_lcms_url(1)),
    ("post", BULK_URL),
]


# --- every route: authentication, permission, slashes -----------------------------------


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_no_token_is_401(anon_client, method, url):
    response = getattr(anon_client, method)(url, {}, format="json")
    assert response.status_code == 401
    assert response.json() == {"errors": ["Authentication required"]}
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_bad_token_is_401(anon_client, method, url):
    anon_client.credentials(HTTP_X_USER_TOKEN="ecm_not-a-real-token")
    response = getattr(anon_client, method)(url, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_non_admin_is_403(viewer_client, method, url):
    response = getattr(viewer_client, method)(url, {}, format="json")
    assert response.status_code == 403
    assert response.json() == {"errors": ["Admin access required"]}


def test_trailing_slash_works_without_redirect(admin_client, patient, jane):
    response = admin_client.put(
        ASSIGN_URL + "/", {"patient_id": patient.pk, "olcm_user_id": jane.pk}, format="json"
    )
    assert response.status_code == 200
    assert admin_client.get(LCMS_URL + "/").status_code == 200
    assert admin_client.get(patient_lcms_url(patient.pk) + "/").status_code == 200
    bulk = admin_client.post(
        BULK_URL + "/",
        {"assignments": [{"patient_id": patient.pk, "ilcm_user_id": jane.pk}]},
        format="json",
    )
    assert bulk.status_code == 200


def test_wrong_verb_is_405_json(admin_client):
    response = admin_client.patch(ASSIGN_URL, {}, format="json")
    assert response.status_code == 405
    assert list(response.json()) == ["errors"]
    assert admin_client.get(BULK_URL).status_code == 405


# --- GET lead_care_managers -----------------------------------------------------------


def test_list_shape_counts_and_roles(admin_client, jane, bob):
    jane_roles = factories.UserFactory(email=jane.email, roles=["coordinator"])
    assert jane_roles.pk == jane.pk
    for _ in range(2):
        factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=jane)
    # Jane is both oLCM and iLCM of one patient: one patient, two assignments.
    factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=jane, ilcm=jane)
    factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=bob, ilcm=jane)

    response = admin_client.get(LCMS_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"lead_care_managers", "pagination"}
    assert body["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 2,
        "per_page": 25,
    }
    items = {item["name"]: item for item in body["lead_care_managers"]}
    assert set(items["Jane Coordinator"]) == LCM_ITEM_KEYS
    assert items["Jane Coordinator"] == {
        "id": jane.pk,
        "name": "Jane Coordinator",
        "email": "jane@example.org",
        "roles": ["coordinator", "ecm"],
        "assigned_patients_count": 4,
        "olcm_assignments_count": 3,
        "ilcm_assignments_count": 2,
    }
    assert items["Bob Manager"]["assigned_patients_count"] == 1
    assert items["Bob Manager"]["olcm_assignments_count"] == 1
    assert items["Bob Manager"]["ilcm_assignments_count"] == 0


def test_list_only_active_ecm_users_ordered_by_name(admin_client):
    factories.lcm_user(first_name="Zoe", last_name="Adams")
    factories.lcm_user(first_name="Amy", last_name="Young")
    factories.lcm_user(first_name="Amy", last_name="Baker")
    factories.lcm_user(first_name="Ann", last_name="Gone", is_active=False)
    factories.provider_user(first_name="Paul", last_name="Provider")

    names = [item["name"] for item in admin_client.get(LCMS_URL).json()["lead_care_managers"]]

    assert names == ["Amy Baker", "Amy Young", "Zoe Adams"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("jane", ["Jane Coordinator"]),
        ("COORD", ["Jane Coordinator"]),
        ("jane coo", ["Jane Coordinator"]),
        ("  jane   coo ", ["Jane Coordinator"]),
        ("bob@EXAMPLE", ["Bob Manager"]),
        ("example.org", ["Bob Manager", "Jane Coordinator"]),
        ("", ["Bob Manager", "Jane Coordinator"]),
        ("nobody", []),
    ],
)
def test_list_search(admin_client, jane, bob, search, expected):
    body = admin_client.get(LCMS_URL, {"search": search}).json()
    assert [item["name"] for item in body["lead_care_managers"]] == expected
    assert body["pagination"]["total_count"] == len(expected)


def test_list_role_filter(admin_client, jane, bob):
    carol = factories.lcm_user(first_name="Carol", last_name="Idle")
    factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=jane)
    factories.CaseLoadFactory(patient=factories.ecm_patient(), ilcm=bob)

    def names(role):
        body = admin_client.get(LCMS_URL, {"role": role}).json()
        return [item["name"] for item in body["lead_care_managers"]]

    assert names("olcm") == ["Jane Coordinator"]
    assert names("ilcm") == ["Bob Manager"]
    assert "Carol Idle" in names("")
    assert carol.pk


@pytest.mark.parametrize("role", ["provider", "both", "1"])
def test_list_bad_role_is_422(admin_client, role):
    response = admin_client.get(LCMS_URL, {"role": role})
    assert response.status_code == 422
    assert response.json() == {"errors": ["role must be one of: olcm, ilcm"]}


def test_list_pagination(admin_client):
    for n in range(5):
        factories.lcm_user(first_name=f"User{n}", last_name="Lcm")
    body = admin_client.get(LCMS_URL, {"page": 2, "per_page": 2}).json()
    assert [item["name"] for item in body["lead_care_managers"]] == ["User2 Lcm", "User3 Lcm"]
    assert body["pagination"] == {
        "current_page": 2,
        "total_pages": 3,
        "total_count": 5,
        "per_page": 2,
    }
    past_end = admin_client.get(LCMS_URL, {"page": 9}).json()
    assert past_end["lead_care_managers"] == []
    assert past_end["pagination"]["total_count"] == 5
    assert admin_client.get(LCMS_URL, {"per_page": 500}).json()["pagination"]["per_page"] == 100
    bad = admin_client.get(LCMS_URL, {"page": "0"})
    assert bad.status_code == 422
    assert bad.json() == {"errors": ["page must be a positive integer"]}


def _count_queries(client, url, params=None) -> int:
    client.get(url, params)  # warm up: the token's last_used_at is written once a minute
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(queries)


def _make_lcms(count: int) -> None:
    for _ in range(count):
        user = factories.UserFactory(roles=["ecm", "coordinator"])
        factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=user, ilcm=user)


def test_list_query_count_does_not_grow_with_the_page(admin_client):
    _make_lcms(3)
    small = _count_queries(admin_client, LCMS_URL, {"per_page": 100})
    _make_lcms(47)
    large = _count_queries(admin_client, LCMS_URL, {"per_page": 100})
    body = admin_client.get(LCMS_URL, {"per_page": 100}).json()
    assert len(body["lead_care_managers"]) == 50
    assert all(item["assigned_patients_count"] == 1 for item in body["lead_care_managers"])
    # token, its rate count, count, the page's ids, the page's rows with their counts, roles
    # prefetch
    assert small == large == 6


# --- POST / PUT lead_care_managers/assign ----------------------------------------------


def test_assign_success(admin_client, patient, jane, bob):
    response = admin_client.post(
        ASSIGN_URL,
        {"patient_id": patient.pk, "olcm_user_id": jane.pk, "ilcm_user_id": bob.pk},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "case_load"}
    assert body["message"] == "Lead Care Manager assigned successfully"
    case_load = body["case_load"]
    assert set(case_load) == CASE_LOAD_KEYS
    stored = CaseLoad.objects.get(patient=patient)
    assert case_load == {
        "id": stored.pk,
        "patient_id": patient.pk,
        "patient_name": "John Doe",
        "provider_id": None,
        "provider_name": None,
        "olcm_user_id": jane.pk,
        "olcm_name": "Jane Coordinator",
        "ilcm_user_id": bob.pk,
        "ilcm_name": "Bob Manager",
        "created_at": case_load["created_at"],
        "updated_at": case_load["updated_at"],
    }
    assert TIMESTAMP.match(case_load["created_at"])
    assert TIMESTAMP.match(case_load["updated_at"])
    history = LcmAssignmentHistory.objects.filter(patient=patient)
    assert history.count() == 2
    assert {h.acted_by_id for h in history} == {admin_client.user.pk}
    assert Activity.objects.filter(patient=patient, kind=ActivityKind.LCM_ASSIGNED).count() == 2


def test_put_updates_with_its_own_message(admin_client, patient, jane, bob, dr_smith):
    factories.CaseLoadFactory(patient=patient, olcm=jane, provider=dr_smith)

    response = admin_client.put(
        ASSIGN_URL,
        {"patient_id": patient.pk, "ilcm_user_id": bob.pk, "reason": "Acuity went up"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Lead Care Manager assignment updated successfully"
    assert body["case_load"]["olcm_user_id"] == jane.pk
    assert body["case_load"]["ilcm_name"] == "Bob Manager"
    assert body["case_load"]["provider_name"] == "Dr. Smith"
    entry = LcmAssignmentHistory.objects.get(patient=patient)
    assert (entry.role, entry.new_user_id, entry.reason) == ("ilcm", bob.pk, "Acuity went up")


def test_assign_with_provider_and_digit_strings(admin_client, patient, jane, dr_smith):
    response = admin_client.post(
        ASSIGN_URL,
        {"patient_id": str(patient.pk), "olcm_user_id": str(jane.pk), "provider_id": dr_smith.pk},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["case_load"]["provider_id"] == dr_smith.pk


def test_reassign_same_user_changes_nothing(admin_client, patient, jane):
    first = admin_client.post(
        ASSIGN_URL, {"patient_id": patient.pk, "olcm_user_id": jane.pk}, format="json"
    )
    second = admin_client.post(
        ASSIGN_URL, {"patient_id": patient.pk, "olcm_user_id": jane.pk}, format="json"
    )
    assert second.status_code == 200
    assert second.json()["case_load"]["updated_at"] == first.json()["case_load"]["updated_at"]
    assert LcmAssignmentHistory.objects.count() == 1
    assert Activity.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, ["patient_id is required"]),
        ({"olcm_user_id": 1}, ["patient_id is required"]),
        ({"patient_id": None, "olcm_user_id": 1}, ["patient_id is required"]),
        ({"patient_id": "abc"}, ["patient_id must be an integer"]),
        ({"patient_id": 1.5}, ["patient_id must be an integer"]),
        ({"patient_id": True}, ["patient_id must be an integer"]),
        ({"patient_id": {"id": 1}}, ["patient_id must be an integer"]),
        ({"patient_id": -3}, ["patient_id must be a positive integer"]),
        ({"patient_id": 1, "olcm_user_id": "x"}, ["olcm_user_id must be an integer"]),
        ({"patient_id": 1, "ilcm_user_id": False}, ["ilcm_user_id must be an integer"]),
        ({"patient_id": 1, "provider_id": [1]}, ["provider_id must be an integer"]),
        ({"patient_id": 1, "olcm_user_id": 1, "reason": 5}, ["reason must be a string"]),
        ({"patient_id": 1, "olcm_user_id": 1, "note": "x"}, ["Unknown key: note"]),
        (
            {"patient_id": "x", "olcm": 1, "oclm": 2},
            ["Unknown keys: oclm, olcm", "patient_id must be an integer"],
        ),
        ([1, 2], ["Request body must be a JSON object"]),
    ],
)
def test_assign_rejects_bad_input(admin_client, body, errors):
    response = admin_client.post(ASSIGN_URL, body, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": errors}


def test_malformed_json_is_400(admin_client):
    response = admin_client.post(ASSIGN_URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()) == ["errors"]


def test_unknown_or_non_ecm_patient_is_404(admin_client, jane):
    plain = factories.PatientFactory()
    for patient_id in (plain.pk, 987_654):
        response = admin_client.post(
            ASSIGN_URL, {"patient_id": patient_id, "olcm_user_id": jane.pk}, format="json"
        )
        assert response.status_code == 404
        assert response.json() == {"errors": ["Patient not found"]}


def test_order_of_checks(admin_client, patient):
    # a missing patient is reported before the missing LCM ids
    response = admin_client.post(ASSIGN_URL, {"patient_id": 987_654}, format="json")
    assert response.status_code == 404
    assert response.json() == {"errors": ["Patient not found"]}
    # and the missing LCM ids before invalid ids (none given here, provider is ignored)
    response = admin_client.post(
        ASSIGN_URL, {"patient_id": patient.pk, "provider_id": 987_654}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": ["At least one of olcm_user_id or ilcm_user_id must be provided"]
    }
    # an unknown patient is reported before an invalid LCM
    response = admin_client.post(
        ASSIGN_URL, {"patient_id": 987_654, "olcm_user_id": 987_654}, format="json"
    )
    assert response.status_code == 404


def test_neither_lcm_is_422_exact(admin_client, patient):
    response = admin_client.post(
        ASSIGN_URL, {"patient_id": patient.pk, "olcm_user_id": None}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": ["At least one of olcm_user_id or ilcm_user_id must be provided"]
    }


def test_invalid_lcm_is_422_and_writes_nothing(admin_client, patient, jane):
    inactive = factories.lcm_user(is_active=False)
    response = admin_client.post(
        ASSIGN_URL,
        {"patient_id": patient.pk, "olcm_user_id": jane.pk, "ilcm_user_id": inactive.pk},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": [f"ilcm_user_id {inactive.pk} is not an active Lead Care Manager"]
    }
    assert not CaseLoad.objects.exists()
    assert not LcmAssignmentHistory.objects.exists()
    assert not Activity.objects.exists()


def test_provider_must_be_a_provider(admin_client, patient, jane):
    response = admin_client.post(
        ASSIGN_URL,
        {"patient_id": patient.pk, "olcm_user_id": jane.pk, "provider_id": jane.pk},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {"errors": [f"provider_id {jane.pk} is not an active provider"]}


def test_reason_too_long_is_422(admin_client, patient, jane):
    response = admin_client.post(
        ASSIGN_URL,
        {"patient_id": patient.pk, "olcm_user_id": jane.pk, "reason": "x" * 1001},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {"errors": ["reason must be at most 1000 characters"]}


# --- DELETE lead_care_managers/assign ------------------------------------------------


@pytest.fixture
def assigned(patient, jane, bob):
    return factories.CaseLoadFactory(
        patient=patient,
        olcm=jane,
        ilcm=bob,
        olcm_assigned_at=dt.datetime(2024, 11, 27, 10, tzinfo=dt.UTC),
        ilcm_assigned_at=dt.datetime(2024, 11, 27, 10, tzinfo=dt.UTC),
    )


def test_delete_with_body(admin_client, assigned, jane):
    response = admin_client.delete(
        ASSIGN_URL, {"patient_id": assigned.patient_id, "role": "olcm"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Lead Care Manager assignment removed successfully"}
    assigned.refresh_from_db()
    assert (assigned.olcm_id, assigned.olcm_assigned_at) == (None, None)
    assert assigned.ilcm_id is not None
    entry = LcmAssignmentHistory.objects.get(patient_id=assigned.patient_id)
    assert (entry.role, entry.previous_user_id, entry.new_user_id) == ("olcm", jane.pk, None)
    activity = Activity.objects.get(patient_id=assigned.patient_id)
    assert activity.kind == ActivityKind.LCM_REMOVED


def test_delete_with_query_string(admin_client, assigned, bob):
    url = f"{ASSIGN_URL}?patient_id={assigned.patient_id}&role=ilcm"
    response = admin_client.delete(url)
    assert response.status_code == 200
    assigned.refresh_from_db()
    assert assigned.ilcm_id is None
    assert assigned.olcm_id is not None


@pytest.mark.parametrize(
    ("data", "status", "errors"),
    [
        ({"role": "olcm"}, 422, ["patient_id is required"]),
        ({"patient_id": "abc", "role": "olcm"}, 422, ["patient_id must be an integer"]),
        ({"patient_id": "{pk}"}, 422, ["role is required"]),
        ({"patient_id": "{pk}", "role": "provider"}, 422, ["role must be one of: olcm, ilcm"]),
        ({"patient_id": "{pk}", "role": 1}, 422, ["role must be one of: olcm, ilcm"]),
        ({"patient_id": 987_654, "role": "bad"}, 422, ["role must be one of: olcm, ilcm"]),
        ({"patient_id": 987_654, "role": "olcm"}, 404, ["Patient not found"]),
        ({"patient_id": "{pk}", "role": "olcm", "x": 1}, 422, ["Unknown key: x"]),
    ],
)
def test_delete_errors(admin_client, patient, data, status, errors):
    data = {k: (patient.pk if v == "{pk}" else v) for k, v in data.items()}
    response = admin_client.delete(ASSIGN_URL, data, format="json")
    assert response.status_code == status
    assert response.json() == {"errors": errors}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("patient_id={other}", ["patient_id in the query string does not match the body"]),
        ("role=ilcm", ["role in the query string does not match the body"]),
        ("patient_id={pk}&role=bad", ["role in the query string does not match the body"]),
        ("reason=Leaving", ["reason in the query string does not match the body"]),
        ("patient_id=x&role=ilcm", [
            "patient_id in the query string does not match the body",
            "role in the query string does not match the body",
        ]),
        ("note=1", ["Unknown key in the query string: note"]),
    ],
)  # fmt: skip
def test_delete_with_a_body_and_a_query_string_that_disagree_is_422(
    admin_client, assigned, query, errors
):
    """Which of the two would count is a guess: nothing is removed."""
    other = factories.ecm_patient()
    query = query.format(pk=assigned.patient_id, other=other.pk)
    body = {"patient_id": assigned.patient_id, "role": "olcm"}
    response = admin_client.delete(f"{ASSIGN_URL}?{query}", body, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": errors}
    assigned.refresh_from_db()
    assert assigned.olcm_id is not None and assigned.ilcm_id is not None
    assert not LcmAssignmentHistory.objects.exists()


def test_delete_with_a_body_and_a_query_string_that_agree_is_fine(admin_client, assigned):
    query = f"patient_id=0{assigned.patient_id}&role=OLCM&reason=Leaving"
    body = {"patient_id": assigned.patient_id, "role": "olcm", "reason": "Leaving"}
    response = admin_client.delete(f"{ASSIGN_URL}?{query}", body, format="json")
    assert response.status_code == 200
    assigned.refresh_from_db()
    assert assigned.olcm_id is None
    assert LcmAssignmentHistory.objects.get().reason == "Leaving"


def test_delete_with_a_repeated_query_parameter_is_422(admin_client, assigned):
    other = factories.ecm_patient()
    url = f"{ASSIGN_URL}?patient_id={other.pk}&patient_id={assigned.patient_id}&role=olcm"
    response = admin_client.delete(url)
    assert response.status_code == 422
    assert response.json() == {"errors": ["patient_id must be given once"]}
    assigned.refresh_from_db()
    assert assigned.olcm_id is not None


def test_delete_role_not_assigned_is_404(admin_client, patient, jane):
    no_case_load = admin_client.delete(
        ASSIGN_URL, {"patient_id": patient.pk, "role": "olcm"}, format="json"
    )
    assert no_case_load.status_code == 404
    assert no_case_load.json() == {"errors": ["Patient has no oLCM assigned"]}

    factories.CaseLoadFactory(patient=patient, olcm=jane)
    response = admin_client.delete(f"{ASSIGN_URL}?patient_id={patient.pk}&role=ilcm")
    assert response.status_code == 404
    assert response.json() == {"errors": ["Patient has no iLCM assigned"]}
    assert not LcmAssignmentHistory.objects.exists()


# --- GET patients/{id}/lead_care_managers -----------------------------------------------


def test_patient_lcms_shape(admin_client, assigned, dr_smith):
    assigned.provider = dr_smith
    assigned.save()
    response = admin_client.get(patient_lcms_url(assigned.patient_id))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"patient_id", "patient_name", "case_load"}
    assert set(body["case_load"]) == {"id", "provider_id", "provider_name", "olcm", "ilcm"}
    assert set(body["case_load"]["olcm"]) == {"user_id", "name", "email", "assigned_at"}
    assert body == {
        "patient_id": assigned.patient_id,
        "patient_name": "John Doe",
        "case_load": {
            "id": assigned.pk,
            "provider_id": dr_smith.pk,
            "provider_name": "Dr. Smith",
            "olcm": {
                "user_id": assigned.olcm_id,
                "name": "Jane Coordinator",
                "email": "jane@example.org",
                "assigned_at": "2024-11-27T10:00:00.000Z",
            },
            "ilcm": {
                "user_id": assigned.ilcm_id,
                "name": "Bob Manager",
                "email": "bob@example.org",
                "assigned_at": "2024-11-27T10:00:00.000Z",
            },
        },
    }


def test_patient_lcms_nulls(admin_client, patient, jane):
    body = admin_client.get(patient_lcms_url(patient.pk)).json()
    assert body == {"patient_id": patient.pk, "patient_name": "John Doe", "case_load": None}

    admin_client.post(
        ASSIGN_URL, {"patient_id": patient.pk, "olcm_user_id": jane.pk}, format="json"
    )
    case_load = admin_client.get(patient_lcms_url(patient.pk)).json()["case_load"]
    assert case_load["ilcm"] is None
    assert case_load["provider_id"] is None
    assert case_load["provider_name"] is None
    assert TIMESTAMP.match(case_load["olcm"]["assigned_at"])


def test_patient_lcms_errors(admin_client):
    plain = factories.PatientFactory()
    for patient_id in (plain.pk, 987_654):
        response = admin_client.get(patient_lcms_url(patient_id))
        assert response.status_code == 404
        assert response.json() == {"errors": ["Patient not found"]}
    for bad in ("abc", "1.5", "-1", "99999999999999999999"):
        response = admin_client.get(patient_lcms_url(bad))
        assert response.status_code == 422
        assert response.json()["errors"][0].startswith("patient_id must be")
