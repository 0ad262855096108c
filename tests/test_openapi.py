"""The OpenAPI document and its pages: served without a token, complete, valid, and true to
the two source documents (every example response of the seeds validates against it)."""

import json
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command

from patients.choices import AcuityLevel, Gender, MemberRecordStatus
from patients.sorting import SORT_FIELDS
from tests import factories
from tests.openapi_contract import SCHEMA_URL, load_contract, validate

BASE = "/v1/admin/clinic/ecm"
COMMITTED_SCHEMA = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def contract(db):
    return load_contract()


# --- serving ---------------------------------------------------------------------------------


def test_schema_json_needs_no_token_and_shows_no_data(anon_client):
    patient = factories.ecm_patient(
        member_id="MEMSECRET0001", patient__first_name="Zebulon", patient__last_name="Quux"
    )
    response = anon_client.get(SCHEMA_URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    text = response.content.decode()
    document = json.loads(text)
    assert document["openapi"].startswith("3.0")
    assert document["info"]["title"] == "ECM Admin API"
    for secret in ("Zebulon", "Quux", "MEMSECRET0001", patient.ecm_eligibility_information.cin):
        assert secret not in text


def test_schema_yaml_is_the_same_document(anon_client):
    as_json = json.loads(anon_client.get(SCHEMA_URL).content)
    response = anon_client.get(f"{BASE}/openapi.yaml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content) == as_json


def test_schema_ignores_a_bad_token(anon_client):
    anon_client.credentials(HTTP_X_USER_TOKEN="not-a-token")
    assert anon_client.get(SCHEMA_URL).status_code == 200


@pytest.mark.parametrize("page", ["docs", "docs/"])
def test_doc_pages_need_no_token_and_load_every_asset_locally(anon_client, page):
    response = anon_client.get(f"{BASE}/{page}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert SCHEMA_URL in html
    # Offline: nothing from a CDN, every script, style sheet and icon from this service.
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    assert '"validatorUrl": null' in html  # no badge from validator.swagger.io either
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for url in assets:
        assert url.startswith("/static/drf_spectacular_sidecar/"), url
        asset = anon_client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content), url


def test_sidecar_assets_stay_inside_their_directory(anon_client):
    assert anon_client.get("/static/drf_spectacular_sidecar/../../settings.py").status_code == 404
    assert anon_client.get("/static/drf_spectacular_sidecar/nope.js").status_code == 404
    assert anon_client.post("/static/drf_spectacular_sidecar/swagger-ui-dist/x").status_code == 404
    # The assets are read-only.
    css = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"
    assert anon_client.get(css).status_code == 200
    assert anon_client.post(css).status_code == 405


def test_management_command_validates_without_warnings():
    # What `make check` runs: generation warnings or an invalid document fail it.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


# --- completeness ----------------------------------------------------------------------------

OPERATIONS = {
    ("/v1/admin/clinic/ecm/patients", "get"),
    ("/v1/admin/clinic/ecm/patients/filter", "post"),
    ("/v1/admin/clinic/ecm/patients/{id}", "get"),
    ("/v1/admin/clinic/ecm/patients/{id}", "put"),
    ("/v1/admin/clinic/ecm/patients/{id}", "patch"),
    ("/v1/admin/clinic/ecm/patients/{patient_id}/lead_care_managers", "get"),
    ("/v1/admin/clinic/ecm/lead_care_managers", "get"),
    ("/v1/admin/clinic/ecm/lead_care_managers/assign", "post"),
    ("/v1/admin/clinic/ecm/lead_care_managers/assign", "put"),
    ("/v1/admin/clinic/ecm/lead_care_managers/assign", "delete"),
    ("/v1/admin/clinic/ecm/lead_care_managers/bulk_assign", "post"),
    ("/v1/admin/clinic/ecm/patients/{patient_id}/lead_care_managers/history", "get"),
    ("/v1/admin/clinic/ecm/lead_care_managers/workload", "get"),
    ("/v1/admin/clinic/ecm/lead_care_managers/{id}", "patch"),
    ("/v1/admin/clinic/ecm/lead_care_managers/auto_assign", "post"),
    ("/v1/admin/clinic/ecm/lead_care_managers/{id}/patients", "get"),
    ("/v1/admin/clinic/ecm/lead_care_managers/{id}/transfer", "post"),
    ("/v1/auth/tokens", "post"),
    ("/v1/auth/tokens/current", "delete"),
}


def test_every_route_and_verb_is_documented_and_nothing_else(contract):
    documented = {
        (path, method)
        for path, item in contract.document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented == OPERATIONS


def test_every_admin_operation_requires_the_token(contract):
    scheme = contract.document["components"]["securitySchemes"]["UserToken"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-User-Token"}
    for path, method in OPERATIONS:
        operation = contract.document["paths"][path][method]
        if path == "/v1/auth/tokens":
            assert not operation.get("security"), "signing in needs no token"
        else:
            assert operation["security"] == [{"UserToken": []}], (path, method)


BODY_STATUSES = {"411", "413", "415"}


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_every_operation_lists_its_error_statuses_with_the_one_envelope(contract, path, method):
    responses = contract.document["paths"][path][method]["responses"]
    # 400 everywhere: too many query parameters; 422: refused text in a query string or a
    # header, a repeated parameter.
    expected = {"400", "401", "405", "406", "422", "429", "503"}
    if path != "/v1/auth/tokens" and not path.startswith("/v1/auth/"):
        expected |= {"403"}
    if method in ("post", "put", "patch", "delete") and path != "/v1/auth/tokens/current":
        expected |= BODY_STATUSES
    if "{" in path or path.endswith("/assign"):
        expected |= {"404"}
    if path.endswith("/patients/{id}") and method in ("put", "patch"):  # If-Match
        expected |= {"412"}
    errors = {status for status in responses if status.startswith(("4", "5"))}
    assert errors == expected
    for status in errors:
        schema = responses[status]["content"]["application/json"]["schema"]
        if (path, method, status) == (
            "/v1/admin/clinic/ecm/lead_care_managers/bulk_assign",
            "post",
            "422",
        ):
            assert {"$ref": "#/components/schemas/Errors"} in contract.document["components"][
                "schemas"
            ]["BulkAssignError"]["oneOf"]
        else:
            assert schema == {"$ref": "#/components/schemas/Errors"}, (path, method, status)


def test_errors_component_is_a_non_empty_list_of_sentences(contract):
    errors = contract.document["components"]["schemas"]["Errors"]
    assert errors["type"] == "object"
    assert errors["required"] == ["errors"]
    assert errors["properties"]["errors"]["type"] == "array"
    assert errors["properties"]["errors"]["minItems"] == 1
    assert errors["properties"]["errors"]["items"] == {"type": "string"}
    schema = contract.component("Errors")
    validate({"errors": ["Patient not found"]}, schema)
    for bad in ({"errors": []}, {}, {"errors": [1]}, {"errors": ["x"], "detail": "y"}):
        with pytest.raises(pytest.fail.Exception):
            validate(bad, schema)


def test_enums(contract):
    schemas = contract.document["components"]["schemas"]
    assert schemas["AcuityLevelEnum"]["enum"] == list(AcuityLevel.values)
    assert schemas["MemberRecordStatusEnum"]["enum"] == list(MemberRecordStatus.values)
    assert schemas["GenderEnum"]["enum"] == list(Gender.values)
    assert schemas["SortByEnum"]["enum"] == list(SORT_FIELDS)
    assert schemas["MissingLcmEnum"]["enum"] == ["olcm", "ilcm", "any"]
    assert schemas["RoleEnum"]["enum"] == ["olcm", "ilcm"]
    params = {
        p["name"]: p["schema"]
        for p in contract.document["paths"]["/v1/admin/clinic/ecm/patients"]["get"]["parameters"]
    }
    assert params["sort_by"]["enum"] == list(SORT_FIELDS)
    assert params["status"]["enum"] == list(MemberRecordStatus.values)
    assert params["acuity_level"]["enum"] == list(AcuityLevel.values)
    assert params["missing_lcm"]["enum"] == ["olcm", "ilcm", "any"]
    # sort_dir is case-insensitive: exactly ASC or DESC in any case.
    pattern = re.compile(params["sort_dir"]["pattern"])
    for ok in ("ASC", "asc", "Desc", "dESC"):
        assert pattern.match(ok)
    for bad in ("ASCENDING", "up", "", " asc"):
        assert not pattern.match(bad)


def test_query_parameters(contract):
    def names(path):
        operation = contract.document["paths"][path]["get"]
        return {p["name"] for p in operation["parameters"] if p["in"] == "query"}

    assert names(f"{BASE}/patients") == {
        "page",
        "per_page",
        "search",
        "status",
        "provider_id",
        "acuity_level",
        "olcm_user_id",
        "ilcm_user_id",
        "authorization_status",
        "missing_lcm",
        "authorization_expiring_within_days",
        "missing_active_authorization",
        "sort_by",
        "sort_dir",
    }
    assert names(f"{BASE}/lead_care_managers") == {"page", "per_page", "search", "role"}


def test_path_parameters_are_integers(contract):
    for path, item in contract.document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert parameter["schema"]["type"] == "integer", path
                    assert "422" in operation["responses"], path


def test_nullable_fields_are_marked(contract):
    schemas = contract.document["components"]["schemas"]
    detail = schemas["PatientDetail"]["properties"]
    for name in ("date_of_birth", "gender", "phone", "email", "case_load", "last_activity_at"):
        assert detail[name].get("nullable") is True, name
    eligibility = schemas["EcmEligibilitySummary"]["properties"]
    for name in ("cin", "acuity_level", "ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date"):
        assert eligibility[name].get("nullable") is True, name
    assert eligibility["member_id"].get("nullable") is None
    for name in ("provider_name", "olcm_name", "ilcm_name"):
        assert schemas["PatientCaseLoadSummary"]["properties"][name]["nullable"] is True
    assert schemas["PatientListItem"]["properties"]["case_load"]["nullable"] is True


def test_request_bodies(contract):
    paths = contract.document["paths"]

    def body(path, method):
        ref = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        return contract.component(ref["$ref"].rsplit("/", 1)[1])

    update = body(f"{BASE}/patients/{{id}}", "put")
    assert update["required"] == ["patient"]
    patient = update["properties"]["patient"]["allOf"][0]
    assert {"address", "ecm_eligibility_information", "first_name"} <= set(patient["properties"])
    assert body(f"{BASE}/patients/{{id}}", "patch") == update
    assert "filters" in body(f"{BASE}/patients/filter", "post")["properties"]
    bulk = body(f"{BASE}/lead_care_managers/bulk_assign", "post")
    assert bulk["properties"]["assignments"]["minItems"] == 1
    assert bulk["properties"]["assignments"]["maxItems"] == 1000
    removal = paths[f"{BASE}/lead_care_managers/assign"]["delete"]
    assert removal["requestBody"]["content"]["application/json"]
    assert {p["name"] for p in removal["parameters"]} == {"patient_id", "role", "reason"}


# --- the seed documents' examples ------------------------------------------------------------
# Copied verbatim from shared/seeds/000_* (ECM Patients API) and 001_* (Lead Care Managers
# API), including the "[email protected]" their web page left in place of addresses.

SEED_PATIENT_LIST = {
    "patients": [
        {
            "id": 123,
            "name": "John Doe",
            "date_of_birth": "2010-05-15",
            "ecm_eligibility_information": {
                "id": 456,
                "member_id": "MEM0000000001",
                "cin": "CIN123456",
                "ecm_service_auth_id": "AUTH123456",
                "ecm_provider_name": "Esteem Health PSC",
                "ecm_benefit_auth_eff_date": "2024-01-01",
                "ecm_benefit_auth_end_date": "2024-12-31",
                "acuity_level": "high",
                "member_record_status": "new_member",
            },
            "case_load": {
                "provider_id": 789,
                "provider_name": "Dr. Smith",
                "olcm_user_id": 101,
                "olcm_name": "Jane Coordinator",
                "ilcm_user_id": 102,
                "ilcm_name": "Bob Manager",
            },
        }
    ],
    "pagination": {"current_page": 1, "total_pages": 5, "total_count": 120, "per_page": 25},
}
SEED_PATIENT_DETAIL = {
    "patient": {
        "id": 123,
        "name": "John Doe",
        "first_name": "John",
        "last_name": "Doe",
        "date_of_birth": "2010-05-15",
        "gender": "male",
        "address": {"street": "123 Main St", "city": "Los Angeles", "state": "CA", "zip": "90001"},
        "phone": "+18051234567",
        "email": "[email protected]",
        "services": ["ecm", "clinical"],
        "ecm_eligibility_information": {
            "id": 456,
            "member_id": "MEM0000000001",
            "cin": "CIN123456",
            "ecm_service_auth_id": "AUTH123456",
            "ecm_provider_name": "Esteem Health PSC",
            "ecm_npi": "1234567890",
            "ecm_benefit_auth_eff_date": "2024-01-01",
            "ecm_benefit_auth_end_date": "2024-12-31",
            "acuity_level": "high",
            "member_record_status": "new_member",
            "created_at": "2024-01-15T10:00:00.000Z",
            "updated_at": "2024-01-15T10:00:00.000Z",
        },
        "case_load": {
            "id": 789,
            "provider_id": 101,
            "provider_name": "Dr. Smith",
            "olcm_user_id": 102,
            "olcm_name": "Jane Coordinator",
            "ilcm_user_id": 103,
            "ilcm_name": "Bob Manager",
        },
        "ecm_authorizations": [
            {
                "id": 1,
                "auth_no": "AUTH0000000001",
                "auth_type": "ES",
                "authorization_type": "Form I",
                "status": "Approved",
                "start_date": "2024-01-01",
                "expiration_date": "2024-12-31",
            }
        ],
        "ecm_status_history": [
            {
                "id": 1,
                "status": "new_member",
                "changed_at": "2024-01-15T10:00:00.000Z",
                "changed_by": "System Import",
            }
        ],
        "activities_count": 15,
        "last_activity_at": "2024-11-20T14:30:00.000Z",
    }
}
SEED_LCM_LIST = {
    "lead_care_managers": [
        {
            "id": 101,
            "name": "Jane Coordinator",
            "email": "[email protected]",
            "roles": ["ecm", "coordinator"],
            "assigned_patients_count": 15,
            "olcm_assignments_count": 10,
            "ilcm_assignments_count": 5,
        },
        {
            "id": 102,
            "name": "Bob Manager",
            "email": "[email protected]",
            "roles": ["ecm", "coordinator"],
            "assigned_patients_count": 20,
            "olcm_assignments_count": 12,
            "ilcm_assignments_count": 8,
        },
    ],
    "pagination": {"current_page": 1, "total_pages": 2, "total_count": 30, "per_page": 25},
}
SEED_ASSIGN = {
    "message": "Lead Care Manager assigned successfully",
    "case_load": {
        "id": 789,
        "patient_id": 123,
        "patient_name": "John Doe",
        "provider_id": 456,
        "provider_name": "Dr. Smith",
        "olcm_user_id": 101,
        "olcm_name": "Jane Coordinator",
        "ilcm_user_id": 102,
        "ilcm_name": "Bob Manager",
        "created_at": "2024-11-27T10:00:00.000Z",
        "updated_at": "2024-11-27T10:00:00.000Z",
    },
}
SEED_REMOVE = {"message": "Lead Care Manager assignment removed successfully"}
SEED_PATIENT_LCMS = {
    "patient_id": 123,
    "patient_name": "John Doe",
    "case_load": {
        "id": 789,
        "provider_id": 456,
        "provider_name": "Dr. Smith",
        "olcm": {
            "user_id": 101,
            "name": "Jane Coordinator",
            "email": "[email protected]",
            "assigned_at": "2024-11-27T10:00:00.000Z",
        },
        "ilcm": {
            "user_id": 102,
            "name": "Bob Manager",
            "email": "[email protected]",
            "assigned_at": "2024-11-27T10:00:00.000Z",
        },
    },
}
SEED_BULK = {
    "message": "Bulk assignment completed",
    "successful_count": 3,
    "failed_count": 0,
    "results": [
        {"patient_id": 123, "status": "success"},
        {"patient_id": 124, "status": "success"},
        {"patient_id": 125, "status": "success"},
    ],
}
P = f"{BASE}/patients"
L = f"{BASE}/lead_care_managers"
SEED_RESPONSES = [
    ("patient list", SEED_PATIENT_LIST, P, "get", 200),
    ("patient filter", SEED_PATIENT_LIST, f"{P}/filter", "post", 200),
    ("patient detail", SEED_PATIENT_DETAIL, f"{P}/{{id}}", "get", 200),
    ("patient update", SEED_PATIENT_DETAIL, f"{P}/{{id}}", "put", 200),
    ("403 patients", {"errors": ["Admin access required"]}, P, "get", 403),
    ("404 patient", {"errors": ["Patient not found"]}, f"{P}/{{id}}", "get", 404),
    (
        "422 patient",
        {"errors": ["Validation failed: Member ID can't be blank"]},
        f"{P}/{{id}}",
        "put",
        422,
    ),
    ("LCM list", SEED_LCM_LIST, L, "get", 200),
    ("assign", SEED_ASSIGN, f"{L}/assign", "post", 200),
    ("assign update", SEED_ASSIGN, f"{L}/assign", "put", 200),
    ("remove", SEED_REMOVE, f"{L}/assign", "delete", 200),
    ("patient LCMs", SEED_PATIENT_LCMS, f"{P}/{{patient_id}}/lead_care_managers", "get", 200),
    ("bulk", SEED_BULK, f"{L}/bulk_assign", "post", 200),
    ("403 LCMs", {"errors": ["Admin access required"]}, f"{L}/assign", "post", 403),
    ("404 LCMs", {"errors": ["Patient not found"]}, f"{L}/assign", "post", 404),
    (
        "422 LCMs",
        {"errors": ["At least one of olcm_user_id or ilcm_user_id must be provided"]},
        f"{L}/assign",
        "post",
        422,
    ),
]


@pytest.mark.parametrize(
    ("body", "path", "method", "status"),
    [case[1:] for case in SEED_RESPONSES],
    ids=[case[0] for case in SEED_RESPONSES],
)
def test_seed_example_responses_validate(contract, body, path, method, status):
    contract.validate_body(body, path, method, status)


def test_seed_examples_with_a_missing_key_do_not_validate(contract):
    # The schema is strict: the examples above pass because they are right, not by accident.
    broken = json.loads(json.dumps(SEED_PATIENT_DETAIL))
    del broken["patient"]["ecm_eligibility_information"]["ecm_npi"]
    with pytest.raises(pytest.fail.Exception):
        contract.validate_body(broken, f"{P}/{{id}}", "get", 200)
    extra = json.loads(json.dumps(SEED_BULK))
    extra["results"][0]["surprise"] = True
    with pytest.raises(pytest.fail.Exception):
        contract.validate_body(extra, f"{L}/bulk_assign", "post", 200)


SEED_REQUESTS = [
    (
        f"{P}/{{id}}",
        "put",
        {
            "patient": {
                "ecm_eligibility_information": {
                    "acuity_level": "high",
                    "member_record_status": "continuing_member",
                }
            }
        },
    ),
    (
        f"{P}/filter",
        "post",
        {
            "search": "John",
            "filters": {"status": "new_member", "acuity_level": "high", "provider_id": 101},
            "sort_by": "created_at",
            "sort_dir": "DESC",
            "page": 1,
            "per_page": 25,
        },
    ),
    (f"{L}/assign", "post", {"patient_id": 123, "olcm_user_id": 101}),
    (f"{L}/assign", "post", {"patient_id": 123, "olcm_user_id": 101, "ilcm_user_id": 102}),
    (f"{L}/assign", "put", {"patient_id": 123, "ilcm_user_id": 103}),
    (f"{L}/assign", "delete", {"patient_id": 123, "role": "olcm"}),
    (
        f"{L}/bulk_assign",
        "post",
        {
            "assignments": [
                {"patient_id": 123, "olcm_user_id": 101, "ilcm_user_id": 102},
                {"patient_id": 124, "olcm_user_id": 101},
                {"patient_id": 125, "ilcm_user_id": 102},
            ]
        },
    ),
]


@pytest.mark.parametrize(("path", "method", "body"), SEED_REQUESTS)
def test_seed_example_requests_validate(contract, path, method, body):
    ref = contract.document["paths"][path][method]["requestBody"]["content"]["application/json"]
    validate(body, contract.component(ref["schema"]["$ref"].rsplit("/", 1)[1]))


# --- the committed copy ----------------------------------------------------------------------


def test_committed_schema_is_current(contract):
    """docs/openapi.yaml is what the code generates; `make schema` rewrites it."""
    assert COMMITTED_SCHEMA.exists(), "docs/openapi.yaml is missing: run `make schema`"
    assert yaml.safe_load(COMMITTED_SCHEMA.read_text()) == contract.document, (
        "docs/openapi.yaml is out of date: run `make schema` and commit the result"
    )
