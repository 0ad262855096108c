"""The ECM Patients API: list, detail, update and filter (API.md §1 and §3)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import Activity, EcmEligibilityInformation, EcmStatusHistory, Patient
from tests import factories

BASE = "/v1/admin/clinic/ecm"
LIST_ITEM_KEYS = {"id", "name", "date_of_birth", "ecm_eligibility_information", "case_load"}
LIST_ELIGIBILITY_KEYS = {
    "id",
    "member_id",
    "cin",
    "ecm_service_auth_id",
    "ecm_provider_name",
    "ecm_benefit_auth_eff_date",
    "ecm_benefit_auth_end_date",
    "acuity_level",
    "member_record_status",
}
LIST_CASE_LOAD_KEYS = {
    "provider_id",
    "provider_name",
    "olcm_user_id",
    "olcm_name",
    "ilcm_user_id",
    "ilcm_name",
}
DETAIL_KEYS = {
    "id",
    "name",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "address",
    "phone",
    "email",
    "services",
    "ecm_eligibility_information",
    "case_load",
    "ecm_authorizations",
    "ecm_status_history",
    "activities_count",
    "last_activity_at",
}
PAGINATION_KEYS = {"current_page", "total_pages", "total_count", "per_page"}

pytestmark = pytest.mark.django_db


def with_case_load(patient, **kwargs):
    return factories.CaseLoadFactory(patient=patient, **kwargs)


@pytest.fixture
def care_team():
    return {
        "provider": factories.provider_user(first_name="Dr.", last_name="Smith"),
        "olcm": factories.lcm_user(first_name="Jane", last_name="Coordinator"),
        "ilcm": factories.lcm_user(first_name="Bob", last_name="Manager"),
    }


@pytest.fixture
def john(care_team):
    patient = factories.ecm_patient(
        patient__first_name="John",
        patient__last_name="Doe",
        patient__date_of_birth=dt.date(2010, 5, 15),
        member_id="MEMJOHN00001",  # outside the factories' MEM%010d sequence
        cin="CIN123456",
        acuity_level="high",
        member_record_status="new_member",
    )
    with_case_load(patient, **care_team)
    return patient


# --- authentication and authorization -------------------------------------------

ROUTES = [
    ("get", f"{BASE}/patients", None),
    ("post", f"{BASE}/patients/filter", {}),
    ("get", f"{BASE}/patients/1", None),
    ("put", f"{BASE}/patients/1", {"patient": {}}),
    ("patch", f"{BASE}/patients/1", {"patient": {}}),
]


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_without_token_is_401(anon_client, method, url, body):
    response = getattr(anon_client, method)(url, body, format="json")
    assert response.status_code == 401
    assert response.json() == {"errors": ["Authentication required"]}
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_non_admin_is_403(viewer_client, method, url, body):
    response = getattr(viewer_client, method)(url, body, format="json")
    assert response.status_code == 403
    assert response.json() == {"errors": ["Admin access required"]}


# --- list -------------------------------------------------------------------------


def test_list_has_exact_seed_shape(admin_client, john, care_team):
    response = admin_client.get(f"{BASE}/patients")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"patients", "pagination"}
    assert set(body["pagination"]) == PAGINATION_KEYS
    [item] = body["patients"]
    assert set(item) == LIST_ITEM_KEYS
    assert set(item["ecm_eligibility_information"]) == LIST_ELIGIBILITY_KEYS
    assert set(item["case_load"]) == LIST_CASE_LOAD_KEYS
    assert item["id"] == john.id
    assert item["name"] == "John Doe"
    assert item["date_of_birth"] == "2010-05-15"
    info = item["ecm_eligibility_information"]
    assert info["member_id"] == "MEMJOHN00001"
    assert info["acuity_level"] == "high"
    assert info["ecm_benefit_auth_eff_date"] == "2024-01-01"
    assert item["case_load"] == {
        "provider_id": care_team["provider"].id,
        "provider_name": "Dr. Smith",
        "olcm_user_id": care_team["olcm"].id,
        "olcm_name": "Jane Coordinator",
        "ilcm_user_id": care_team["ilcm"].id,
        "ilcm_name": "Bob Manager",
    }
    assert body["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 1,
        "per_page": 25,
    }


def test_list_shows_null_case_load_and_null_blank_values(admin_client):
    factories.ecm_patient(cin="", acuity_level="")
    item = admin_client.get(f"{BASE}/patients").json()["patients"][0]
    assert item["case_load"] is None
    assert item["ecm_eligibility_information"]["cin"] is None
    assert item["ecm_eligibility_information"]["acuity_level"] is None


def test_list_excludes_patients_without_eligibility(admin_client):
    factories.PatientFactory()
    ecm = factories.ecm_patient()
    ids = [p["id"] for p in admin_client.get(f"{BASE}/patients").json()["patients"]]
    assert ids == [ecm.id]


def test_list_default_order_is_id_ascending(admin_client):
    patients = [factories.ecm_patient() for _ in range(4)]
    ids = [p["id"] for p in admin_client.get(f"{BASE}/patients").json()["patients"]]
    assert ids == sorted(p.id for p in patients)


def test_pagination_pages_and_totals(admin_client):
    created = [factories.ecm_patient() for _ in range(5)]
    body = admin_client.get(f"{BASE}/patients", {"page": 2, "per_page": 2}).json()
    assert [p["id"] for p in body["patients"]] == [created[2].id, created[3].id]
    assert body["pagination"] == {
        "current_page": 2,
        "total_pages": 3,
        "total_count": 5,
        "per_page": 2,
    }


@pytest.mark.parametrize(
    ("sort_by", "sort_dir"),
    [("id", "ASC"), ("name", "DESC"), ("date_of_birth", "DESC"), ("acuity_level", "ASC")],
)
def test_every_page_is_the_matching_slice_of_the_whole_order(admin_client, sort_by, sort_dir):
    """Pages past the middle are read from the reversed order: they must still line up."""
    for i in range(7):
        factories.ecm_patient(
            patient__last_name=("Adams", "Baker")[i % 2],
            patient__date_of_birth=None if i % 3 == 0 else dt.date(1990, 1, 1 + i % 2),
            acuity_level=("low", "", "high")[i % 3],
        )
    order = {"sort_by": sort_by, "sort_dir": sort_dir}
    everything = _filter(admin_client, {**order, "per_page": 100})
    for per_page in (2, 3):
        paged = []
        for page in range(1, 5):
            paged += _filter(admin_client, {**order, "per_page": per_page, "page": page})
        assert paged == everything


def test_page_past_the_end_is_empty_with_totals(admin_client):
    factories.ecm_patient()
    body = admin_client.get(f"{BASE}/patients", {"page": 9}).json()
    assert body["patients"] == []
    assert body["pagination"]["total_count"] == 1
    assert body["pagination"]["current_page"] == 9


def test_per_page_is_capped_at_100(admin_client):
    factories.ecm_patient()
    body = admin_client.get(f"{BASE}/patients", {"per_page": 500}).json()
    assert body["pagination"]["per_page"] == 100


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": 0}, "page must be a positive integer"),
        ({"page": "abc"}, "page must be a positive integer"),
        ({"per_page": -1}, "per_page must be a positive integer"),
        ({"per_page": "2.5"}, "per_page must be a positive integer"),
    ],
)
def test_bad_paging_is_422(admin_client, params, message):
    response = admin_client.get(f"{BASE}/patients", params)
    assert response.status_code == 422
    assert response.json() == {"errors": [message]}


def test_trailing_slash_works(admin_client, john):
    assert admin_client.get(f"{BASE}/patients/").status_code == 200
    assert admin_client.get(f"{BASE}/patients/{john.id}/").status_code == 200


# --- search -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "term", ["john", "JOHN", "doe", "john do", "Hn D", "memjohn00001", "cin123", "123456"]
)
def test_search_matches_names_member_id_and_cin(admin_client, john, term):
    factories.ecm_patient(patient__first_name="Mary", patient__last_name="Major", cin="")
    ids = [
        p["id"] for p in admin_client.get(f"{BASE}/patients", {"search": term}).json()["patients"]
    ]
    assert ids == [john.id]


def test_blank_search_means_no_search(admin_client, john):
    other = factories.ecm_patient()
    body = admin_client.get(f"{BASE}/patients", {"search": "   "}).json()
    assert {p["id"] for p in body["patients"]} == {john.id, other.id}


def test_search_treats_like_wildcards_literally(admin_client, john):
    assert admin_client.get(f"{BASE}/patients", {"search": "%"}).json()["patients"] == []
    assert admin_client.get(f"{BASE}/patients", {"search": "_"}).json()["patients"] == []


def test_search_with_nul_byte_is_422(admin_client, john):
    response = admin_client.post(f"{BASE}/patients/filter", {"search": "jo\x00hn"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["search must not contain NUL characters"]}


def test_overlong_search_is_422(admin_client):
    response = admin_client.get(f"{BASE}/patients", {"search": "x" * 201})
    assert response.status_code == 422


# --- filters ------------------------------------------------------------------------


def test_get_filters_by_status_and_provider(admin_client, john, care_team):
    factories.ecm_patient(member_record_status="terminated_member")
    body = admin_client.get(f"{BASE}/patients", {"status": "new_member"}).json()
    assert [p["id"] for p in body["patients"]] == [john.id]
    body = admin_client.get(f"{BASE}/patients", {"provider_id": care_team["provider"].id}).json()
    assert [p["id"] for p in body["patients"]] == [john.id]


def test_get_accepts_every_filter_key(admin_client, john, care_team):
    params = {
        "acuity_level": "high",
        "olcm_user_id": care_team["olcm"].id,
        "ilcm_user_id": care_team["ilcm"].id,
        "sort_by": "name",
        "sort_dir": "desc",
    }
    body = admin_client.get(f"{BASE}/patients", params).json()
    assert [p["id"] for p in body["patients"]] == [john.id]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "alive"}, "status must be one of: new_member, continuing_member"),
        ({"provider_id": "abc"}, "provider_id must be a positive integer"),
        ({"provider_id": "1.5"}, "provider_id must be a positive integer"),
        ({"acuity_level": "extreme"}, "acuity_level must be one of: low, medium, high"),
        ({"missing_lcm": "both"}, "missing_lcm must be one of: olcm, ilcm, any"),
    ],
)
def test_get_bad_filter_values_are_422(admin_client, params, fragment):
    response = admin_client.get(f"{BASE}/patients", params)
    assert response.status_code == 422
    assert fragment in response.json()["errors"][0]


def _filter(client, body):
    response = client.post(f"{BASE}/patients/filter", body, format="json")
    assert response.status_code == 200, response.json()
    return [p["id"] for p in response.json()["patients"]]


def test_filter_seed_example_request(admin_client, john, care_team):
    body = {
        "search": "John",
        "filters": {
            "status": "new_member",
            "acuity_level": "high",
            "provider_id": care_team["provider"].id,
        },
        "sort_by": "created_at",
        "sort_dir": "DESC",
        "page": 1,
        "per_page": 25,
    }
    factories.ecm_patient(patient__first_name="John", acuity_level="low")
    response = admin_client.post(f"{BASE}/patients/filter", body, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"patients", "pagination"}
    assert [p["id"] for p in response.json()["patients"]] == [john.id]


def test_filter_by_lcm_ids(admin_client, john, care_team):
    other = factories.ecm_patient()
    with_case_load(other, olcm=care_team["ilcm"])
    assert _filter(admin_client, {"filters": {"olcm_user_id": care_team["olcm"].id}}) == [john.id]
    assert _filter(admin_client, {"filters": {"ilcm_user_id": care_team["ilcm"].id}}) == [john.id]
    assert _filter(admin_client, {"filters": {"olcm_user_id": care_team["ilcm"].id}}) == [other.id]


def test_filter_by_authorization_status_is_case_insensitive(admin_client, john):
    factories.AuthorizationFactory(patient=john, status="Approved")
    other = factories.ecm_patient()
    factories.AuthorizationFactory(patient=other, status="Denied")
    factories.AuthorizationFactory(patient=john, status="Denied")
    assert _filter(admin_client, {"filters": {"authorization_status": "approved"}}) == [john.id]
    assert _filter(admin_client, {"filters": {"authorization_status": "DENIED"}}) == [
        john.id,
        other.id,
    ]


def test_filter_missing_lcm(admin_client, john, care_team):
    no_case_load = factories.ecm_patient()
    only_olcm = factories.ecm_patient()
    with_case_load(only_olcm, olcm=care_team["olcm"])
    only_ilcm = factories.ecm_patient()
    with_case_load(only_ilcm, ilcm=care_team["ilcm"])
    assert _filter(admin_client, {"filters": {"missing_lcm": "olcm"}}) == [
        no_case_load.id,
        only_ilcm.id,
    ]
    assert _filter(admin_client, {"filters": {"missing_lcm": "ilcm"}}) == [
        no_case_load.id,
        only_olcm.id,
    ]
    assert _filter(admin_client, {"filters": {"missing_lcm": "any"}}) == [
        no_case_load.id,
        only_olcm.id,
        only_ilcm.id,
    ]


def test_filter_values_may_be_strings_or_null(admin_client, john, care_team):
    body = {"filters": {"provider_id": str(care_team["provider"].id), "status": None}}
    assert _filter(admin_client, body) == [john.id]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"filters": {"colour": "red"}}, "Unknown key in filters: colour"),
        ({"filter": {}}, "Unknown key: filter"),
        ({"filters": ["status"]}, "filters must be a JSON object"),
        ({"filters": {"provider_id": True}}, "filters.provider_id must be a string or an integer"),
        ({"filters": {"status": {"a": 1}}}, "filters.status must be a string or an integer"),
        ({"filters": {"provider_id": 0}}, "provider_id must be a positive integer"),
        ({"search": 42}, "search must be a string"),
        ({"sort_by": "password"}, "sort_by must be one of: id, name, first_name"),
        ({"sort_dir": "UP"}, "sort_dir must be one of: ASC, DESC"),
        ({"page": "x"}, "page must be a positive integer"),
        ({"per_page": True}, "per_page must be a positive integer"),
    ],
)
def test_filter_bad_body_is_422(admin_client, body, fragment):
    response = admin_client.post(f"{BASE}/patients/filter", body, format="json")
    assert response.status_code == 422
    assert any(fragment in error for error in response.json()["errors"]), response.json()


def test_filter_body_must_be_an_object(admin_client):
    response = admin_client.post(f"{BASE}/patients/filter", [1, 2], format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["Request body must be a JSON object"]}


def test_filter_malformed_json_is_400(admin_client):
    response = admin_client.post(
        f"{BASE}/patients/filter", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["errors"]


def test_filter_with_empty_body_lists_everything(admin_client, john):
    response = admin_client.post(f"{BASE}/patients/filter", content_type="application/json")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["patients"]] == [john.id]


def test_get_on_filter_route_is_405(admin_client):
    response = admin_client.get(f"{BASE}/patients/filter")
    assert response.status_code == 405
    assert list(response.json()) == ["errors"]


# --- sorting ------------------------------------------------------------------------


def test_sort_by_acuity_uses_severity(admin_client):
    high = factories.ecm_patient(acuity_level="high")
    low = factories.ecm_patient(acuity_level="low")
    medium = factories.ecm_patient(acuity_level="medium")
    none = factories.ecm_patient(acuity_level="")
    assert _filter(admin_client, {"sort_by": "acuity_level"}) == [
        low.id,
        medium.id,
        high.id,
        none.id,
    ]
    assert _filter(admin_client, {"sort_by": "acuity_level", "sort_dir": "desc"}) == [
        high.id,
        medium.id,
        low.id,
        none.id,
    ]


def test_sort_by_name_is_last_then_first_with_id_ties(admin_client):
    a = factories.ecm_patient(patient__first_name="Zoe", patient__last_name="Adams")
    b = factories.ecm_patient(patient__first_name="Amy", patient__last_name="Baker")
    c = factories.ecm_patient(patient__first_name="Amy", patient__last_name="Adams")
    d = factories.ecm_patient(patient__first_name="Amy", patient__last_name="Adams")
    assert _filter(admin_client, {"sort_by": "name"}) == [c.id, d.id, a.id, b.id]


@pytest.mark.parametrize(
    "sort_by",
    [
        "id",
        "first_name",
        "last_name",
        "date_of_birth",
        "created_at",
        "updated_at",
        "member_id",
        "member_record_status",
        "ecm_benefit_auth_eff_date",
        "ecm_benefit_auth_end_date",
    ],
)
def test_every_whitelisted_sort_is_deterministic(admin_client, sort_by):
    for i in range(3):
        factories.ecm_patient(
            member_id=f"M{3 - i}",
            ecm_benefit_auth_eff_date=dt.date(2024, 1, 1 + i % 2),
            ecm_benefit_auth_end_date=dt.date(2024, 12, 1 + i % 2),
        )
    asc = _filter(admin_client, {"sort_by": sort_by, "sort_dir": "asc"})
    desc = _filter(admin_client, {"sort_by": sort_by, "sort_dir": "DESC"})
    assert len(asc) == 3
    assert asc == list(reversed(desc))


def test_sort_by_member_id(admin_client):
    b = factories.ecm_patient(member_id="MEM2")
    a = factories.ecm_patient(member_id="MEM1")
    assert _filter(admin_client, {"sort_by": "member_id"}) == [a.id, b.id]


# --- detail -------------------------------------------------------------------------


def test_detail_has_exact_seed_shape(admin_client, john, care_team):
    factories.AuthorizationFactory(patient=john, start_date=dt.date(2023, 1, 1))
    newer = factories.AuthorizationFactory(patient=john, start_date=dt.date(2024, 1, 1))
    old = factories.StatusHistoryFactory(
        patient=john, changed_at=timezone.make_aware(dt.datetime(2024, 1, 15, 10, 0))
    )
    new = factories.StatusHistoryFactory(
        patient=john,
        status="continuing_member",
        changed_at=timezone.make_aware(dt.datetime(2024, 3, 1, 9, 30, 15, 123456)),
    )
    factories.ActivityFactory(patient=john)
    factories.ActivityFactory(
        patient=john, created_at=timezone.make_aware(dt.datetime(2030, 11, 20, 14, 30))
    )

    response = admin_client.get(f"{BASE}/patients/{john.id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"patient"}
    patient = body["patient"]
    assert set(patient) == DETAIL_KEYS
    assert set(patient["address"]) == {"street", "city", "state", "zip"}
    assert set(patient["ecm_eligibility_information"]) == LIST_ELIGIBILITY_KEYS | {
        "ecm_npi",
        "created_at",
        "updated_at",
    }
    assert set(patient["case_load"]) == LIST_CASE_LOAD_KEYS | {"id"}
    assert patient["case_load"]["id"] == john.case_load.id
    assert patient["first_name"] == "John"
    assert patient["services"] == ["ecm"]
    assert patient["ecm_authorizations"][0]["id"] == newer.id
    assert set(patient["ecm_authorizations"][0]) == {
        "id",
        "auth_no",
        "auth_type",
        "authorization_type",
        "status",
        "start_date",
        "expiration_date",
    }
    assert [h["id"] for h in patient["ecm_status_history"]] == [new.id, old.id]
    assert patient["ecm_status_history"][0] == {
        "id": new.id,
        "status": "continuing_member",
        "changed_at": "2024-03-01T09:30:15.123Z",
        "changed_by": "System Import",
    }
    assert patient["activities_count"] == 2
    assert patient["last_activity_at"] == "2030-11-20T14:30:00.000Z"


def test_detail_timestamps_have_milliseconds_and_z(admin_client, john):
    info = admin_client.get(f"{BASE}/patients/{john.id}").json()["patient"][
        "ecm_eligibility_information"
    ]
    assert info["created_at"].endswith("Z")
    dt.datetime.strptime(info["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(info["created_at"]) == len("2024-01-15T10:00:00.000Z")


def test_detail_without_activity_or_case_load(admin_client):
    patient = factories.ecm_patient()
    body = admin_client.get(f"{BASE}/patients/{patient.id}").json()["patient"]
    assert body["case_load"] is None
    assert body["activities_count"] == 0
    assert body["last_activity_at"] is None
    assert body["ecm_authorizations"] == []
    assert body["ecm_status_history"] == []


@pytest.mark.parametrize("method", ["get", "put", "patch"])
def test_unknown_patient_is_404(admin_client, method):
    non_ecm = factories.PatientFactory()
    for pk in (999999, non_ecm.id):
        response = getattr(admin_client, method)(
            f"{BASE}/patients/{pk}", {"patient": {}}, format="json"
        )
        assert response.status_code == 404
        assert response.json() == {"errors": ["Patient not found"]}


@pytest.mark.parametrize("pk", ["abc", "1.5", "-3", "0", "99999999999999999999999"])
def test_non_integer_id_is_422(admin_client, pk):
    response = admin_client.get(f"{BASE}/patients/{pk}")
    assert response.status_code == 422
    assert "id must be" in response.json()["errors"][0]


def test_delete_patient_is_405(admin_client, john):
    response = admin_client.delete(f"{BASE}/patients/{john.id}")
    assert response.status_code == 405
    assert Patient.objects.filter(pk=john.id).exists()


# --- update -------------------------------------------------------------------------


def _put(client, patient, data, method="put"):
    return getattr(client, method)(
        f"{BASE}/patients/{patient.id}", {"patient": data}, format="json"
    )


def test_seed_example_update_changes_status_and_acuity(admin_client, admin, john):
    response = _put(
        admin_client,
        john,
        {
            "ecm_eligibility_information": {
                "acuity_level": "low",
                "member_record_status": "continuing_member",
            }
        },
    )
    assert response.status_code == 200
    patient = response.json()["patient"]
    assert set(patient) == DETAIL_KEYS
    assert patient["ecm_eligibility_information"]["acuity_level"] == "low"
    assert patient["ecm_eligibility_information"]["member_record_status"] == "continuing_member"
    [entry] = patient["ecm_status_history"]
    assert entry["status"] == "continuing_member"
    assert entry["changed_by"] == "Ada Admin"
    info = EcmEligibilityInformation.objects.get(patient=john)
    assert info.acuity_level == "low"
    status_activities = Activity.objects.filter(patient=john, kind="status_changed")
    assert status_activities.count() == 1
    assert status_activities.get().actor == admin


def test_status_change_writes_one_history_entry_and_one_activity(admin_client, john):
    _put(
        admin_client,
        john,
        {"ecm_eligibility_information": {"member_record_status": "pending_member"}},
    )
    assert EcmStatusHistory.objects.filter(patient=john).count() == 1
    assert Activity.objects.filter(patient=john).count() == 1


def test_unchanged_status_appends_nothing(admin_client, john):
    response = _put(
        admin_client, john, {"ecm_eligibility_information": {"member_record_status": "new_member"}}
    )
    assert response.status_code == 200
    assert EcmStatusHistory.objects.filter(patient=john).count() == 0
    assert Activity.objects.filter(patient=john).count() == 0


def test_patch_is_partial_like_put(admin_client, john):
    response = _put(admin_client, john, {"first_name": "Johnny"}, method="patch")
    assert response.status_code == 200
    john.refresh_from_db()
    assert john.first_name == "Johnny"
    assert john.last_name == "Doe"
    activity = Activity.objects.get(patient=john)
    assert activity.kind == "patient_updated"
    assert activity.metadata == {"fields": ["first_name"]}
    assert "Johnny" not in activity.description


def test_update_writes_every_writable_field(admin_client, john):
    data = {
        "first_name": "Jon",
        "last_name": "Dough",
        "date_of_birth": "2011-06-16",
        "gender": "male",
        "phone": "+18051234567",
        "email": "jon@example.org",
        "address": {"street": "1 Elm St", "city": "Fresno", "state": "ca", "zip": "93650"},
        "ecm_eligibility_information": {
            "member_id": "MEM9",
            "cin": "ab1234567",
            "ecm_service_auth_id": "AUTH9",
            "ecm_provider_name": "Valley PSC",
            "ecm_npi": "1234567893",
            "ecm_benefit_auth_eff_date": "2025-01-01",
            "ecm_benefit_auth_end_date": "2025-06-30",
            "acuity_level": "medium",
            "member_record_status": "inactive_member",
        },
    }
    response = _put(admin_client, john, data)
    assert response.status_code == 200, response.json()
    patient = response.json()["patient"]
    assert patient["name"] == "Jon Dough"
    assert patient["address"] == {
        "street": "1 Elm St",
        "city": "Fresno",
        "state": "CA",
        "zip": "93650",
    }
    info = patient["ecm_eligibility_information"]
    assert info["cin"] == "AB1234567"
    assert info["ecm_npi"] == "1234567893"
    assert info["ecm_benefit_auth_end_date"] == "2025-06-30"


def test_client_can_send_back_what_it_read(admin_client, john):
    factories.AuthorizationFactory(patient=john)
    read = admin_client.get(f"{BASE}/patients/{john.id}").json()
    response = admin_client.put(f"{BASE}/patients/{john.id}", read, format="json")
    assert response.status_code == 200, response.json()
    assert Activity.objects.filter(patient=john).count() == 0


def test_optional_values_can_be_cleared(admin_client, john):
    response = _put(
        admin_client,
        john,
        {"phone": None, "gender": "", "ecm_eligibility_information": {"acuity_level": None}},
    )
    assert response.status_code == 200
    patient = response.json()["patient"]
    assert patient["phone"] is None
    assert patient["gender"] is None
    assert patient["ecm_eligibility_information"]["acuity_level"] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"ecm_eligibility_information": {"member_id": ""}},
            "Validation failed: Member ID can't be blank",
        ),
        (
            {"ecm_eligibility_information": {"member_id": None}},
            "Validation failed: Member ID can't be blank",
        ),
        (
            {"ecm_eligibility_information": {"acuity_level": "extreme"}},
            "Validation failed: Acuity level must be one of: low, medium, high",
        ),
        (
            {"ecm_eligibility_information": {"member_record_status": "gone"}},
            "Validation failed: Member record status must be one of: new_member, "
            "continuing_member, pending_member, terminated_member, inactive_member",
        ),
        (
            {"ecm_eligibility_information": {"member_record_status": None}},
            "Validation failed: Member record status can't be blank",
        ),
        (
            {"ecm_eligibility_information": {"cin": "12345"}},
            "Validation failed: CIN must be 9 letters or digits",
        ),
        (
            {"ecm_eligibility_information": {"ecm_npi": "1234567890"}},
            "Validation failed: ECM NPI is not a valid NPI (10 digits with a valid check digit)",
        ),
        (
            {"ecm_eligibility_information": {"ecm_benefit_auth_eff_date": "2024-02-30"}},
            "Validation failed: ECM benefit auth effective date must be a valid date (YYYY-MM-DD)",
        ),
        (
            {"ecm_eligibility_information": {"ecm_benefit_auth_end_date": "2023-12-31"}},
            "Validation failed: ECM benefit auth end date can't be before the ECM benefit "
            "auth effective date",
        ),
        ({"email": "not-an-email"}, "Validation failed: Email is not a valid email address"),
        (
            {"gender": "robot"},
            "Validation failed: Gender must be one of: male, female, other, unknown",
        ),
        ({"first_name": "  "}, "Validation failed: First name can't be blank"),
        ({"first_name": 12}, "Validation failed: First name must be a string"),
        (
            {"last_name": "x" * 101},
            "Validation failed: Last name is too long (maximum is 100 characters)",
        ),
        ({"last_name": "Do\x00e"}, "patient.last_name must not contain NUL characters"),
        (
            {"date_of_birth": "15/05/2010"},
            "Validation failed: Date of birth must be a valid date (YYYY-MM-DD)",
        ),
        (
            {"date_of_birth": "2999-01-01"},
            "Validation failed: Date of birth can't be in the future",
        ),
        (
            {"date_of_birth": "1899-12-31"},
            "Validation failed: Date of birth can't be before 1900-01-01",
        ),
        (
            {"date_of_birth": "0001-01-01"},
            "Validation failed: Date of birth can't be before 1900-01-01",
        ),
        (
            {"address": {"zip": "9000"}},
            "Validation failed: Zip must be a 5-digit ZIP code (or ZIP+4)",
        ),
        ({"address": {"planet": "Mars"}}, "Validation failed: Unknown key in address: planet"),
        ({"address": "1 Main St"}, "Validation failed: address must be an object"),
        (
            {"favourite_colour": "blue"},
            "Validation failed: Unknown key in patient: favourite_colour",
        ),
        (
            {"ecm_eligibility_information": {"ssn": "x"}},
            "Validation failed: Unknown key in ecm_eligibility_information: ssn",
        ),
    ],
)
def test_invalid_update_is_422_and_changes_nothing(admin_client, john, data, message):
    before = Patient.objects.get(pk=john.pk)
    info_before = EcmEligibilityInformation.objects.get(patient=john)
    data = {**data, "first_name": data.get("first_name", "Changed")}
    response = _put(admin_client, john, data)
    assert response.status_code == 422
    assert message in response.json()["errors"]
    after = Patient.objects.get(pk=john.pk)
    assert (after.first_name, after.updated_at) == (before.first_name, before.updated_at)
    assert EcmEligibilityInformation.objects.get(patient=john).updated_at == info_before.updated_at
    assert not Activity.objects.filter(patient=john).exists()
    assert not EcmStatusHistory.objects.filter(patient=john).exists()


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    ("born", "message"),
    [
        ("0001-01-01", "Validation failed: Date of birth can't be before 1900-01-01"),
        ("1899-12-31", "Validation failed: Date of birth can't be before 1900-01-01"),
        ("tomorrow", "Validation failed: Date of birth can't be in the future"),
        ("1900-01-01", None),
        ("today", None),
    ],
)
def test_date_of_birth_is_within_1900_and_today(admin_client, john, method, born, message):
    today = timezone.localdate()
    born = {"today": today, "tomorrow": today + dt.timedelta(days=1)}.get(born, born)
    response = _put(admin_client, john, {"date_of_birth": str(born)}, method=method)
    john.refresh_from_db()
    if message is None:
        assert response.status_code == 200
        assert john.date_of_birth.isoformat() == str(born)
    else:
        assert response.status_code == 422
        assert response.json() == {"errors": [message]}
        assert john.date_of_birth == dt.date(2010, 5, 15)
        assert not Activity.objects.filter(patient=john).exists()


def test_a_stored_date_of_birth_out_of_bounds_does_not_block_other_changes(admin_client, john):
    Patient.objects.filter(pk=john.pk).update(date_of_birth=dt.date(1899, 1, 1))
    response = _put(admin_client, john, {"first_name": "Johnny"}, method="patch")
    assert response.status_code == 200
    john.refresh_from_db()
    assert (john.first_name, john.date_of_birth) == ("Johnny", dt.date(1899, 1, 1))


def test_every_problem_gets_its_own_sentence(admin_client, john):
    response = _put(
        admin_client,
        john,
        {"email": "nope", "ecm_eligibility_information": {"cin": "1", "acuity_level": "x"}},
    )
    assert response.status_code == 422
    assert len(response.json()["errors"]) == 3


def test_member_id_must_be_unique(admin_client, john):
    factories.ecm_patient(member_id="TAKEN1")
    response = _put(admin_client, john, {"ecm_eligibility_information": {"member_id": "TAKEN1"}})
    assert response.status_code == 422
    assert response.json() == {"errors": ["Validation failed: Member ID has already been taken"]}


def test_status_change_rolls_back_with_a_rejected_member_id(admin_client, john):
    factories.ecm_patient(member_id="TAKEN1")
    response = _put(
        admin_client,
        john,
        {
            "ecm_eligibility_information": {
                "member_id": "TAKEN1",
                "member_record_status": "pending_member",
            }
        },
    )
    assert response.status_code == 422
    assert EcmEligibilityInformation.objects.get(patient=john).member_record_status == "new_member"
    assert not EcmStatusHistory.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Validation failed: patient is required"),
        ({"patient": None}, "Validation failed: patient must be an object"),
        ({"patient": [], "extra": 1}, "Validation failed: Unknown key: extra"),
        ([], "Validation failed: request body must be a JSON object"),
    ],
)
def test_update_body_shape_errors(admin_client, john, body, message):
    response = admin_client.put(f"{BASE}/patients/{john.id}", body, format="json")
    assert response.status_code == 422
    assert message in response.json()["errors"]


def test_update_of_unknown_patient_with_bad_body_is_404(admin_client):
    response = admin_client.put(f"{BASE}/patients/424242", {"nope": 1}, format="json")
    assert response.status_code == 404
    assert response.json() == {"errors": ["Patient not found"]}


# --- the unfiltered list in id order (read from the eligibility records' patient index) ------


@pytest.mark.parametrize("sort_dir", ["ASC", "DESC"])
def test_every_page_of_the_unfiltered_list_in_id_order(admin_client, sort_dir):
    ecm = [factories.ecm_patient().pk for _ in range(7)]
    factories.PatientFactory()  # no ECM eligibility: never listed, never counted
    expected = sorted(ecm, reverse=sort_dir == "DESC")

    pages = [
        admin_client.get(
            f"{BASE}/patients", {"sort_dir": sort_dir, "per_page": 3, "page": page}
        ).json()
        for page in (1, 2, 3, 4)
    ]

    assert [[p["id"] for p in body["patients"]] for body in pages] == [
        expected[0:3],
        expected[3:6],
        expected[6:7],
        [],
    ]
    assert {body["pagination"]["total_count"] for body in pages} == {7}
    assert {body["pagination"]["total_pages"] for body in pages} == {3}


@pytest.mark.postgres
def test_a_deep_unfiltered_page_walks_the_eligibility_patient_index_alone(admin_client):
    """No join with the patients' table: the page's ids come from one index (the unique
    patient index of the eligibility records)."""
    for _ in range(3):
        factories.ecm_patient()
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(f"{BASE}/patients", {"page": 2, "per_page": 2})

    assert response.status_code == 200
    (ids_sql,) = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "patients_ecmeligibilityinformation"' in q["sql"] and "LIMIT" in q["sql"]
    ]
    assert "patients_patient" not in ids_sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + ids_sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "patients_ecmeligibilityinformation_patient_id_key" in plan, plan
