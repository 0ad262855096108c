"""The planning routes, as actions of the Lead Care Manager viewset (``PlanningActions``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.models import Action
from audit.services import access_report
from care_team import selectors
from care_team.planning import capacity, plans
from care_team.planning.inputs import (
    DEFAULT_TOLERANCE,
    MAX_PLAN_PATIENTS,
    AutoAssignInput,
    LeadCareManagerUpdateInput,
    WorkloadQuery,
    filtered_patients,
)
from care_team.planning.serializers import (
    LeadCareManagerWorkload,
    LeadCareManagerWorkloadList,
    PlanResult,
    render_plan,
    render_summary,
    render_workload,
)
from care_team.planning.workload import (
    LcmLoad,
    acuity_weights,
    counted_patients,
    lcm_loads,
    missing,
)
from ecm_admin.exceptions import NotFound, UnprocessableEntity
from ecm_admin.inputs import ID_SCHEMA, parse_id
from ecm_admin.openapi import BODY_ERRORS, error_responses, response
from ecm_admin.pagination import page_of, paginate_list

TAG = "Care-team planning"
LCM_NOT_FOUND = "Lead Care Manager not found"
LCM_ID = OpenApiParameter(
    "id",
    ID_SCHEMA,
    OpenApiParameter.PATH,
    description="User id of an active Lead Care Manager. Not a positive integer: 422.",
)


def _ordered(entries: list[LcmLoad], sort_by: str, descending: bool) -> list[LcmLoad]:
    """Ordered by the key, ties by id (in the same direction); utilizations that do not exist
    (capacity 0) last in both directions."""
    keys = {
        "utilization": lambda e: (e.utilization is None, e.utilization or 0, e.row.id),
        "name": lambda e: (e.row.name.lower(), e.row.id),
        "weighted_load": lambda e: (e.load, e.row.id),
        "available_capacity": lambda e: (e.row.capacity - e.load, e.row.id),
    }
    entries = sorted(entries, key=keys[sort_by], reverse=descending)
    if sort_by == "utilization" and descending:  # reversed, the missing ones came first
        entries = [e for e in entries if e.utilization is not None] + [
            e for e in entries if e.utilization is None
        ]
    return entries


class PlanningActions:
    """Capacity, workload and auto-assign (``/lead_care_managers/...``)."""

    @extend_schema(
        operation_id="lead_care_managers_workload",
        summary="Lead Care Managers' workload",
        description=(
            "Every active Lead Care Manager with their counted patients (status new, "
            "continuing or pending) by role and acuity, weighted load (`ACUITY_WEIGHTS`), "
            "capacity and utilization, and a summary. Default order: utilization, highest "
            "first."
        ),
        tags=[TAG],
        parameters=[WorkloadQuery],
        responses={
            200: response(LeadCareManagerWorkloadList, "A page of workloads."),
            **error_responses(422),
        },
    )
    @action(detail=False, methods=["get"], url_path="workload")
    def workload(self, request):
        query = WorkloadQuery.parse(request.query_params)
        users = selectors.lead_care_managers(search=query.get("search", ""))
        rows = plans.lead_care_manager_rows(users)
        counts = counted_patients()
        entries = lcm_loads(rows, counts, acuity_weights())
        sort_by = query.get("sort_by") or "utilization"
        direction = query.get("sort_dir") or ("desc" if sort_by == "utilization" else "asc")
        entries = _ordered(entries, sort_by, direction == "desc")
        # Only the page is rendered; the summary is over every LCM listed.
        body = paginate_list(entries, page_of(query), "lead_care_managers")
        body["lead_care_managers"] = [render_workload(e) for e in body["lead_care_managers"]]
        body["summary"] = render_summary(entries, missing(counts))
        return Response(body)

    @extend_schema(
        operation_id="lead_care_managers_partial_update",
        summary="Set a Lead Care Manager's capacity or availability",
        description=(
            "`capacity` in weighted points (`null`: back to `LCM_DEFAULT_CAPACITY`) and "
            "`accepting_patients` (`false`: on leave or leaving, never chosen by auto-assign or "
            "transfer, still listed). Answers the LCM's workload."
        ),
        tags=[TAG],
        parameters=[LCM_ID],
        request=LeadCareManagerUpdateInput,
        examples=[
            OpenApiExample(
                "Leave",
                value={"lead_care_manager": {"capacity": 80, "accepting_patients": False}},
                request_only=True,
            )
        ],
        responses={
            200: response(LeadCareManagerWorkload, "The LCM's workload."),
            **error_responses(404, 422, *BODY_ERRORS, e404=[LCM_NOT_FOUND]),
        },
    )
    def partial_update(self, request, pk: str):
        user_id = parse_id("id", pk)
        values = LeadCareManagerUpdateInput.parse(request.data)["lead_care_manager"]
        access_report(request, Action.UPDATE, [])
        if not capacity.lead_care_manager_update(user_id=user_id, changes=values):
            raise NotFound(LCM_NOT_FOUND)
        rows = plans.lead_care_manager_rows(selectors.active_lcms().filter(pk=user_id))
        entries = lcm_loads(rows, counted_patients(), acuity_weights())
        return Response(render_workload(entries[0]))

    @extend_schema(
        operation_id="lead_care_managers_auto_assign",
        summary="Auto-assign and rebalance Lead Care Managers",
        description=(
            "Plans, and unless `dry_run` (default `true`), applies: `fill` places the counted "
            "patients missing the role, heaviest first, each on the accepting LCM least "
            "utilized after the move, never past capacity; `rebalance` also moves the most "
            "recently assigned patients (past `REASSIGN_COOLDOWN_DAYS`) from LCMs above the "
            "mean utilization to LCMs below it. Each move says why. Applied moves are written "
            "as manual assignments are (history with the reason, activity, audit); a patient "
            "whose care team changed since the plan was made is skipped and reported."
        ),
        tags=[TAG],
        request=AutoAssignInput,
        examples=[
            OpenApiExample(
                "Preview a fill",
                value={"role": "olcm", "filters": {"acuity_level": "high"}},
                request_only=True,
            )
        ],
        responses={
            200: response(PlanResult, "The plan, and what was applied."),
            **error_responses(422, *BODY_ERRORS),
        },
    )
    @action(detail=False, methods=["post"], url_path="auto_assign")
    def auto_assign(self, request):
        values = AutoAssignInput.parse(request.data)
        role = values["role"]
        roles = ["olcm", "ilcm"] if role == "both" else [role]
        receivers = values.get("lcm_user_ids")
        if receivers is not None:
            known = set(
                selectors.active_lcms().filter(pk__in=receivers).values_list("pk", flat=True)
            )
            unknown = [pk for pk in receivers if pk not in known]
            if unknown:
                raise UnprocessableEntity(
                    [f"lcm_user_ids {pk} is not an active Lead Care Manager" for pk in unknown]
                )
        plan = plans.plan_auto_assign(
            roles=roles,
            mode=values.get("mode") or "fill",
            patients=filtered_patients(values.get("filters")),
            receivers=None if receivers is None else set(receivers),
            max_moves=values.get("max_moves") or 100,
            # ``null`` is not given: the default (0 is a tolerance).
            tolerance=DEFAULT_TOLERANCE if values.get("tolerance") is None else values["tolerance"],
            limit=values.get("limit") or MAX_PLAN_PATIENTS,
        )
        dry_run = values.get("dry_run", True)
        moved = [move.patient_id for move in plan.moves]
        access_report(request, Action.READ_LIST if dry_run else Action.BULK_ASSIGN, moved)
        applied = None
        if not dry_run:
            applied = plans.apply_plan(plan, actor=request.user, reason=values.get("reason", ""))
        return Response(render_plan(plan, dry_run=dry_run, applied=applied))
