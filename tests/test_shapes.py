"""Every renderer's output matches the shape it declares (``ecm_admin.shapes``).

A renderer is a function of the project whose return annotation is a shape (a ``TypedDict``,
or one ``| None``); they are found by reading the annotations of every module, so a new one
is checked without being listed here. Each is wrapped where it is looked up (its own module,
and every module that imported it by name), the API is driven through every route that
renders, and each output is validated against ``json_schema(shape)``: the keys the shape
requires, no others, and the type of each value. A renderer no request reached fails the
test too, so the requests here keep up with the renderers.
"""

import functools
import importlib
import inspect
import json
import pkgutil
import sys
import types
import typing

import jsonschema
import pytest

from ecm_admin.shapes import is_shape, json_schema
from tests import factories

PACKAGES = ("accounts", "audit", "care_team", "ecm_admin", "patients")
API = "/v1/admin/clinic/ecm"
PASSWORD = "a long and unusual passphrase 42"

pytestmark = pytest.mark.django_db


def declared_shape(function) -> type | None:
    """The shape ``function`` returns (``X`` of ``-> X`` or ``-> X | None``), or ``None``."""
    try:
        returned = typing.get_type_hints(function).get("return")
    except NameError:  # an annotation only a type checker resolves
        return None
    candidates = [returned, *typing.get_args(returned)]
    shapes = [hint for hint in candidates if is_shape(hint)]
    return shapes[0] if shapes else None


def project_modules() -> list[types.ModuleType]:
    modules = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" in info.name or ".management" in info.name:
                continue
            modules.append(importlib.import_module(info.name))
    return modules


def renderers() -> dict[str, tuple[object, type]]:
    """``"module.function"`` → (the function, the shape it declares)."""
    found = {}
    for module in project_modules():
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == module.__name__:
                shape = declared_shape(value)
                if shape is not None:
                    found[f"{module.__name__}.{name}"] = (value, shape)
    return found


def test_the_renderers_are_found():
    names = set(renderers())
    assert {
        "accounts.serializers.render_sign_in_token",
        "care_team.serializers.render_case_load",
        "care_team.serializers.render_history_entry",
        "care_team.planning.serializers.render_plan",
        "care_team.planning.serializers.render_workload",
        "care_team.serializers.render_caseload_patient",
        "patients.serializers.patient_list_item",
        "patients.serializers.patient_detail",
    } <= names


@pytest.fixture
def checked_renderers(monkeypatch):
    """Every renderer wrapped: its output validated against its shape (a mismatch is kept in
    ``mismatches``: raised inside a view it would become a 500), its calls counted."""
    calls: dict[str, int] = {}
    mismatches: list[str] = []
    for qualified, (function, shape) in renderers().items():
        validator = jsonschema.Draft202012Validator(
            json_schema(shape), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        calls[qualified] = 0

        def checked(*args, _f=function, _v=validator, _name=qualified, **kwargs):
            output = _f(*args, **kwargs)
            if output is not None:
                # As the client sees it: the renderers may leave JSON's conversions to DRF.
                as_sent = json.loads(json.dumps(output, default=str))
                for error in _v.iter_errors(as_sent):
                    mismatches.append(f"{_name}: {list(error.absolute_path)}: {error.message}")
            calls[_name] += 1
            return output

        checked = functools.wraps(function)(checked)
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").split(".")[0] not in PACKAGES:
                continue
            for name, value in list(vars(module).items()):
                if value is function:
                    monkeypatch.setattr(module, name, checked)
    return calls, mismatches


@pytest.fixture
def world(db):
    """Patients with and without care teams and history, LCMs, a provider."""
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator", email="jane@example.org")
    bob = factories.lcm_user(first_name="Bob", last_name="Manager", email="bob@example.org")
    smith = factories.provider_user(first_name="Dr.", last_name="Smith", email="s@example.org")
    full = factories.ecm_patient(acuity_level="high")
    factories.CaseLoadFactory(patient=full, provider=smith, olcm=jane, ilcm=bob)
    factories.LcmAssignmentHistoryFactory(patient=full, new_user=jane, acted_by=jane)
    waiting = [factories.ecm_patient(acuity_level="low") for _ in range(2)]
    bare = factories.ecm_patient(acuity_level="")
    return {"full": full, "waiting": waiting, "bare": bare, "jane": jane, "bob": bob}


def test_every_renderer_matches_its_shape(checked_renderers, admin, admin_client, world):
    calls, mismatches = checked_renderers
    full, bare, jane, bob = world["full"], world["bare"], world["jane"], world["bob"]

    def ok(response, status=200):
        assert response.status_code == status, response.content
        return response.json()

    # Patients: the list (with and without a case load), its filter, the detail and its update.
    # The update adds an entry to the status history, which the detail then shows.
    factories.AuthorizationFactory(patient=full, status="Approved")
    eligibility = {"member_record_status": "continuing_member"}
    update = {
        "patient": {"address": {"city": "Fresno"}, "ecm_eligibility_information": eligibility}
    }
    ok(admin_client.patch(f"{API}/patients/{full.id}", update, format="json"))
    for patient in (full, bare):
        ok(admin_client.get(f"{API}/patients/{patient.id}"))
    ok(admin_client.get(f"{API}/patients"))
    ok(admin_client.post(f"{API}/patients/filter", {"filters": {"acuity_level": "high"}}, "json"))
    # Lead Care Managers: the list, single and bulk assignment, the care team and its history.
    ok(admin_client.get(f"{API}/lead_care_managers"))
    body = {"patient_id": bare.id, "olcm_user_id": jane.id, "reason": "Initial"}
    ok(admin_client.post(f"{API}/lead_care_managers/assign", body, format="json"))
    for patient in (full, bare):
        ok(admin_client.get(f"{API}/patients/{patient.id}/lead_care_managers"))
        ok(admin_client.get(f"{API}/patients/{patient.id}/lead_care_managers?as_of=2000-01-01"))
        ok(admin_client.get(f"{API}/patients/{patient.id}/lead_care_managers/history"))
    ok(admin_client.get(f"{API}/lead_care_managers/{jane.id}/patients"))
    bulk = {"assignments": [{"patient_id": full.id, "ilcm_user_id": jane.id}, {"patient_id": 0}]}
    ok(admin_client.post(f"{API}/lead_care_managers/bulk_assign", bulk, format="json"))
    # Planning: the workload, a capacity, a fill and a rebalance, previewed and applied.
    ok(admin_client.get(f"{API}/lead_care_managers/workload"))
    capacity = {"lead_care_manager": {"capacity": 10, "accepting_patients": True}}
    ok(admin_client.patch(f"{API}/lead_care_managers/{bob.id}", capacity, format="json"))
    for body in (
        {"role": "olcm"},
        {"role": "both", "mode": "rebalance", "tolerance": 0},
        {"role": "ilcm", "dry_run": False, "reason": "Fill"},
    ):
        ok(admin_client.post(f"{API}/lead_care_managers/auto_assign", body, format="json"))
    # Signing in.
    admin.set_password(PASSWORD)
    admin.save()
    body = {"email": admin.email, "password": PASSWORD}
    ok(admin_client.post("/v1/auth/tokens", body, format="json"), 201)

    assert not mismatches, "renderers whose output does not match their shape:\n" + "\n".join(
        mismatches
    )
    assert not [name for name, count in calls.items() if count == 0], (
        "renderers no request reached: add a request that renders them"
    )
