"""Lead Care Manager routes: read the input, call one service or selector, render.

Each method carries its own OpenAPI description (``@extend_schema``): its input is the
``care_team.inputs`` declaration that validates it, its responses the shapes the renderers
return (``care_team.serializers``).
"""

from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField
from rest_framework.response import Response

from audit.models import Action
from audit.services import access_report
from care_team import examples, history, selectors
from care_team.caseload_views import CaseloadActions
from care_team.inputs import (
    AssignmentInput,
    BulkAssignInput,
    CareTeamQuery,
    HistoryQuery,
    LeadCareManagerListQuery,
    RemovalInput,
    assignment,
    bulk_items,
)
from care_team.planning.views import PlanningActions
from care_team.serializers import (
    AssignmentHistory,
    BulkAssignAtomicFailure,
    BulkAssignResult,
    LeadCareManagerAssignResult,
    LeadCareManagerList,
    PatientLeadCareManagers,
    bulk_failure_sentence,
    render_bulk_result,
    render_case_load,
    render_history_entry,
    render_lead_care_manager,
    render_patient_care_team,
)
from care_team.services import (
    LCM_REQUIRED,
    MAX_BULK_ITEMS,
    PATIENT_NOT_FOUND,
    care_team_assign,
    care_team_bulk_assign,
    care_team_unassign,
)
from ecm_admin.exceptions import NotFound, UnprocessableEntity
from ecm_admin.inputs import parse_id, unknown_keys_sentence
from ecm_admin.openapi import (
    BODY_ERRORS,
    PATIENT_ID,
    Errors,
    Message,
    described,
    error_responses,
    query_parameters,
    response,
)
from ecm_admin.pagination import page_of, paginate
from patients.selectors import ecm_patients

TAG = "Lead Care Managers"
ASSIGN_DESCRIPTION = (
    "Checks, in order: `patient_id` missing or not an integer (422); no such ECM patient "
    f'(404 "Patient not found"); neither LCM id given (422 "{LCM_REQUIRED}"); an LCM id that '
    "is not an active `ecm` user, or a `provider_id` that is not an active `provider` (422). "
    "Creates the case load when the patient has none. Each role that changes records one "
    "assignment-history entry and one activity."
)
ASSIGN_ERRORS = error_responses(
    404, 422, *BODY_ERRORS, e404=[PATIENT_NOT_FOUND], e422=[LCM_REQUIRED]
)


def _assign_schema(method: str, summary: str, message: str, request_example: dict):
    return extend_schema(
        methods=[method],
        operation_id=f"lead_care_managers_assign_{'create' if method == 'POST' else 'update'}",
        summary=summary,
        description=ASSIGN_DESCRIPTION,
        tags=[TAG],
        request=AssignmentInput,
        examples=[OpenApiExample("Assign", value=request_example, request_only=True)],
        responses={
            200: response(
                LeadCareManagerAssignResult,
                "The patient's case load.",
                "Assigned",
                {**examples.SEED_ASSIGN_EXAMPLE, "message": message},
            ),
            **ASSIGN_ERRORS,
        },
    )


ASSIGNED = "Lead Care Manager assigned successfully"
UPDATED = "Lead Care Manager assignment updated successfully"
REMOVED = "Lead Care Manager assignment removed successfully"


def _removal(request) -> dict:
    """The input of ``DELETE /lead_care_managers/assign``: the JSON body, or the query string
    when there is no body (some clients cannot send a DELETE body). With a body, query
    parameters beside it may only repeat it (the same value once read: ``patient_id=7`` agrees
    with ``"patient_id": 7``); one that differs, or that the body lacks, is 422, since which of
    the two counts would be a guess."""
    query = request.query_params.dict()
    if request.stream is None:
        return RemovalInput.parse(query)
    values = RemovalInput.parse(request.data)
    if query:
        fields = RemovalInput().fields
        unknown = sorted(key for key in query if key not in fields)
        if unknown:
            raise UnprocessableEntity([unknown_keys_sentence(unknown, "the query string")])
        errors = []
        for key, field in fields.items():
            if key not in query:
                continue
            body_value = values.get(key, field.missing_value())
            try:
                agrees = field.run_validation(query[key]) == body_value
            except (ValidationError, SkipField):
                agrees = False
            if not agrees:
                errors.append(f"{key} in the query string does not match the body")
        if errors:
            raise UnprocessableEntity(errors)
    return values


class LeadCareManagerViewSet(PlanningActions, CaseloadActions, viewsets.ViewSet):
    """``/lead_care_managers``: the list, single and bulk assignment, planning, and each LCM's
    caseload (its patients, its transfer)."""

    lookup_value_regex = "[^/]+"

    @extend_schema(
        operation_id="lead_care_managers_list",
        summary="List Lead Care Managers",
        description="Active users with the `ecm` role, ordered by name.",
        tags=[TAG],
        parameters=[LeadCareManagerListQuery],
        responses={
            200: response(
                LeadCareManagerList,
                "A page of Lead Care Managers.",
                "Lead Care Managers",
                examples.SEED_LCM_LIST_EXAMPLE,
            ),
            **error_responses(422),
        },
    )
    def list(self, request):
        query = LeadCareManagerListQuery.parse(request.query_params)
        users = selectors.lead_care_managers(
            search=query.get("search", ""), role=query.get("role") or ""
        )
        return Response(
            paginate(
                users,
                page_of(query),
                "lead_care_managers",
                render_lead_care_manager,
                load=selectors.lead_care_manager_rows,
                row_id=selectors.lead_care_manager_row_id,
            )
        )

    @_assign_schema(
        "POST",
        "Assign a Lead Care Manager",
        ASSIGNED,
        {"patient_id": 123, "olcm_user_id": 101, "ilcm_user_id": 102},
    )
    @_assign_schema(
        "PUT",
        "Update a Lead Care Manager assignment",
        UPDATED,
        {"patient_id": 123, "ilcm_user_id": 103},
    )
    @extend_schema(
        methods=["DELETE"],
        operation_id="lead_care_managers_assign_destroy",
        summary="Remove a Lead Care Manager assignment",
        description=(
            "`patient_id` and `role` come from the JSON body, or from the query string when "
            "there is no body (some clients cannot send a DELETE body). With a body, query "
            "parameters may only repeat it: one that differs from the body (once read: "
            '`patient_id=7` agrees with `"patient_id": 7`) or that the body lacks is 422. '
            "Missing or bad `role`: 422. No such patient: 404. The role is not assigned: 404 "
            '"Patient has no oLCM assigned" (or iLCM).'
        ),
        tags=[TAG],
        parameters=query_parameters(RemovalInput, note="with a body: the same as in it"),
        request=RemovalInput,
        examples=[
            OpenApiExample("Remove", value={"patient_id": 123, "role": "olcm"}, request_only=True)
        ],
        responses={
            200: response(Message, "Removed.", "Removed", examples.SEED_REMOVE_EXAMPLE),
            **error_responses(
                404,
                422,
                *BODY_ERRORS,
                e404=["Patient has no oLCM assigned"],
                e422=["role is required"],
            ),
        },
    )
    @action(detail=False, methods=["post", "put", "delete"], url_path="assign")
    def assign(self, request):
        if request.method == "DELETE":
            return self._remove(request)
        item = assignment(AssignmentInput.parse(request.data))
        access_report(request, Action.ASSIGN, [item.patient_id])
        case_load = care_team_assign(
            patient_id=item.patient_id,
            olcm_user_id=item.olcm_user_id,
            ilcm_user_id=item.ilcm_user_id,
            provider_id=item.provider_id,
            actor=request.user,
            reason=item.reason,
        )
        message = ASSIGNED if request.method == "POST" else UPDATED
        return Response({"message": message, "case_load": render_case_load(case_load)})

    def _remove(self, request):
        values = _removal(request)
        patient_id = values["patient_id"]
        access_report(request, Action.UNASSIGN, [patient_id])
        care_team_unassign(
            patient_id=patient_id,
            role=values["role"],
            actor=request.user,
            reason=values.get("reason") or "",
        )
        return Response({"message": REMOVED})

    @extend_schema(
        operation_id="lead_care_managers_bulk_assign",
        summary="Bulk assign Lead Care Managers",
        description=(
            f"1 to {MAX_BULK_ITEMS} assignments, each as the single assign. Each item succeeds "
            "or fails on its own and does not undo others; the same patient twice: the later "
            'wins. With `"atomic": true` any failure writes nothing and the answer is 422 with '
            "every item's result and `errors`. A body holding text the service does not accept "
            "(a NUL, an unpaired surrogate...) is malformed, not an item that fails: the whole "
            "request is 422 (`assignments[3].reason must not contain NUL characters`), nothing "
            "is written."
        ),
        tags=[TAG],
        request=BulkAssignInput,
        examples=[
            OpenApiExample("Bulk assign", value=examples.SEED_BULK_REQUEST, request_only=True)
        ],
        responses={
            200: response(
                BulkAssignResult,
                "Per-item results, in input order.",
                "Bulk",
                examples.SEED_BULK_EXAMPLE,
            ),
            **error_responses(*BODY_ERRORS),
            422: response(
                PolymorphicProxySerializer(
                    component_name="BulkAssignError",
                    serializers=[described(Errors), described(BulkAssignAtomicFailure)],
                    resource_type_field_name=None,
                ),
                "The body is not a valid bulk request, or holds text the service does not "
                "accept, anywhere (`Errors`); or an atomic request had a failing item "
                "(`BulkAssignAtomicFailure`). Nothing was written.",
                "Invalid body",
                {"errors": ["assignments must not be empty"]},
                status=422,
            ),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk_assign")
    def bulk_assign(self, request):
        values = BulkAssignInput.parse(request.data)
        entries = bulk_items(values)
        atomic = bool(values.get("atomic"))
        ids = [getattr(item, "patient_id", None) for _, item in entries]
        access_report(request, Action.BULK_ASSIGN, ids)
        result = care_team_bulk_assign(
            assignments=[item for _, item in entries], actor=request.user, atomic=atomic
        )
        body = render_bulk_result([ref for ref, _ in entries], result)
        if atomic and result.invalid_count:
            body["errors"] = [bulk_failure_sentence(result)]
            return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(body)


class PatientCareTeamActions:
    """The care-team routes under a patient: ``lead_care_managers`` (now, or ``as_of`` an
    instant) and its ``history``. Actions of the ``patients`` viewset
    (``ecm_admin.patient_routes``)."""

    @extend_schema(
        operation_id="patients_lead_care_managers",
        summary="Get a patient's Lead Care Managers",
        description=(
            "The patient's care team now or, with `as_of`, as it stood at that instant "
            "(reconstructed from the assignment history; a role whose holder then is not "
            "recorded is `null`, never guessed)."
        ),
        tags=[TAG],
        parameters=[PATIENT_ID, CareTeamQuery],
        responses={
            200: response(
                PatientLeadCareManagers,
                "The patient's case load with its oLCM and iLCM.",
                "Patient's Lead Care Managers",
                examples.SEED_PATIENT_LCMS_EXAMPLE,
            ),
            **error_responses(404, 422, e404=[PATIENT_NOT_FOUND]),
        },
    )
    @action(detail=True, methods=["get"], url_path="lead_care_managers")
    def lead_care_managers(self, request, patient_id: str):
        pk = parse_id("patient_id", patient_id)
        query = CareTeamQuery.parse(request.query_params)
        access_report(request, Action.READ_DETAIL, [pk])
        row = selectors.patient_care_team(pk)
        if row is None:
            raise NotFound(PATIENT_NOT_FOUND)
        if "as_of" in query:
            row = history.care_team_at(row, query["as_of"])
        return Response(render_patient_care_team(row))

    @extend_schema(
        operation_id="patients_lead_care_managers_history",
        summary="A patient's assignment history",
        description="Every change of the patient's oLCM, iLCM and provider, newest first.",
        tags=[TAG],
        parameters=[PATIENT_ID, HistoryQuery],
        responses={
            200: response(AssignmentHistory, "A page of the history."),
            **error_responses(404, 422, e404=[PATIENT_NOT_FOUND]),
        },
    )
    @action(detail=True, methods=["get"], url_path="lead_care_managers/history")
    def lead_care_managers_history(self, request, patient_id: str):
        pk = parse_id("patient_id", patient_id)
        page = page_of(HistoryQuery.parse(request.query_params))
        access_report(request, Action.READ_DETAIL, [pk])
        if not ecm_patients().filter(pk=pk).exists():
            raise NotFound(PATIENT_NOT_FOUND)
        rows, total = history.history_page(pk, page.offset, page.per_page)
        return Response(
            paginate(
                None,
                page,
                "assignment_history",
                render_history_entry,
                count=total,
                page_ids=[row["h.id"] for row in rows],
                load=lambda ids: rows,
                row_id=lambda row: row["h.id"],
            )
        )
