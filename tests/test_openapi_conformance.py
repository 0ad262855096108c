"""Real responses of every route, success and each error, against the OpenAPI document.

Each request goes through the test client; ``assert_conforms`` looks up the operation for
the request's path and method, fails on a status the document does not list, and validates
the body (and the documented required headers) against the schema for that status.
"""

import json
from unittest import mock

import pytest
from django.db import OperationalError

from tests import factories
from tests.openapi_contract import load_contract

BASE = "/v1/admin/clinic/ecm"
PATIENTS = f"{BASE}/patients"
LCMS = f"{BASE}/lead_care_managers"
ASSIGN = f"{LCMS}/assign"
BULK = f"{LCMS}/bulk_assign"

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract(db):
    return load_contract()


@pytest.fixture
def world(db):
    """A patient with everything the detail shows, a bare patient, two LCMs, a provider."""
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator", email="jane@example.org")
    bob = factories.lcm_user(first_name="Bob", last_name="Manager", email="bob@example.org")
    smith = factories.provider_user(first_name="Dr.", last_name="Smith", email="s@example.org")
    full = factories.ecm_patient(
        patient__first_name="John",
        patient__last_name="Doe",
        patient__gender="male",
        patient__phone="+18051234567",
        patient__email="john@example.org",
        patient__street="123 Main St",
        patient__city="Los Angeles",
        patient__state="CA",
        patient__zip_code="90001",
        cin="CIN123456",
        ecm_npi="1234567893",
    )
    factories.CaseLoadFactory(patient=full, provider=smith, olcm=jane, ilcm=bob)
    factories.AuthorizationFactory(patient=full)
    factories.StatusHistoryFactory(patient=full)
    factories.ActivityFactory(patient=full)
    bare = factories.ecm_patient(
        patient__first_name="Ann",
        patient__last_name="Bare",
        patient__date_of_birth=None,
        acuity_level="",
        cin="",
        ecm_benefit_auth_eff_date=None,
        ecm_benefit_auth_end_date=None,
    )
    return {"full": full, "bare": bare, "jane": jane, "bob": bob, "smith": smith}


def call(client, method, url, body=None, **extra):
    kwargs = dict(extra)
    if body is not None and method != "get":
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(url, **kwargs)


# --- success ---------------------------------------------------------------------------------


def test_patient_routes_success(contract, admin_client, world):
    full, bare = world["full"], world["bare"]
    for url in (PATIENTS, f"{PATIENTS}?search=john&sort_by=name&sort_dir=desc&per_page=500"):
        body = contract.assert_conforms(call(admin_client, "get", url))
        assert body["patients"]
    contract.assert_conforms(call(admin_client, "get", f"{PATIENTS}?page=99"))
    body = contract.assert_conforms(
        call(admin_client, "post", f"{PATIENTS}/filter", {"filters": {"missing_lcm": "any"}})
    )
    assert [p["id"] for p in body["patients"]] == [bare.id]
    for patient in (full, bare):
        response = call(admin_client, "get", f"{PATIENTS}/{patient.id}")
        body = contract.assert_conforms(response)
        assert body["patient"]["id"] == patient.id
    etag = call(admin_client, "get", f"{PATIENTS}/{full.id}")["ETag"]
    update = {
        "patient": {"ecm_eligibility_information": {"member_record_status": "pending_member"}}
    }
    contract.assert_conforms(call(admin_client, "put", f"{PATIENTS}/{full.id}", update))
    contract.assert_conforms(
        call(admin_client, "patch", f"{PATIENTS}/{bare.id}", {"patient": {"gender": None}})
    )
    # Sending back what was read is a valid update.
    detail = call(admin_client, "get", f"{PATIENTS}/{full.id}").json()
    contract.assert_conforms(call(admin_client, "put", f"{PATIENTS}/{full.id}/", detail))
    assert etag  # stale now: see the 412 test


def test_lcm_routes_success(contract, admin_client, world):
    full, bare, jane, bob = world["full"], world["bare"], world["jane"], world["bob"]
    contract.assert_conforms(call(admin_client, "get", LCMS))
    contract.assert_conforms(call(admin_client, "get", f"{LCMS}?role=olcm&search=jane"))
    for patient in (full, bare):
        contract.assert_conforms(
            call(admin_client, "get", f"{PATIENTS}/{patient.id}/lead_care_managers")
        )
    assign = {"patient_id": bare.id, "olcm_user_id": jane.id, "reason": "Initial"}
    contract.assert_conforms(call(admin_client, "post", ASSIGN, assign))
    contract.assert_conforms(
        call(admin_client, "put", ASSIGN, {"patient_id": str(bare.id), "ilcm_user_id": bob.id})
    )
    contract.assert_conforms(call(admin_client, "get", f"{PATIENTS}/{bare.id}/lead_care_managers"))
    contract.assert_conforms(
        call(admin_client, "delete", ASSIGN, {"patient_id": bare.id, "role": "olcm"})
    )
    contract.assert_conforms(
        call(admin_client, "delete", f"{ASSIGN}?patient_id={bare.id}&role=ilcm")
    )
    bulk = {
        "assignments": [
            {"patient_id": full.id, "olcm_user_id": bob.id},
            {"patient_id": 999999, "olcm_user_id": bob.id},
            {"patient_id": "x"},
            "not an object",
        ]
    }
    body = contract.assert_conforms(call(admin_client, "post", BULK, bulk))
    assert [r["status"] for r in body["results"]] == ["success", "failed", "failed", "failed"]


def test_auth_routes_success(contract, anon_client, admin, admin_client):
    admin.set_password("correct horse battery")
    admin.save()
    response = call(
        anon_client,
        "post",
        "/v1/auth/tokens",
        {"email": admin.email, "password": "correct horse battery"},
    )
    body = contract.assert_conforms(response)
    anon_client.credentials(HTTP_X_USER_TOKEN=body["token"])
    contract.assert_conforms(call(anon_client, "delete", "/v1/auth/tokens/current"))


# --- errors ----------------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("get", PATIENTS, None),
    ("post", f"{PATIENTS}/filter", {}),
    ("get", f"{PATIENTS}/1", None),
    ("put", f"{PATIENTS}/1", {"patient": {}}),
    ("patch", f"{PATIENTS}/1", {"patient": {}}),
    ("get", f"{PATIENTS}/1/lead_care_managers", None),
    ("get", LCMS, None),
    ("post", ASSIGN, {"patient_id": 1, "olcm_user_id": 2}),
    ("put", ASSIGN, {"patient_id": 1, "olcm_user_id": 2}),
    ("delete", ASSIGN, {"patient_id": 1, "role": "olcm"}),
    ("post", BULK, {"assignments": [{"patient_id": 1, "olcm_user_id": 2}]}),
]
IDS = [f"{method} {url}" for method, url, _ in ADMIN_ROUTES]


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ROUTES, ids=IDS)
def test_401_without_token_and_with_a_bad_one(contract, anon_client, method, url, body):
    response = call(anon_client, method, url, body)
    assert response.status_code == 401
    contract.assert_conforms(response)
    anon_client.credentials(HTTP_X_USER_TOKEN="ecm_not-a-real-token")
    response = call(anon_client, method, url, body)
    assert response.status_code == 401
    contract.assert_conforms(response)


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ROUTES, ids=IDS)
def test_403_without_the_admin_role(contract, viewer_client, method, url, body):
    response = call(viewer_client, method, url, body)
    assert response.status_code == 403
    contract.assert_conforms(response)


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ROUTES, ids=IDS)
def test_406_when_json_is_not_acceptable(contract, admin_client, method, url, body):
    response = call(admin_client, method, url, body, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    contract.assert_conforms(response)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("delete", PATIENTS),
        ("get", f"{PATIENTS}/filter"),
        ("post", f"{PATIENTS}/1"),
        ("post", f"{PATIENTS}/1/lead_care_managers"),
        ("patch", LCMS),
        ("patch", ASSIGN),
        ("get", BULK),
        ("get", "/v1/auth/tokens"),
        ("get", "/v1/auth/tokens/current"),
    ],
)
def test_405_for_a_verb_the_path_does_not_have(contract, admin_client, method, url):
    response = call(admin_client, method, url, {})
    assert response.status_code == 405
    contract.assert_conforms(response)


BODY_ROUTES = [(method, url) for method, url, body in ADMIN_ROUTES if body is not None] + [
    ("post", "/v1/auth/tokens")
]


@pytest.mark.parametrize(("method", "url"), BODY_ROUTES)
def test_400_for_malformed_json(contract, admin_client, method, url):
    response = getattr(admin_client, method)(url, data="{nope", content_type="application/json")
    assert response.status_code == 400
    contract.assert_conforms(response)


@pytest.mark.parametrize(("method", "url"), BODY_ROUTES)
def test_413_for_a_body_over_the_limit(contract, admin_client, settings, method, url):
    settings.MAX_REQUEST_BODY_BYTES = 64
    response = call(admin_client, method, url, {"padding": "x" * 200})
    assert response.status_code == 413
    contract.assert_conforms(response, method=method, url=url)


@pytest.mark.parametrize(("method", "url"), BODY_ROUTES)
def test_415_for_a_body_that_is_not_json(contract, admin_client, method, url):
    response = getattr(admin_client, method)(url, data="a=1", content_type="text/plain")
    assert response.status_code == 415
    contract.assert_conforms(response)


def test_404s(contract, admin_client, world):
    jane = world["jane"]
    unassigned = world["bare"]
    for response in (
        call(admin_client, "get", f"{PATIENTS}/999999"),
        call(admin_client, "put", f"{PATIENTS}/999999", {"patient": {"bogus": 1}}),
        call(admin_client, "patch", f"{PATIENTS}/999999", {"patient": {}}),
        call(admin_client, "get", f"{PATIENTS}/999999/lead_care_managers"),
        call(admin_client, "post", ASSIGN, {"patient_id": 999999, "olcm_user_id": jane.id}),
        call(admin_client, "put", ASSIGN, {"patient_id": 999999, "olcm_user_id": jane.id}),
        call(admin_client, "delete", ASSIGN, {"patient_id": 999999, "role": "olcm"}),
        call(admin_client, "delete", ASSIGN, {"patient_id": unassigned.id, "role": "ilcm"}),
    ):
        assert response.status_code == 404, response.content
        contract.assert_conforms(response)


def test_422s(contract, admin_client, world):
    full = world["full"]
    cases = [
        ("get", f"{PATIENTS}?sort_by=colour", None),
        ("get", f"{PATIENTS}?page=0", None),
        ("get", f"{PATIENTS}?status=nope", None),
        ("get", f"{PATIENTS}?search=%00", None),
        ("get", f"{PATIENTS}/abc", None),
        ("get", f"{PATIENTS}/abc/lead_care_managers", None),
        ("post", f"{PATIENTS}/filter", {"filters": {"colour": "red"}}),
        ("post", f"{PATIENTS}/filter", {"filters": False}),
        ("post", f"{PATIENTS}/filter", {"sort_dir": "sideways"}),
        ("put", f"{PATIENTS}/{full.id}", {}),
        ("put", f"{PATIENTS}/{full.id}", {"patient": {"first_name": "a\u0000b"}}),
        (
            "patch",
            f"{PATIENTS}/{full.id}",
            {"patient": {"ecm_eligibility_information": {"member_id": ""}}},
        ),
        ("get", f"{LCMS}?role=boss", None),
        ("get", f"{LCMS}?search=%00", None),
        ("post", ASSIGN, {"patient_id": full.id}),
        ("put", ASSIGN, {"patient_id": "x", "olcm_user_id": 1}),
        ("post", ASSIGN, {"patient_id": full.id, "olcm_user_id": 1, "reason": "a\u0000"}),
        ("delete", ASSIGN, {"patient_id": full.id, "role": "boss"}),
        ("delete", ASSIGN, None),
        ("post", BULK, {"assignments": []}),
        ("post", BULK, {"assignments": [{"patient_id": full.id}], "atomic": True}),
        ("post", "/v1/auth/tokens", {"email": "", "password": "x"}),
    ]
    for method, url, body in cases:
        response = call(admin_client, method, url, body)
        assert response.status_code == 422, (method, url, response.content)
        contract.assert_conforms(response, method=method, url=url)


def test_401_for_wrong_credentials(contract, anon_client, admin):
    response = call(
        anon_client, "post", "/v1/auth/tokens", {"email": admin.email, "password": "wrong"}
    )
    assert response.status_code == 401
    contract.assert_conforms(response)


def test_412_for_a_stale_if_match(contract, admin_client, world):
    url = f"{PATIENTS}/{world['full'].id}"
    etag = call(admin_client, "get", url)["ETag"]
    change = {"patient": {"first_name": "Jon"}}
    assert call(admin_client, "put", url, change, HTTP_IF_MATCH=etag).status_code == 200
    response = call(admin_client, "patch", url, change, HTTP_IF_MATCH=etag)
    assert response.status_code == 412
    contract.assert_conforms(response)


def test_429_when_rate_limited(contract, admin_client, settings, world):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    call(admin_client, "get", LCMS)
    for method, url, body in ADMIN_ROUTES:
        response = call(admin_client, method, url, body)
        assert response.status_code == 429, (method, url)
        contract.assert_conforms(response, method=method, url=url)


def test_503_when_the_database_is_unreachable(contract, admin_client, world):
    down = OperationalError("connection refused")
    targets = [
        ("patients.views.selectors.patient_detail", "get", f"{PATIENTS}/{world['full'].id}"),
        ("care_team.views.selectors.lead_care_managers", "get", LCMS),
    ]
    for target, method, url in targets:
        with mock.patch(target, side_effect=down):
            response = call(admin_client, method, url)
        assert response.status_code == 503
        contract.assert_conforms(response)
