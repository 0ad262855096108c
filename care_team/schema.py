"""OpenAPI description of the Lead Care Manager routes (schema only).

The views render plain dicts (``care_team.serializers``); these serializers only describe them
to drf-spectacular and are attached with ``extend_schema_view`` at the bottom of the module
(imported by ``ecm_admin.openapi``).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers

from care_team import views
from care_team.choices import LcmRole
from care_team.serializers import MAX_SEARCH_LENGTH
from care_team.services import LCM_REQUIRED, MAX_BULK_ITEMS, MAX_REASON_LENGTH
from ecm_admin.openapi import (
    BODY_ERRORS,
    ErrorsSerializer,
    MessageSerializer,
    PaginationSerializer,
    error_responses,
)
from ecm_admin.text import SAFE_TEXT_PATTERN
from patients.schema import ID_SCHEMA, PAGE_PARAMETERS, PATIENT_NOT_FOUND, raw_field
from patients.schema import _id_input as _id

TAG = "Lead Care Managers"
ROLE_SCHEMA = {"type": "string", "enum": list(LcmRole.values)}

# --- responses ---------------------------------------------------------------------------------


class LeadCareManagerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="Sorted role names.")
    assigned_patients_count = serializers.IntegerField(
        min_value=0, help_text="Distinct patients for whom the user is oLCM or iLCM."
    )
    olcm_assignments_count = serializers.IntegerField(min_value=0)
    ilcm_assignments_count = serializers.IntegerField(min_value=0)

    class Meta:
        ref_name = "LeadCareManager"


class LeadCareManagerListSerializer(serializers.Serializer):
    lead_care_managers = LeadCareManagerSerializer(many=True)
    pagination = PaginationSerializer()

    class Meta:
        ref_name = "LeadCareManagerList"


class CaseLoadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    patient_id = serializers.IntegerField()
    patient_name = serializers.CharField()
    provider_id = serializers.IntegerField(allow_null=True)
    provider_name = serializers.CharField(allow_null=True)
    olcm_user_id = serializers.IntegerField(allow_null=True)
    olcm_name = serializers.CharField(allow_null=True)
    ilcm_user_id = serializers.IntegerField(allow_null=True)
    ilcm_name = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "CaseLoad"


class AssignResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    case_load = CaseLoadSerializer()

    class Meta:
        ref_name = "LeadCareManagerAssignResult"


class AssignedLcmSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()
    assigned_at = serializers.DateTimeField(
        allow_null=True, help_text="When this role was last set."
    )

    class Meta:
        ref_name = "AssignedLeadCareManager"


class CareTeamCaseLoadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider_id = serializers.IntegerField(allow_null=True)
    provider_name = serializers.CharField(allow_null=True)
    olcm = AssignedLcmSerializer(allow_null=True, help_text="`null` when unassigned.")
    ilcm = AssignedLcmSerializer(allow_null=True, help_text="`null` when unassigned.")

    class Meta:
        ref_name = "CareTeamCaseLoad"


class PatientCareTeamSerializer(serializers.Serializer):
    patient_id = serializers.IntegerField()
    patient_name = serializers.CharField()
    case_load = CareTeamCaseLoadSerializer(
        allow_null=True, help_text="`null` when the patient has no case load."
    )

    class Meta:
        ref_name = "PatientLeadCareManagers"


class BulkResultItemSerializer(serializers.Serializer):
    patient_id = raw_field(
        {
            "description": (
                "The item's `patient_id` as sent (an integer for a readable item; for an "
                "unreadable one whatever was sent, or `null`)."
            )
        }
    )
    status = serializers.ChoiceField([("success", "success"), ("failed", "failed")])
    errors = serializers.ListField(
        child=serializers.CharField(),
        min_length=1,
        required=False,
        help_text="Present when `status` is `failed`.",
    )

    class Meta:
        ref_name = "BulkAssignResultItem"


class BulkResultSerializer(serializers.Serializer):
    message = serializers.CharField(
        help_text='"Bulk assignment completed" (or "Bulk assignment failed" when nothing '
        "was written)."
    )
    successful_count = serializers.IntegerField(min_value=0)
    failed_count = serializers.IntegerField(min_value=0)
    results = BulkResultItemSerializer(many=True, help_text="In input order.")

    class Meta:
        ref_name = "BulkAssignResult"


class BulkAtomicFailureSerializer(BulkResultSerializer):
    errors = serializers.ListField(child=serializers.CharField(), min_length=1)

    class Meta:
        ref_name = "BulkAssignAtomicFailure"


# --- request bodies ----------------------------------------------------------------------------

REASON = {
    "type": "string",
    "maxLength": MAX_REASON_LENGTH,
    "pattern": SAFE_TEXT_PATTERN,
    "nullable": True,
    "description": "Kept on the assignment history and the activity.",
}


class AssignmentSerializer(serializers.Serializer):
    patient_id = raw_field(_id("ECM patient.", nullable=False))
    olcm_user_id = raw_field(
        _id("Outreach Lead Care Manager: an active user with the `ecm` role."), required=False
    )
    ilcm_user_id = raw_field(
        _id("Intensive Lead Care Manager: an active user with the `ecm` role."), required=False
    )
    provider_id = raw_field(
        _id("Primary provider: an active user with the `provider` role."), required=False
    )
    reason = raw_field(REASON, required=False)

    class Meta:
        ref_name = "LeadCareManagerAssignment"


class RemovalSerializer(serializers.Serializer):
    patient_id = raw_field(_id("ECM patient.", nullable=False))
    role = raw_field({**ROLE_SCHEMA, "description": "The role to remove."})
    reason = raw_field(REASON, required=False)

    class Meta:
        ref_name = "LeadCareManagerRemoval"


class BulkAssignRequestSerializer(serializers.Serializer):
    assignments = serializers.ListField(
        child=AssignmentSerializer(),
        min_length=1,
        max_length=MAX_BULK_ITEMS,
        help_text=(
            "Applied in array order; each item succeeds or fails on its own (a malformed item "
            "fails with its errors in `results`, it does not fail the request)."
        ),
    )
    atomic = serializers.BooleanField(
        required=False,
        help_text="All or nothing: any failure writes nothing, and the status is 422.",
    )

    class Meta:
        ref_name = "BulkAssignBody"


# --- examples (from the Lead Care Managers API document) --------------------------------------

SEED_LCM_LIST_EXAMPLE = {
    "lead_care_managers": [
        {
            "id": 101,
            "name": "Jane Coordinator",
            "email": "jane.coordinator@example.com",
            "roles": ["ecm", "coordinator"],
            "assigned_patients_count": 15,
            "olcm_assignments_count": 10,
            "ilcm_assignments_count": 5,
        },
        {
            "id": 102,
            "name": "Bob Manager",
            "email": "bob.manager@example.com",
            "roles": ["ecm", "coordinator"],
            "assigned_patients_count": 20,
            "olcm_assignments_count": 12,
            "ilcm_assignments_count": 8,
        },
    ],
    "pagination": {"current_page": 1, "total_pages": 2, "total_count": 30, "per_page": 25},
}
SEED_ASSIGN_EXAMPLE = {
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
SEED_REMOVE_EXAMPLE = {"message": "Lead Care Manager assignment removed successfully"}
SEED_PATIENT_LCMS_EXAMPLE = {
    "patient_id": 123,
    "patient_name": "John Doe",
    "case_load": {
        "id": 789,
        "provider_id": 456,
        "provider_name": "Dr. Smith",
        "olcm": {
            "user_id": 101,
            "name": "Jane Coordinator",
            "email": "jane.coordinator@example.com",
            "assigned_at": "2024-11-27T10:00:00.000Z",
        },
        "ilcm": {
            "user_id": 102,
            "name": "Bob Manager",
            "email": "bob.manager@example.com",
            "assigned_at": "2024-11-27T10:00:00.000Z",
        },
    },
}
SEED_BULK_EXAMPLE = {
    "message": "Bulk assignment completed",
    "successful_count": 3,
    "failed_count": 0,
    "results": [
        {"patient_id": 123, "status": "success"},
        {"patient_id": 124, "status": "success"},
        {"patient_id": 125, "status": "success"},
    ],
}
SEED_BULK_REQUEST = {
    "assignments": [
        {"patient_id": 123, "olcm_user_id": 101, "ilcm_user_id": 102},
        {"patient_id": 124, "olcm_user_id": 101},
        {"patient_id": 125, "ilcm_user_id": 102},
    ]
}

# --- operations --------------------------------------------------------------------------------


def _response(serializer, description: str, name: str, value: dict) -> OpenApiResponse:
    return OpenApiResponse(
        serializer,
        description=description,
        examples=[OpenApiExample(name, value=value, response_only=True)],
    )


list_lcms = extend_schema(
    operation_id="lead_care_managers_list",
    summary="List Lead Care Managers",
    description="Active users with the `ecm` role, ordered by name.",
    tags=[TAG],
    parameters=[
        *PAGE_PARAMETERS,
        OpenApiParameter(
            "search",
            {"type": "string", "maxLength": MAX_SEARCH_LENGTH, "pattern": SAFE_TEXT_PATTERN},
            description="Case-insensitive substring of first, last or full name, or email.",
        ),
        OpenApiParameter(
            "role",
            ROLE_SCHEMA,
            description=(
                "`olcm`: only users holding at least one oLCM assignment; `ilcm` likewise "
                "(case-insensitive)."
            ),
        ),
    ],
    responses={
        200: _response(
            LeadCareManagerListSerializer,
            "A page of Lead Care Managers.",
            "Lead Care Managers",
            SEED_LCM_LIST_EXAMPLE,
        ),
        **error_responses(422),
    },
)

ASSIGN_DESCRIPTION = (
    "Checks, in order: `patient_id` missing or not an integer (422); no such ECM patient "
    f'(404 "Patient not found"); neither LCM id given (422 "{LCM_REQUIRED}"); an LCM id that '
    "is not an active `ecm` user, or a `provider_id` that is not an active `provider` (422). "
    "Creates the case load when the patient has none. Each role that changes records one "
    "assignment-history entry and one activity."
)
ASSIGN_ERRORS = error_responses(404, 422, *BODY_ERRORS, e404=PATIENT_NOT_FOUND, e422=[LCM_REQUIRED])


def _assign(method: str, summary: str, message: str, request_example: dict):
    value = {**SEED_ASSIGN_EXAMPLE, "message": message}
    return extend_schema(
        methods=[method],
        operation_id=f"lead_care_managers_assign_{'create' if method == 'POST' else 'update'}",
        summary=summary,
        description=ASSIGN_DESCRIPTION,
        tags=[TAG],
        request=AssignmentSerializer,
        examples=[OpenApiExample("Assign", value=request_example, request_only=True)],
        responses={
            200: _response(AssignResultSerializer, "The patient's case load.", "Assigned", value),
            **ASSIGN_ERRORS,
        },
    )


class _BodyOnDeleteSchema(AutoSchema):
    """``DELETE lead_care_managers/assign`` reads a JSON body (drf-spectacular documents
    bodies for POST, PUT and PATCH only). The body is optional: without one, the same keys
    come from the query string."""

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            body = super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
        if body:
            body.pop("required", None)
        return body


remove_lcm = extend_schema(
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
    parameters=[
        OpenApiParameter(
            "patient_id", ID_SCHEMA, description="ECM patient (with a body: the same as in it)."
        ),
        OpenApiParameter(
            "role",
            ROLE_SCHEMA,
            description="The role to remove (with a body: the same as in it).",
        ),
        OpenApiParameter(
            "reason",
            {"type": "string", "maxLength": MAX_REASON_LENGTH, "pattern": SAFE_TEXT_PATTERN},
            description="Kept on the history (with a body: the same as in it).",
        ),
    ],
    request=RemovalSerializer,
    examples=[
        OpenApiExample("Remove", value={"patient_id": 123, "role": "olcm"}, request_only=True)
    ],
    responses={
        200: _response(MessageSerializer, "Removed.", "Removed", SEED_REMOVE_EXAMPLE),
        **error_responses(
            404, 422, *BODY_ERRORS, e404=["Patient has no oLCM assigned"], e422=["role is required"]
        ),
    },
)

patient_lcms = extend_schema(
    operation_id="patients_lead_care_managers",
    summary="Get a patient's Lead Care Managers",
    tags=[TAG],
    parameters=[
        OpenApiParameter(
            "patient_id",
            ID_SCHEMA,
            OpenApiParameter.PATH,
            description="Patient ID. A value that is not a positive integer is 422.",
            examples=[OpenApiExample("Patient 123", value=123)],
        )
    ],
    responses={
        200: _response(
            PatientCareTeamSerializer,
            "The patient's case load with its oLCM and iLCM.",
            "Patient's Lead Care Managers",
            SEED_PATIENT_LCMS_EXAMPLE,
        ),
        **error_responses(404, 422, e404=PATIENT_NOT_FOUND),
    },
)

bulk_assign = extend_schema(
    operation_id="lead_care_managers_bulk_assign",
    summary="Bulk assign Lead Care Managers",
    description=(
        f"1 to {MAX_BULK_ITEMS} assignments, each as the single assign. Each item succeeds or "
        "fails on its own and does not undo others; the same patient twice: the later wins. "
        'With `"atomic": true` any failure writes nothing and the answer is 422 with every '
        "item's result and `errors`. A body holding text the service does not accept (a NUL, "
        "an unpaired surrogate...) is malformed, not an item that fails: the whole request is "
        "422 (`assignments[3].reason must not contain NUL characters`), nothing is written."
    ),
    tags=[TAG],
    request=BulkAssignRequestSerializer,
    examples=[OpenApiExample("Bulk assign", value=SEED_BULK_REQUEST, request_only=True)],
    responses={
        200: _response(
            BulkResultSerializer, "Per-item results, in input order.", "Bulk", SEED_BULK_EXAMPLE
        ),
        **error_responses(*BODY_ERRORS),
        422: OpenApiResponse(
            PolymorphicProxySerializer(
                component_name="BulkAssignError",
                serializers=[ErrorsSerializer, BulkAtomicFailureSerializer],
                resource_type_field_name=None,
            ),
            description=(
                "The body is not a valid bulk request, or holds text the service does not "
                "accept, anywhere (`Errors`); or an atomic request had a failing item "
                "(`BulkAssignAtomicFailure`). Nothing was written."
            ),
            examples=[
                OpenApiExample(
                    "Invalid body",
                    value={"errors": ["assignments must not be empty"]},
                    response_only=True,
                    status_codes=["422"],
                )
            ],
        ),
    },
)

# The DELETE body needs the schema class above; the annotations below build on it.
views.AssignView.delete.kwargs = {"schema": _BodyOnDeleteSchema}

extend_schema_view(get=list_lcms)(views.LeadCareManagerListView)
extend_schema_view(
    post=_assign(
        "POST",
        "Assign a Lead Care Manager",
        "Lead Care Manager assigned successfully",
        {"patient_id": 123, "olcm_user_id": 101, "ilcm_user_id": 102},
    ),
    put=_assign(
        "PUT",
        "Update a Lead Care Manager assignment",
        "Lead Care Manager assignment updated successfully",
        {"patient_id": 123, "ilcm_user_id": 103},
    ),
    delete=remove_lcm,
)(views.AssignView)
extend_schema_view(post=bulk_assign)(views.BulkAssignView)
extend_schema_view(get=patient_lcms)(views.PatientLeadCareManagersView)
