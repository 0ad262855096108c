"""Care-team representations: each shape declared once (a ``TypedDict``, which the OpenAPI
document is built from) and rendered by a function from preloaded rows, without queries."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from accounts.models import User
from care_team.choices import CareTeamRole
from care_team.models import CaseLoad as CaseLoadModel
from care_team.services import BulkResult
from ecm_admin.formats import full_name, iso_timestamp
from ecm_admin.pagination import Pagination
from ecm_admin.shapes import Spec
from patients.serializers import PatientListItem, patient_list_item

# --- shapes --------------------------------------------------------------------


class LeadCareManager(TypedDict):
    id: int
    name: str
    email: str
    roles: Annotated[list[str], Spec("Sorted role names.")]
    assigned_patients_count: Annotated[
        int, Spec("Distinct patients for whom the user is oLCM or iLCM.", minimum=0)
    ]
    olcm_assignments_count: Annotated[int, Spec(minimum=0)]
    ilcm_assignments_count: Annotated[int, Spec(minimum=0)]


class LeadCareManagerList(TypedDict):
    lead_care_managers: list[LeadCareManager]
    pagination: Pagination


class CaseLoad(TypedDict):
    id: int
    patient_id: int
    patient_name: str
    provider_id: int | None
    provider_name: str | None
    olcm_user_id: int | None
    olcm_name: str | None
    ilcm_user_id: int | None
    ilcm_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class LeadCareManagerAssignResult(TypedDict):
    message: str
    case_load: CaseLoad


class AssignedLeadCareManager(TypedDict):
    user_id: int
    name: str
    email: str
    assigned_at: Annotated[dt.datetime | None, Spec("When this role was last set.")]


class CareTeamCaseLoad(TypedDict):
    id: int
    provider_id: int | None
    provider_name: str | None
    olcm: Annotated[AssignedLeadCareManager | None, Spec("`null` when unassigned.")]
    ilcm: Annotated[AssignedLeadCareManager | None, Spec("`null` when unassigned.")]


class PatientLeadCareManagers(TypedDict):
    patient_id: int
    patient_name: str
    case_load: Annotated[CareTeamCaseLoad | None, Spec("`null` when the patient has no case load.")]


class HistoryUser(TypedDict):
    id: int
    name: str


class AssignmentHistoryEntry(TypedDict):
    id: int
    role: CareTeamRole
    previous_user: Annotated[HistoryUser | None, Spec("`null`: nobody held the role.")]
    new_user: Annotated[HistoryUser | None, Spec("`null`: the role was removed.")]
    acted_by: Annotated[str, Spec("Who made the change (a user's name, or the process).")]
    reason: str | None
    created_at: dt.datetime


class AssignmentHistory(TypedDict):
    assignment_history: Annotated[list[AssignmentHistoryEntry], Spec("Newest first.")]
    pagination: Pagination


class BulkAssignResultItem(TypedDict):
    patient_id: Annotated[
        Any,
        Spec(
            "The item's `patient_id` as sent (an integer for a readable item; for an "
            "unreadable one whatever was sent, or `null`)."
        ),
    ]
    status: Literal["success", "failed"]
    errors: NotRequired[
        Annotated[list[str], Spec("Present when `status` is `failed`.", minItems=1)]
    ]


class BulkAssignResult(TypedDict):
    message: Annotated[
        str,
        Spec('"Bulk assignment completed" (or "Bulk assignment failed" when nothing was written).'),
    ]
    successful_count: Annotated[int, Spec(minimum=0)]
    failed_count: Annotated[int, Spec(minimum=0)]
    results: Annotated[list[BulkAssignResultItem], Spec("In input order.")]


class BulkAssignAtomicFailure(BulkAssignResult):
    errors: Annotated[list[str], Spec(minItems=1)]


# A patient of a Lead Care Manager's caseload: as the patient list shows it, with the roles
# the LCM holds.
class LeadCareManagerPatient(PatientListItem):
    roles: Annotated[
        list[Literal["olcm", "ilcm"]],
        Spec(
            "Which of the roles asked for the Lead Care Manager holds (held then, with `as_of`).",
            minItems=1,
        ),
    ]


class LeadCareManagerPatientList(TypedDict):
    patients: list[LeadCareManagerPatient]
    pagination: Pagination


# --- renderers -----------------------------------------------------------------


def _name(user: User | None) -> str | None:
    return user.name if user is not None else None


def render_lead_care_manager(row: dict) -> LeadCareManager:
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


def render_case_load(case_load: CaseLoadModel) -> CaseLoad:
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


def _render_lcm(row: dict, role: str, user: str) -> AssignedLeadCareManager | None:
    user_id = row[f"c.{role}_id"]
    if user_id is None:
        return None
    return {
        "user_id": user_id,
        "name": full_name(row[f"{user}.first_name"], row[f"{user}.last_name"]),
        "email": row[f"{user}.email"],
        "assigned_at": iso_timestamp(row[f"c.{role}_assigned_at"]),
    }


def render_patient_care_team(row: dict) -> PatientLeadCareManagers:
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


def render_bulk_result(patient_refs: list[Any], result: BulkResult) -> BulkAssignResult:
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


def _history_user(row: dict, key: str, alias: str) -> HistoryUser | None:
    user_id = row[key]
    if user_id is None:
        return None
    return {"id": user_id, "name": full_name(row[f"{alias}.first_name"], row[f"{alias}.last_name"])}


def render_history_entry(row: dict) -> AssignmentHistoryEntry:
    """A row of ``care_team.history.history_page``."""
    return {
        "id": row["h.id"],
        "role": row["h.role"],
        "previous_user": _history_user(row, "h.previous_user_id", "pu"),
        "new_user": _history_user(row, "h.new_user_id", "nu"),
        "acted_by": row["h.acted_by_name"],
        "reason": row["h.reason"] or None,
        "created_at": iso_timestamp(row["h.created_at"]),
    }


def render_caseload_patient(row: dict, roles: list[str]) -> LeadCareManagerPatient:
    """A row of ``patients.selectors.patient_rows`` (as ``GET /patients`` renders it) with the
    roles its Lead Care Manager holds."""
    return {**patient_list_item(row), "roles": roles}
