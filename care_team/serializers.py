"""Care-team representations (from preloaded rows, no queries) and strict input readers."""

from collections.abc import Callable, Mapping
from typing import Any

from accounts.models import User
from care_team.choices import LcmRole
from care_team.models import CaseLoad
from care_team.services import (
    MAX_BULK_ITEMS,
    ROLE_INVALID,
    Assignment,
    BulkResult,
    InvalidItem,
)
from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.formats import full_name, iso_timestamp
from ecm_admin.inputs import json_object, parse_id, reject_unknown_keys

ASSIGNMENT_KEYS = ("patient_id", "olcm_user_id", "ilcm_user_id", "provider_id", "reason")
REMOVAL_KEYS = ("patient_id", "role", "reason")
BULK_KEYS = ("assignments", "atomic")
MAX_SEARCH_LENGTH = 200

# --- output -------------------------------------------------------------------


def _name(user: User | None) -> str | None:
    return user.name if user is not None else None


def render_lead_care_manager(row: dict) -> dict:
    """A row of ``selectors.lead_care_manager_rows``."""
    olcm, ilcm = row["olcm_assignments_count"], row["ilcm_assignments_count"]
    return {
        "id": row["u.id"],
        "name": full_name(row["u.first_name"], row["u.last_name"]),
        "email": row["u.email"],
        "roles": row["roles"],
        # Distinct patients: a patient whose oLCM and iLCM are both this user counts once.
        "assigned_patients_count": olcm + ilcm - row["dual_assignments_count"],
        "olcm_assignments_count": olcm,
        "ilcm_assignments_count": ilcm,
    }


def render_case_load(case_load: CaseLoad) -> dict:
    """The case load of an assign response (patient and users already loaded)."""
    return {
        "id": case_load.pk,
        "patient_id": case_load.patient_id,
        "patient_name": case_load.patient.name,
        "provider_id": case_load.provider_id,
        "provider_name": _name(case_load.provider),
        "olcm_user_id": case_load.olcm_id,
        "olcm_name": _name(case_load.olcm),
        "ilcm_user_id": case_load.ilcm_id,
        "ilcm_name": _name(case_load.ilcm),
        "created_at": iso_timestamp(case_load.created_at),
        "updated_at": iso_timestamp(case_load.updated_at),
    }


def _render_lcm(row: dict, role: str, user: str) -> dict | None:
    user_id = row[f"c.{role}_id"]
    if user_id is None:
        return None
    return {
        "user_id": user_id,
        "name": full_name(row[f"{user}.first_name"], row[f"{user}.last_name"]),
        "email": row[f"{user}.email"],
        "assigned_at": iso_timestamp(row[f"c.{role}_assigned_at"]),
    }


def render_patient_care_team(row: dict) -> dict:
    """A row of ``selectors.patient_care_team``."""
    return {
        "patient_id": row["p.id"],
        "patient_name": full_name(row["p.first_name"], row["p.last_name"]),
        "case_load": None
        if row["c.id"] is None
        else {
            "id": row["c.id"],
            "provider_id": row["c.provider_id"],
            "provider_name": full_name(row["pu.first_name"], row["pu.last_name"]),
            "olcm": _render_lcm(row, "olcm", "ou"),
            "ilcm": _render_lcm(row, "ilcm", "iu"),
        },
    }


def render_bulk_result(patient_refs: list[Any], result: BulkResult) -> dict:
    results = []
    for ref, errors in zip(patient_refs, result.errors, strict=True):
        if errors:
            results.append({"patient_id": ref, "status": "failed", "errors": errors})
        else:
            results.append({"patient_id": ref, "status": "success"})
    return {
        "message": "Bulk assignment completed" if result.written else "Bulk assignment failed",
        "successful_count": result.successful_count,
        "failed_count": result.failed_count,
        "results": results,
    }


def bulk_failure_sentence(result: BulkResult) -> str:
    total = len(result.errors)
    return (
        f"Bulk assignment failed: {result.invalid_count} of {total} items are invalid; "
        "nothing was written"
    )


# --- input ----------------------------------------------------------------------


def _collect(errors: list[str], read: Callable[..., Any], *args, **kwargs) -> Any:
    """Run a reader that raises 422; keep its sentences and carry on."""
    try:
        return read(*args, **kwargs)
    except UnprocessableEntity as exc:
        errors.extend(exc.errors)
        return None


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UnprocessableEntity(f"{name} must be a string")
    return value


def _role(value: Any) -> str:
    if value is None or value == "":
        raise UnprocessableEntity("role is required")
    role = value.strip().lower() if isinstance(value, str) else None
    if role not in LcmRole.values:
        raise UnprocessableEntity(ROLE_INVALID)
    return role


def read_assignment(data: Mapping[str, Any], errors: list[str]) -> Assignment | None:
    """Read one assignment object; sentences for every problem go to ``errors``."""
    _collect(errors, reject_unknown_keys, data, ASSIGNMENT_KEYS)
    patient_id = _collect(errors, parse_id, "patient_id", data.get("patient_id"))
    ids = {
        key: _collect(errors, parse_id, key, data.get(key), required=False)
        for key in ("olcm_user_id", "ilcm_user_id", "provider_id")
    }
    reason = _collect(errors, _text, "reason", data.get("reason"))
    if errors:
        return None
    return Assignment(patient_id=patient_id, reason=reason, **ids)


def parse_assignment(data: Any) -> Assignment:
    """The body of ``POST``/``PUT lead_care_managers/assign``."""
    errors: list[str] = []
    assignment = read_assignment(json_object(data), errors)
    if assignment is None:
        raise UnprocessableEntity(errors)
    return assignment


_REMOVAL_READERS: dict[str, Callable[[Any], Any]] = {
    "patient_id": lambda value: parse_id("patient_id", value),
    "role": _role,
    "reason": lambda value: _text("reason", value),
}


def parse_removal(data: Any, query: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``patient_id``, ``role`` and ``reason`` of ``DELETE lead_care_managers/assign``.

    ``data`` is the JSON body, or the query string when there is no body. With a body,
    ``query`` holds the query parameters sent beside it: they may only repeat the body (the
    same value once read, so ``patient_id=7`` agrees with ``"patient_id": 7``); one that
    differs from the body, or that the body does not carry, is 422, since which of the two
    counts would be a guess.
    """
    data = json_object(data)
    errors: list[str] = []
    _collect(errors, reject_unknown_keys, data, REMOVAL_KEYS)
    values = {key: _collect(errors, read, data.get(key)) for key, read in _REMOVAL_READERS.items()}
    if errors:
        raise UnprocessableEntity(errors)
    if query:
        reject_unknown_keys(query, REMOVAL_KEYS, "the query string")
        for key, read in _REMOVAL_READERS.items():
            if key in query and _collect([], read, query[key]) != values[key]:
                errors.append(f"{key} in the query string does not match the body")
        if errors:
            raise UnprocessableEntity(errors)
    return values["patient_id"], values["role"], values["reason"]


def parse_bulk(data: Any) -> tuple[list[tuple[Any, Assignment | InvalidItem]], bool]:
    """The bulk body: ``(patient ref as sent, item)`` per assignment, and ``atomic``.

    A malformed item does not fail the request; it becomes an ``InvalidItem``.
    """
    data = json_object(data)
    reject_unknown_keys(data, BULK_KEYS)
    items = data.get("assignments")
    errors = []
    if items is None:
        errors.append("assignments is required")
    elif not isinstance(items, list):
        errors.append("assignments must be an array")
    elif not items:
        errors.append("assignments must not be empty")
    elif len(items) > MAX_BULK_ITEMS:
        errors.append(f"assignments must have at most {MAX_BULK_ITEMS} items")
    atomic = data.get("atomic", False)
    if not isinstance(atomic, bool):
        errors.append("atomic must be true or false")
    if errors:
        raise UnprocessableEntity(errors)
    entries: list[tuple[Any, Assignment | InvalidItem]] = []
    for raw in items:
        if not isinstance(raw, Mapping):
            entries.append((None, InvalidItem(("Each assignment must be a JSON object",))))
            continue
        item_errors: list[str] = []
        assignment = read_assignment(raw, item_errors)
        if assignment is None:
            entries.append((raw.get("patient_id"), InvalidItem(tuple(item_errors))))
        else:
            entries.append((assignment.patient_id, assignment))
    return entries, atomic


def parse_lcm_list_query(params: Mapping[str, Any]) -> tuple[str, str]:
    """``search`` and ``role`` of ``GET lead_care_managers``."""
    search = _text("search", params.get("search"))
    if len(search) > MAX_SEARCH_LENGTH:
        raise UnprocessableEntity(f"search must be at most {MAX_SEARCH_LENGTH} characters")
    role = (params.get("role") or "").strip().lower()
    if role and role not in LcmRole.values:
        raise UnprocessableEntity(ROLE_INVALID)
    return search, role
