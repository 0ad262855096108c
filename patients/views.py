"""Patient routes: read the input, call one selector or service, render.

``PatientActions`` are the routes of the ``patients`` viewset (composed with the care-team
routes under a patient in ``ecm_admin.patient_routes``: this app does not import care_team).
Each method carries its own OpenAPI description (``@extend_schema``): its input is the
declaration that validates it (``patients.inputs``, ``patients.update_input``), its responses
the shapes the renderers return (``patients.serializers``).
"""

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from audit.models import Action
from audit.services import access_report
from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.inputs import parse_id
from ecm_admin.openapi import BODY_ERRORS, PATIENT_ID, error_responses, response
from ecm_admin.pagination import page_request
from ecm_admin.text import SAFE_TEXT_PATTERN
from patients import examples, selectors, services
from patients.etags import if_match_check, representation_etag
from patients.filtersets import PatientFilterSet
from patients.inputs import PatientFilterInput, PatientListQuery, list_request
from patients.serializers import PatientEnvelope, PatientList, patient_detail
from patients.sorting import parse_sort
from patients.update_input import ELIGIBILITY_FIELDS, PatientUpdateInput, patient_changes

PLURAL = "patients"
TAG = "Patients"
PATIENT_NOT_FOUND = "Patient not found"
MEMBER_ID_BLANK = f"Validation failed: {ELIGIBILITY_FIELDS['member_id'].problem('')}"


def _patients_page(*, filters: Mapping[str, Any], sort_by, sort_dir, paging: Mapping) -> dict:
    filterset = PatientFilterSet(data=filters, queryset=selectors.ecm_patients())
    filterset.validate()
    sort = parse_sort(sort_by, sort_dir)
    return selectors.patient_page(filters=filterset, sort=sort, page=page_request(paging))


def _patient_or_404(patient_id: int):
    patient = selectors.patient_detail(patient_id=patient_id)
    if patient is None:
        raise NotFound(PATIENT_NOT_FOUND)
    return patient


LIST_RESPONSE = response(
    PatientList, "A page of ECM patients.", "Patients", examples.SEED_LIST_EXAMPLE
)
DETAIL_RESPONSE = response(
    PatientEnvelope,
    "The patient, exactly as the detail representation.",
    "Patient",
    examples.SEED_DETAIL_EXAMPLE,
)
ETAG = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    required=True,
    description=(
        "Strong entity tag of this detail representation; send it back in `If-Match` to update "
        "only if nobody changed the patient meanwhile."
    ),
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": SAFE_TEXT_PATTERN},
    OpenApiParameter.HEADER,
    description=(
        "Optional optimistic concurrency: the `ETag` of the representation the change is based "
        "on (several may be listed; `*` matches any). If none is current: 412, nothing written. "
        'Compared strongly (RFC 9110): a weak tag (`W/"…"`) never matches, so it is 412 too.'
    ),
)


def _update_schema(method: str, summary: str):
    return extend_schema(
        operation_id=f"patients_{method}",
        summary=summary,
        description=(
            "Partial update (PUT and PATCH mean the same): only the keys present change. "
            "Read-only keys of the detail representation are accepted and ignored, so a "
            "client can send back what it read; any other key is 422. Validation failures "
            "are 422 with one sentence per problem. Returns the full detail representation."
        ),
        tags=[TAG],
        parameters=[PATIENT_ID, IF_MATCH, ETAG],
        request=PatientUpdateInput,
        examples=[OpenApiExample("Update", value=examples.SEED_UPDATE_REQUEST, request_only=True)],
        responses={
            200: DETAIL_RESPONSE,
            **error_responses(
                404,
                412,
                422,
                *BODY_ERRORS,
                e404=[PATIENT_NOT_FOUND],
                e422=[MEMBER_ID_BLANK],
            ),
        },
    )


class PatientActions:
    """``/patients``: the list (``GET``, or ``POST /patients/filter`` with the criteria in a
    body), and one patient's detail and its update (``PUT`` and ``PATCH``, both partial)."""

    lookup_url_kwarg = "patient_id"
    lookup_value_regex = "[^/]+"

    @extend_schema(
        operation_id="patients_list",
        summary="List ECM patients",
        description=(
            "A paginated list of ECM patients with their eligibility information and case "
            "load. Accepts every key of `POST /patients/filter`'s `filters` as a query "
            "parameter."
        ),
        tags=[TAG],
        parameters=[PatientListQuery],
        responses={200: LIST_RESPONSE, **error_responses(422)},
    )
    def list(self, request):
        query = PatientListQuery.parse(request.query_params)
        body = _patients_page(**list_request(query, query))
        access_report(request, Action.READ_LIST, [p["id"] for p in body[PLURAL]])
        return Response(body)

    @extend_schema(
        operation_id="patients_filter",
        summary="Filter ECM patients",
        description="The same list as `GET /patients`, with the criteria in a JSON body.",
        tags=[TAG],
        request=PatientFilterInput,
        examples=[OpenApiExample("Filter", value=examples.SEED_FILTER_REQUEST, request_only=True)],
        responses={200: LIST_RESPONSE, **error_responses(422, *BODY_ERRORS)},
    )
    @action(detail=False, methods=["post"], url_path="filter")
    def filter(self, request):
        values = PatientFilterInput.parse(request.data)
        body = _patients_page(**list_request(values, values.get("filters") or {}))
        access_report(request, Action.READ_LIST, [p["id"] for p in body[PLURAL]])
        return Response(body)

    @extend_schema(
        operation_id="patients_retrieve",
        summary="Get an ECM patient",
        description=(
            "The patient's detail representation. Its `ETag` header identifies it: send it "
            "back in `If-Match` to update only if nobody changed the patient meanwhile."
        ),
        tags=[TAG],
        parameters=[PATIENT_ID, ETAG],
        responses={
            200: DETAIL_RESPONSE,
            **error_responses(404, 422, e404=[PATIENT_NOT_FOUND]),
        },
    )
    def retrieve(self, request, patient_id: str):
        pk = parse_id("id", patient_id)
        access_report(request, Action.READ_DETAIL, [pk])
        detail = patient_detail(_patient_or_404(pk))
        return Response({"patient": detail}, headers={"ETag": representation_etag(detail)})

    @_update_schema("put", "Update an ECM patient")
    def update(self, request, patient_id: str):
        pk = parse_id("id", patient_id)
        access_report(request, Action.UPDATE, [pk])
        try:
            changes = patient_changes(PatientUpdateInput.parse(request.data))
        except UnprocessableEntity:
            # An unknown patient is 404 whatever the body says.
            if not selectors.ecm_patients().filter(pk=pk).exists():
                raise NotFound(PATIENT_NOT_FOUND) from None
            raise
        services.patient_update(
            patient_id=pk,
            patient_fields=changes.patient,
            eligibility_fields=changes.eligibility,
            actor=request.user,
            # If-Match: checked under the row lock; a stale ETag is 412 and writes nothing.
            precondition=if_match_check(request.headers.get("If-Match"), pk),
        )
        detail = patient_detail(_patient_or_404(pk))
        return Response({"patient": detail}, headers={"ETag": representation_etag(detail)})

    @_update_schema("patch", "Update an ECM patient (same as PUT)")
    def partial_update(self, request, patient_id: str):
        return self.update(request, patient_id)
