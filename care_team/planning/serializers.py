"""The planning routes' responses: each shape declared once, rendered from plain data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, TypedDict

from care_team.planning.planner import Plan, Snapshot, utilization_value
from care_team.planning.workload import ACUITIES, LcmLoad
from care_team.serializers import BulkAssignResultItem
from care_team.services import BulkResult
from ecm_admin.pagination import Pagination
from ecm_admin.shapes import Spec

Utilization = Annotated[
    float | None, Spec("Weighted load / capacity, 2 decimals; `null` when the capacity is 0.")
]


class AcuityCounts(TypedDict):
    """Counted patients (status new, continuing or pending) by acuity."""

    low: Annotated[int, Spec(minimum=0)]
    medium: Annotated[int, Spec(minimum=0)]
    high: Annotated[int, Spec(minimum=0)]
    unknown: Annotated[int, Spec(minimum=0)]
    total: Annotated[int, Spec(minimum=0)]


class LeadCareManagerWorkload(TypedDict):
    id: int
    name: str
    email: str
    capacity: Annotated[int, Spec("Weighted points (the default when none is set).", minimum=0)]
    accepting_patients: bool
    weighted_load: Annotated[
        int, Spec("Sum of the weights of the counted patients held as oLCM plus as iLCM.")
    ]
    utilization: Utilization
    available_capacity: Annotated[int, Spec("Capacity minus weighted load (may be negative).")]
    olcm: AcuityCounts
    ilcm: AcuityCounts


class WorkloadSummary(TypedDict):
    lead_care_managers: Annotated[int, Spec("Lead Care Managers listed.", minimum=0)]
    accepting: Annotated[int, Spec("Of those, accepting patients.", minimum=0)]
    total_capacity: Annotated[int, Spec("Capacity of those accepting patients.", minimum=0)]
    total_weighted_load: Annotated[int, Spec("Weighted load of all listed.", minimum=0)]
    patients_missing_olcm: Annotated[int, Spec("Counted patients without an oLCM.", minimum=0)]
    patients_missing_ilcm: Annotated[int, Spec("Counted patients without an iLCM.", minimum=0)]
    utilization_spread: Annotated[
        float | None,
        Spec("Max - min utilization over the accepting LCMs with a capacity above 0."),
    ]


class LeadCareManagerWorkloadList(TypedDict):
    lead_care_managers: list[LeadCareManagerWorkload]
    summary: WorkloadSummary
    pagination: Pagination


class PlanMove(TypedDict):
    patient_id: int
    role: Literal["olcm", "ilcm"]
    from_user_id: int | None
    to_user_id: int
    weight: Annotated[int, Spec("The patient's weight by acuity.", minimum=0)]
    why: Annotated[str, Spec("One sentence: the rule that chose this move.")]


class PlanUnplaced(TypedDict):
    patient_id: int
    role: Literal["olcm", "ilcm"]
    errors: Annotated[list[str], Spec(minItems=1)]


class PlanLeadCareManager(TypedDict):
    id: int
    weighted_load: int
    utilization: Utilization


class PlanState(TypedDict):
    utilization_spread: Annotated[float | None, Spec("Max - min utilization (accepting).")]
    lead_care_managers: list[PlanLeadCareManager]


class PlanApplied(TypedDict):
    successful_count: Annotated[int, Spec(minimum=0)]
    failed_count: Annotated[int, Spec(minimum=0)]
    results: Annotated[list[BulkAssignResultItem], Spec("One per patient, in plan order.")]


class PlanResult(TypedDict):
    dry_run: bool
    moves: list[PlanMove]
    unplaced: list[PlanUnplaced]
    remaining_count: Annotated[int, Spec("Patients left for a later call (`limit`).", minimum=0)]
    before: PlanState
    after: PlanState
    applied: Annotated[PlanApplied | None, Spec("`null` on a dry run.")]


def _counts(by_acuity: dict[str, int]) -> AcuityCounts:
    counts = {acuity: by_acuity[acuity] for acuity in ACUITIES}
    return {**counts, "total": sum(counts.values())}  # type: ignore[typeddict-item]


def render_workload(entry: LcmLoad) -> LeadCareManagerWorkload:
    row, workload = entry.row, entry.workload
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "capacity": row.capacity,
        "accepting_patients": row.accepting,
        "weighted_load": entry.load,
        "utilization": utilization_value(entry.utilization),
        "available_capacity": row.capacity - entry.load,
        "olcm": _counts(workload.patients["olcm"]),
        "ilcm": _counts(workload.patients["ilcm"]),
    }


def render_summary(entries: Sequence[LcmLoad], missing: dict[str, int]) -> WorkloadSummary:
    accepting = [entry for entry in entries if entry.row.accepting]
    spread = [entry.utilization for entry in accepting if entry.utilization is not None]
    return {
        "lead_care_managers": len(entries),
        "accepting": len(accepting),
        "total_capacity": sum(entry.row.capacity for entry in accepting),
        "total_weighted_load": sum(entry.load for entry in entries),
        "patients_missing_olcm": missing["olcm"],
        "patients_missing_ilcm": missing["ilcm"],
        "utilization_spread": utilization_value(max(spread) - min(spread)) if spread else None,
    }


def _state(snapshot: Snapshot) -> PlanState:
    return {
        "utilization_spread": utilization_value(snapshot.spread),
        "lead_care_managers": [
            {"id": lcm_id, "weighted_load": load, "utilization": utilization_value(utilization)}
            for lcm_id, load, utilization in snapshot.loads
        ],
    }


def render_plan(
    plan: Plan, *, dry_run: bool, applied: tuple[list, BulkResult] | None = None
) -> PlanResult:
    body: PlanResult = {
        "dry_run": dry_run,
        "moves": [
            {
                "patient_id": move.patient_id,
                "role": move.role,  # type: ignore[typeddict-item]
                "from_user_id": move.from_user_id,
                "to_user_id": move.to_user_id,
                "weight": move.weight,
                "why": move.why,
            }
            for move in plan.moves
        ],
        "unplaced": [
            {"patient_id": u.patient_id, "role": u.role, "errors": list(u.errors)}  # type: ignore[typeddict-item]
            for u in plan.unplaced
        ],
        "remaining_count": plan.remaining_count,
        "before": _state(plan.before),
        "after": _state(plan.after),
        "applied": None,
    }
    if applied is not None:
        items, result = applied
        results: list[BulkAssignResultItem] = []
        for item, errors in zip(items, result.errors, strict=True):
            if errors:
                results.append(
                    {"patient_id": item.patient_id, "status": "failed", "errors": errors}
                )
            else:
                results.append({"patient_id": item.patient_id, "status": "success"})
        body["applied"] = {
            "successful_count": result.successful_count,
            "failed_count": result.failed_count,
            "results": results,
        }
    return body
