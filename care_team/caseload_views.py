"""The routes on one Lead Care Manager's caseload, as actions of the Lead Care Manager viewset
(``CaseloadActions``): its patients (now, or ``as_of`` an instant) and its transfer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.models import Action
from audit.services import access_report
from care_team import examples, history, selectors
from care_team.inputs import CaseloadQuery
from care_team.planning import plans, transfer
from care_team.planning.inputs import MAX_PLAN_PATIENTS, TransferInput
from care_team.planning.serializers import PlanResult, render_plan
from care_team.serializers import LeadCareManagerPatientList, render_caseload_patient
from ecm_admin.exceptions import NotFound
from ecm_admin.inputs import ID_SCHEMA, parse_id
from ecm_admin.openapi import BODY_ERRORS, error_responses, response
from ecm_admin.pagination import page_of, paginate
from patients.selectors import patient_rows

LCM_NOT_FOUND = transfer.LCM_NOT_FOUND
ROLES = ("olcm", "ilcm")
LCM_ID = OpenApiParameter(
    "id",
    ID_SCHEMA,
    OpenApiParameter.PATH,
    description="User id of an active Lead Care Manager. Not a positive integer: 422.",
)


def _roles(role: str | None) -> list[str]:
    return [role] if role in ROLES else list(ROLES)


class CaseloadActions:
    """``/lead_care_managers/{id}/patients`` and ``/lead_care_managers/{id}/transfer``."""

    @extend_schema(
        operation_id="lead_care_managers_patients",
        summary="A Lead Care Manager's caseload",
        description=(
            "The ECM patients for whom the Lead Care Manager is oLCM or iLCM (`role`: one of "
            "them), by patient id, each as `GET /patients` lists it plus `roles`: which of the "
            "roles asked for the LCM holds. With `as_of`, the caseload as it stood at that "
            "instant, reconstructed from the assignment history by the rules of `GET "
            "/patients/{id}/lead_care_managers?as_of=`: the patients whose holder of the role "
            "then was this user (a holder not recorded is never guessed; an instant not in the "
            "past: the caseload as it is); `roles` are those held then, the rest of each item "
            "is the patient as it is now. 404 for a user who is not an active Lead Care "
            "Manager."
        ),
        tags=["Lead Care Managers"],
        parameters=[LCM_ID, CaseloadQuery],
        responses={
            200: response(
                LeadCareManagerPatientList,
                "A page of the caseload.",
                "Caseload",
                examples.CASELOAD_EXAMPLE,
            ),
            **error_responses(404, 422, e404=[LCM_NOT_FOUND]),
        },
    )
    @action(detail=True, methods=["get"], url_path="patients")
    def patients(self, request, pk: str):
        user_id = parse_id("id", pk)
        query = CaseloadQuery.parse(request.query_params)
        page = page_of(query)
        roles = _roles(query.get("role"))
        access_report(request, Action.READ_LIST, [])
        if not selectors.active_lcms().filter(pk=user_id).exists():
            raise NotFound(LCM_NOT_FOUND)
        as_of = query.get("as_of")
        if as_of is not None and not history.not_past(as_of):
            held = history.caseload_at(user_id, roles, as_of)
            total = len(held)
            held = held[page.offset : page.offset + page.per_page]
        else:
            held, total = selectors.caseload_page(
                user_id, roles, offset=page.offset, limit=page.per_page
            )
        roles_of = dict(held)
        body = paginate(
            None,
            page,
            "patients",
            lambda row: render_caseload_patient(row, roles_of[row["p.id"]]),
            count=total,
            page_ids=list(roles_of),
            load=patient_rows,
            row_id=lambda row: row["p.id"],
        )
        access_report(request, Action.READ_LIST, list(roles_of))
        return Response(body)

    @extend_schema(
        operation_id="lead_care_managers_transfer",
        summary="Transfer a Lead Care Manager's caseload",
        description=(
            "Plans, and unless `dry_run` (default `true`), applies the move of the patients "
            "this Lead Care Manager holds in `role`: all to `to_user_id`, or without it each "
            "to the accepting LCM (not this one) least utilized after the move, never past "
            "capacity (the fill rule of auto-assign). A patient whose status does not count "
            "toward a caseload moves too and weighs 0. Heaviest patients first, at most `limit` "
            "(1,000) per call; the rest is `remaining_count`. The same person is never made "
            "both oLCM and iLCM of a patient. Applied moves are written as manual assignments "
            "are (history with the reason, activity, audit); a patient whose care team changed "
            "since the plan was made is skipped and reported. 404 when `id` is not an active "
            "Lead Care Manager; 422 when `to_user_id` is this LCM or not an active one."
        ),
        tags=["Care-team planning"],
        parameters=[LCM_ID],
        request=TransferInput,
        examples=[
            OpenApiExample(
                "Preview a spread",
                value={"role": "both", "reason": "Leaving the program"},
                request_only=True,
            ),
            OpenApiExample(
                "Apply a transfer to one LCM",
                value={
                    "role": "olcm",
                    "to_user_id": 102,
                    "reason": "Parental leave",
                    "dry_run": False,
                },
                request_only=True,
            ),
        ],
        responses={
            200: response(PlanResult, "The plan, and what was applied."),
            **error_responses(
                404, 422, *BODY_ERRORS, e404=[LCM_NOT_FOUND], e422=["reason is required"]
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="transfer")
    def transfer(self, request, pk: str):
        source = parse_id("id", pk)
        values = TransferInput.parse(request.data)
        dry_run = values.get("dry_run", True)
        audit_action = Action.READ_LIST if dry_run else Action.BULK_ASSIGN
        access_report(request, audit_action, [])
        plan = transfer.plan_transfer(
            source=source,
            roles=_roles(values["role"]),
            target=values.get("to_user_id"),
            limit=values.get("limit") or MAX_PLAN_PATIENTS,
        )
        access_report(request, audit_action, [move.patient_id for move in plan.moves])
        applied = None
        if not dry_run:
            applied = plans.apply_plan(plan, actor=request.user, reason=values["reason"])
        return Response(render_plan(plan, dry_run=dry_run, applied=applied))
