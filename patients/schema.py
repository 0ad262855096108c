"""OpenAPI description of the patient routes (schema only: nothing here validates or renders).

The views read and write plain dicts (``patients.serializers``); these serializers exist only
to describe those shapes to drf-spectacular. They are attached to the views at the bottom of
the module with ``extend_schema_view``; ``ecm_admin.openapi`` imports this module.

Constraints are read from the rules ``patients.serializers.parse_patient_update`` checks
(``patients.rules``) and mirror ``patients.filtersets``, so that what the schema calls valid
the API accepts, and what it calls invalid the API refuses with 422 (checked by the contract
fuzzing in ``.ci``).
"""

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers

from ecm_admin.inputs import MAX_ID
from ecm_admin.openapi import (
    BODY_ERRORS,
    ShapeField,
    error_responses,
)
from ecm_admin.pagination import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, Pagination
from ecm_admin.text import SAFE_TEXT_PATTERN, UNSAFE_TEXT_CLASS
from patients import views
from patients.choices import AcuityLevel, Gender, MemberRecordStatus
from patients.filtersets import MAX_SEARCH_LENGTH, MISSING_LCM_CHOICES, SORT_FIELDS
from patients.rules import CIN, EARLIEST_DATE_OF_BIRTH, NPI, PHONE, STATE, ZIP, Format
from patients.serializers import ADDRESS_FIELDS, ELIGIBILITY_FIELDS, PATIENT_FIELDS
from patients.worklist import MAX_EXPIRING_WITHIN_DAYS
from patients.worklist_filters import BOOLEAN_CHOICES

TAG = "Patients"

# --- reusable raw schemas ----------------------------------------------------------------------

# Text the service accepts (``ecm_admin.text``), and the same with at least one character
# other than white space.
_UNSAFE = UNSAFE_TEXT_CLASS
NOT_BLANK = rf"^[^{_UNSAFE}]*[^{_UNSAFE}\s][^{_UNSAFE}]*$"
SORT_DIR_PATTERN = r"^([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])$"
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# Bodies read ids with ``ecm_admin.inputs.parse_id`` (and filters through the FilterSet): an
# integer, or a string of digits (at most 18, so it stays below 2**63).
ID_INPUT = {
    "anyOf": [ID_SCHEMA, {"type": "string", "pattern": r"^0*[1-9][0-9]{0,17}$"}],
    "description": "A positive integer (a string of digits is accepted too).",
}
# The empty string: "not given" for optional ids and paging keys in a body.
EMPTY = {"type": "string", "enum": [""]}
# Blank (or white space) means the same as ``null`` in the update body.
BLANK = {"type": "string", "pattern": r"^\s*$"}


def raw_field(schema: dict, **kwargs) -> serializers.Field:
    """A schema-only field described by a raw OpenAPI schema."""
    field_class = type("RawSchemaField", (serializers.Field,), {})
    return extend_schema_field(schema)(field_class)(**kwargs)


def _text(max_length: int, *, required: bool = False, description: str = "") -> dict:
    """A text key of the update body: blank or ``null`` clears it unless it is required."""
    schema = {
        "type": "string",
        "maxLength": max_length,
        "pattern": NOT_BLANK if required else SAFE_TEXT_PATTERN,
    }
    if not required:
        schema["nullable"] = True
    if description:
        schema["description"] = description
    return schema


def _optional(format: Format) -> str:
    """A format's pattern, or blank (which clears the value)."""
    return rf"^({format.pattern})?$"


def _date(description: str) -> dict:
    return {
        "anyOf": [{"type": "string", "format": "date"}, BLANK],
        "nullable": True,
        "description": f"{description} (YYYY-MM-DD); blank or `null` clears it.",
    }


def _id_input(description: str, *, nullable: bool = True) -> dict:
    """An id in a body; an optional one may also be ``null`` or ``""`` (both: not given)."""
    schema = {**ID_INPUT, "description": f"{description} {ID_INPUT['description']}"}
    if nullable:
        schema["anyOf"] = [*schema["anyOf"], EMPTY]
        schema["nullable"] = True
    return schema


# The authorization worklist filters, declared once for the query and the body: (query
# parameter schema, body value schema, description).
# "Today" of the worklist filters (patients.worklist.today).
_TODAY = f"Today is the service's date (time zone {settings.TIME_ZONE})."
# 0 to MAX_EXPIRING_WITHIN_DAYS (365) as a string of digits.
_DAYS = r"0*(36[0-5]|3[0-5][0-9]|[12][0-9]{2}|[1-9]?[0-9])"
WORKLIST_FILTERS = {
    "authorization_expiring_within_days": (
        {"type": "integer", "minimum": 0, "maximum": MAX_EXPIRING_WITHIN_DAYS},
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_EXPIRING_WITHIN_DAYS},
                {"type": "string", "pattern": f"^{_DAYS}$"},
                EMPTY,
            ],
            "nullable": True,
        },
        "Days from today (0-365): the patient's latest approved authorization (the approved one "
        "with the greatest expiration date; an open-ended one is the latest) ends between today "
        f"and today plus this many days, both included. {_TODAY} Statuses are compared "
        "case-insensitively.",
    ),
    "missing_active_authorization": (
        {"type": "string", "enum": [value for value, _ in BOOLEAN_CHOICES]},
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "string", "enum": [value for value, _ in BOOLEAN_CHOICES]},
                EMPTY,
            ],
            "nullable": True,
        },
        "`true`: no approved authorization covers today (started on or before today, or has "
        "no start date; expires on or after today, or is open-ended), including patients with "
        f"no approved authorization at all; `false`: at least one does. {_TODAY} Statuses are "
        "compared case-insensitively.",
    ),
}


def _worklist_body_field(name: str) -> serializers.Field:
    _, schema, description = WORKLIST_FILTERS[name]
    return raw_field({**schema, "description": description}, required=False)


# --- responses ---------------------------------------------------------------------------------


class EcmEligibilitySummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member_id = serializers.CharField()
    cin = serializers.CharField(allow_null=True)
    ecm_service_auth_id = serializers.CharField(allow_null=True)
    ecm_provider_name = serializers.CharField(allow_null=True)
    ecm_benefit_auth_eff_date = serializers.DateField(allow_null=True)
    ecm_benefit_auth_end_date = serializers.DateField(allow_null=True)
    acuity_level = serializers.ChoiceField(AcuityLevel.choices, allow_null=True)
    member_record_status = serializers.ChoiceField(MemberRecordStatus.choices)

    class Meta:
        ref_name = "EcmEligibilitySummary"


class EcmEligibilityDetailSerializer(EcmEligibilitySummarySerializer):
    ecm_npi = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "EcmEligibilityInformation"


class CaseLoadSummarySerializer(serializers.Serializer):
    provider_id = serializers.IntegerField(allow_null=True)
    provider_name = serializers.CharField(allow_null=True)
    olcm_user_id = serializers.IntegerField(allow_null=True)
    olcm_name = serializers.CharField(allow_null=True)
    ilcm_user_id = serializers.IntegerField(allow_null=True)
    ilcm_name = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "PatientCaseLoadSummary"


class CaseLoadDetailSerializer(CaseLoadSummarySerializer):
    id = serializers.IntegerField()

    class Meta:
        ref_name = "PatientCaseLoad"


class PatientListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    ecm_eligibility_information = EcmEligibilitySummarySerializer()
    case_load = CaseLoadSummarySerializer(
        allow_null=True, help_text="`null` when the patient has no case load."
    )

    class Meta:
        ref_name = "PatientListItem"


class PatientListSerializer(serializers.Serializer):
    patients = PatientListItemSerializer(many=True)
    pagination = ShapeField(Pagination)

    class Meta:
        ref_name = "PatientList"


class AddressSerializer(serializers.Serializer):
    street = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    zip = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "Address"


class EcmAuthorizationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    auth_no = serializers.CharField()
    auth_type = serializers.CharField(allow_null=True)
    authorization_type = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    start_date = serializers.DateField(allow_null=True)
    expiration_date = serializers.DateField(allow_null=True)

    class Meta:
        ref_name = "EcmAuthorization"


class EcmStatusHistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(MemberRecordStatus.choices)
    changed_at = serializers.DateTimeField()
    changed_by = serializers.CharField()

    class Meta:
        ref_name = "EcmStatusHistoryEntry"


class PatientDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    gender = serializers.ChoiceField(Gender.choices, allow_null=True)
    address = AddressSerializer()
    phone = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    services = serializers.ListField(child=serializers.CharField())
    ecm_eligibility_information = EcmEligibilityDetailSerializer()
    case_load = CaseLoadDetailSerializer(
        allow_null=True, help_text="`null` when the patient has no case load."
    )
    ecm_authorizations = EcmAuthorizationSerializer(
        many=True, help_text="Newest `start_date` first."
    )
    ecm_status_history = EcmStatusHistoryEntrySerializer(
        many=True, help_text="Newest `changed_at` first."
    )
    activities_count = serializers.IntegerField(min_value=0)
    last_activity_at = serializers.DateTimeField(
        allow_null=True, help_text="`null` when the patient has no activity."
    )

    class Meta:
        ref_name = "PatientDetail"


class PatientEnvelopeSerializer(serializers.Serializer):
    patient = PatientDetailSerializer()

    class Meta:
        ref_name = "PatientEnvelope"


# --- request bodies ----------------------------------------------------------------------------

IGNORED = {"description": "Read-only key of the detail representation: accepted and ignored."}


class AddressWriteSerializer(serializers.Serializer):
    street = raw_field(_text(ADDRESS_FIELDS["street"].max_length), required=False)
    city = raw_field(_text(ADDRESS_FIELDS["city"].max_length), required=False)
    state = raw_field(
        {
            "type": "string",
            "pattern": _optional(STATE),
            "nullable": True,
            "description": "Two-letter state code; blank or `null` clears it.",
        },
        required=False,
    )
    zip = raw_field(
        {
            "type": "string",
            "pattern": _optional(ZIP),
            "nullable": True,
            "description": "5-digit ZIP code or ZIP+4; blank or `null` clears it.",
        },
        required=False,
    )

    class Meta:
        ref_name = "AddressUpdate"


class EcmEligibilityWriteSerializer(serializers.Serializer):
    member_id = raw_field(
        _text(ELIGIBILITY_FIELDS["member_id"].max_length, required=True, description="Unique."),
        required=False,
    )
    cin = raw_field(
        {
            "type": "string",
            "pattern": _optional(CIN),
            "nullable": True,
            "description": "Medi-Cal CIN: 9 letters or digits; blank or `null` clears it.",
        },
        required=False,
    )
    ecm_service_auth_id = raw_field(
        _text(ELIGIBILITY_FIELDS["ecm_service_auth_id"].max_length), required=False
    )
    ecm_provider_name = raw_field(
        _text(ELIGIBILITY_FIELDS["ecm_provider_name"].max_length), required=False
    )
    ecm_npi = raw_field(
        {
            "type": "string",
            "pattern": _optional(NPI),
            "nullable": True,
            "description": (
                "10-digit NPI whose last digit is the Luhn check digit of the nine before it "
                "(with the 80840 prefix); otherwise 422. Blank or `null` clears it."
            ),
        },
        required=False,
    )
    ecm_benefit_auth_eff_date = raw_field(
        _date("ECM benefit authorization effective date"), required=False
    )
    ecm_benefit_auth_end_date = raw_field(
        _date("ECM benefit authorization end date; not before the effective date (else 422)"),
        required=False,
    )
    acuity_level = serializers.ChoiceField(
        AcuityLevel.choices,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="Blank or `null` clears it.",
    )
    member_record_status = serializers.ChoiceField(
        MemberRecordStatus.choices,
        required=False,
        help_text=(
            "A change appends one `ecm_status_history` entry and one activity; "
            "an unchanged status appends nothing."
        ),
    )
    id = raw_field(IGNORED, required=False)
    created_at = raw_field(IGNORED, required=False)
    updated_at = raw_field(IGNORED, required=False)

    class Meta:
        ref_name = "EcmEligibilityInformationUpdate"


class PatientWriteSerializer(serializers.Serializer):
    first_name = raw_field(
        _text(PATIENT_FIELDS["first_name"].max_length, required=True), required=False
    )
    last_name = raw_field(
        _text(PATIENT_FIELDS["last_name"].max_length, required=True), required=False
    )
    date_of_birth = raw_field(
        _date(f"Date of birth; from {EARLIEST_DATE_OF_BIRTH.isoformat()} to today (else 422)"),
        required=False,
    )
    gender = serializers.ChoiceField(
        Gender.choices,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="Blank or `null` clears it.",
    )
    phone = raw_field(
        {
            "type": "string",
            "maxLength": PATIENT_FIELDS["phone"].max_length,
            "pattern": _optional(PHONE),
            "nullable": True,
            "description": "Digits, spaces and `+().-`; blank or `null` clears it.",
        },
        required=False,
    )
    email = raw_field(
        {
            "anyOf": [
                {
                    "type": "string",
                    "format": "email",
                    "maxLength": PATIENT_FIELDS["email"].max_length,
                },
                BLANK,
            ],
            "nullable": True,
            "description": "A valid email address; blank or `null` clears it.",
        },
        required=False,
    )
    address = AddressWriteSerializer(required=False)
    ecm_eligibility_information = EcmEligibilityWriteSerializer(required=False)
    id = raw_field(IGNORED, required=False)
    name = raw_field(IGNORED, required=False)
    services = raw_field(IGNORED, required=False)
    case_load = raw_field(IGNORED, required=False)
    ecm_authorizations = raw_field(IGNORED, required=False)
    ecm_status_history = raw_field(IGNORED, required=False)
    activities_count = raw_field(IGNORED, required=False)
    last_activity_at = raw_field(IGNORED, required=False)
    created_at = raw_field(IGNORED, required=False)
    updated_at = raw_field(IGNORED, required=False)

    class Meta:
        ref_name = "PatientUpdate"


class PatientUpdateRequestSerializer(serializers.Serializer):
    patient = PatientWriteSerializer(
        help_text="Only the keys present change; any key not listed here is 422."
    )

    class Meta:
        ref_name = "PatientUpdateBody"


class PatientFiltersSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        MemberRecordStatus.choices,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="Member record status.",
    )
    acuity_level = serializers.ChoiceField(
        AcuityLevel.choices,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="Acuity level.",
    )
    provider_id = raw_field(_id_input("Assigned provider."), required=False)
    olcm_user_id = raw_field(_id_input("Assigned oLCM."), required=False)
    ilcm_user_id = raw_field(_id_input("Assigned iLCM."), required=False)
    authorization_status = raw_field(
        {
            # Filter values are read as text: a number is taken as its decimal string (which
            # must fit the 30 characters too).
            "anyOf": [
                {"type": "string", "maxLength": 30, "pattern": SAFE_TEXT_PATTERN},
                {"type": "number", "minimum": -(10**29) + 1, "maximum": 10**30 - 1},
            ],
            "nullable": True,
            "description": (
                "The patient has at least one authorization with this status (case-insensitive)."
            ),
        },
        required=False,
    )
    missing_lcm = serializers.ChoiceField(
        MISSING_LCM_CHOICES,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="Patients with no oLCM (`olcm`), no iLCM (`ilcm`), or lacking either (`any`).",
    )
    authorization_expiring_within_days = _worklist_body_field("authorization_expiring_within_days")
    missing_active_authorization = _worklist_body_field("missing_active_authorization")

    class Meta:
        ref_name = "PatientFilters"


SEARCH_DESCRIPTION = (
    "Case-insensitive substring of first, last or full name, member ID or CIN. "
    "Blank means no search."
)
SORT_BY_DESCRIPTION = (
    "Sort key (default `id`); `name` sorts by last then first name, `acuity_level` by "
    "severity. Ties are broken by `id`."
)
SORT_DIR_DESCRIPTION = "`ASC` (default) or `DESC`, case-insensitive."
SORT_BY_CHOICES = [(key, key) for key in SORT_FIELDS]


class PatientFilterRequestSerializer(serializers.Serializer):
    search = raw_field(
        {
            "type": "string",
            "maxLength": MAX_SEARCH_LENGTH,
            "pattern": SAFE_TEXT_PATTERN,
            "nullable": True,
            "description": SEARCH_DESCRIPTION,
        },
        required=False,
    )
    sort_by = serializers.ChoiceField(
        SORT_BY_CHOICES,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text=SORT_BY_DESCRIPTION,
    )
    sort_dir = raw_field(
        {
            "type": "string",
            "pattern": r"^(([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc]))?$",
            "nullable": True,
            "description": SORT_DIR_DESCRIPTION,
        },
        required=False,
    )
    page = raw_field(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                {"type": "string", "pattern": r"^0*[1-9][0-9]{0,6}$"},
                EMPTY,
            ],
            "nullable": True,
            "description": "Page number (default 1); a string of digits is accepted too.",
        },
        required=False,
    )
    per_page = raw_field(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^0*[1-9][0-9]*$"},
                EMPTY,
            ],
            "nullable": True,
            "description": (
                f"Items per page (default {DEFAULT_PER_PAGE}; above {MAX_PER_PAGE} is served "
                f"as {MAX_PER_PAGE}); a string of digits is accepted too."
            ),
        },
        required=False,
    )
    filters = PatientFiltersSerializer(required=False, allow_null=True)

    class Meta:
        ref_name = "PatientFilterBody"


# --- examples (from the ECM Patients API document) --------------------------------------------

SEED_LIST_EXAMPLE = {
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
SEED_DETAIL_EXAMPLE = {
    "patient": {
        "id": 123,
        "name": "John Doe",
        "first_name": "John",
        "last_name": "Doe",
        "date_of_birth": "2010-05-15",
        "gender": "male",
        "address": {"street": "123 Main St", "city": "Los Angeles", "state": "CA", "zip": "90001"},
        "phone": "+18051234567",
        "email": "john.doe@example.com",
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
SEED_UPDATE_REQUEST = {
    "patient": {
        "ecm_eligibility_information": {
            "acuity_level": "high",
            "member_record_status": "continuing_member",
        }
    }
}
SEED_FILTER_REQUEST = {
    "search": "John",
    "filters": {"status": "new_member", "acuity_level": "high", "provider_id": 101},
    "sort_by": "created_at",
    "sort_dir": "DESC",
    "page": 1,
    "per_page": 25,
}
PATIENT_NOT_FOUND = ["Patient not found"]
MEMBER_ID_BLANK = [f"Validation failed: {ELIGIBILITY_FIELDS['member_id'].problem('')}"]


# --- parameters --------------------------------------------------------------------------------


def _query(name: str, schema: dict, description: str, **kwargs) -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description, **kwargs)


PAGE_PARAMETERS = [
    _query(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        "Page number (default 1). A page past the end is an empty list with correct totals.",
    ),
    _query(
        "per_page",
        {"type": "integer", "minimum": 1},
        f"Items per page (default {DEFAULT_PER_PAGE}); a larger value than {MAX_PER_PAGE} is "
        f"served as {MAX_PER_PAGE}.",
    ),
]
LIST_PARAMETERS = [
    *PAGE_PARAMETERS,
    _query(
        "search",
        {"type": "string", "maxLength": MAX_SEARCH_LENGTH, "pattern": SAFE_TEXT_PATTERN},
        SEARCH_DESCRIPTION,
    ),
    _query(
        "status",
        {"type": "string", "enum": list(MemberRecordStatus.values)},
        "Member record status.",
    ),
    _query("provider_id", ID_SCHEMA, "Assigned provider (user id)."),
    _query("acuity_level", {"type": "string", "enum": list(AcuityLevel.values)}, "Acuity level."),
    _query("olcm_user_id", ID_SCHEMA, "Assigned oLCM (user id)."),
    _query("ilcm_user_id", ID_SCHEMA, "Assigned iLCM (user id)."),
    _query(
        "authorization_status",
        {"type": "string", "maxLength": 30, "pattern": SAFE_TEXT_PATTERN},
        "The patient has at least one authorization with this status (case-insensitive).",
    ),
    _query(
        "missing_lcm",
        {"type": "string", "enum": [value for value, _ in MISSING_LCM_CHOICES]},
        "Patients with no oLCM (`olcm`), no iLCM (`ilcm`), or lacking either (`any`).",
    ),
    *(
        _query(name, query, description)
        for name, (query, _, description) in WORKLIST_FILTERS.items()
    ),
    _query("sort_by", {"type": "string", "enum": list(SORT_FIELDS)}, SORT_BY_DESCRIPTION),
    _query("sort_dir", {"type": "string", "pattern": SORT_DIR_PATTERN}, SORT_DIR_DESCRIPTION),
]
PATIENT_ID = OpenApiParameter(
    "patient_id",
    ID_SCHEMA,
    OpenApiParameter.PATH,
    description="Patient ID. A value that is not a positive integer is 422.",
    examples=[OpenApiExample("Patient 123", value=123)],
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

# --- operations --------------------------------------------------------------------------------

LIST_RESPONSE = OpenApiResponse(
    PatientListSerializer,
    description="A page of ECM patients.",
    examples=[OpenApiExample("Patients", value=SEED_LIST_EXAMPLE, response_only=True)],
)
DETAIL_RESPONSE = OpenApiResponse(
    PatientEnvelopeSerializer,
    description="The patient, exactly as the detail representation.",
    examples=[OpenApiExample("Patient", value=SEED_DETAIL_EXAMPLE, response_only=True)],
)

list_patients = extend_schema(
    operation_id="patients_list",
    summary="List ECM patients",
    description=(
        "A paginated list of ECM patients with their eligibility information and case load. "
        "Accepts every key of `POST /patients/filter`'s `filters` as a query parameter."
    ),
    tags=[TAG],
    parameters=LIST_PARAMETERS,
    responses={200: LIST_RESPONSE, **error_responses(422)},
)
filter_patients = extend_schema(
    operation_id="patients_filter",
    summary="Filter ECM patients",
    description="The same list as `GET /patients`, with the criteria in a JSON body.",
    tags=[TAG],
    request=PatientFilterRequestSerializer,
    examples=[OpenApiExample("Filter", value=SEED_FILTER_REQUEST, request_only=True)],
    responses={200: LIST_RESPONSE, **error_responses(422, *BODY_ERRORS)},
)
retrieve_patient = extend_schema(
    operation_id="patients_retrieve",
    summary="Get an ECM patient",
    tags=[TAG],
    parameters=[PATIENT_ID, ETAG],
    responses={200: DETAIL_RESPONSE, **error_responses(404, 422, e404=PATIENT_NOT_FOUND)},
)


def _update(method: str, summary: str):
    return extend_schema(
        methods=[method],
        operation_id=f"patients_{method.lower()}",
        summary=summary,
        description=(
            "Partial update (PUT and PATCH mean the same): only the keys present change. "
            "Read-only keys of the detail representation are accepted and ignored, so a "
            "client can send back what it read; any other key is 422. Validation failures "
            "are 422 with one sentence per problem. Returns the full detail representation."
        ),
        tags=[TAG],
        parameters=[PATIENT_ID, IF_MATCH, ETAG],
        request=PatientUpdateRequestSerializer,
        examples=[OpenApiExample("Update", value=SEED_UPDATE_REQUEST, request_only=True)],
        responses={
            200: DETAIL_RESPONSE,
            **error_responses(
                404, 412, 422, *BODY_ERRORS, e404=PATIENT_NOT_FOUND, e422=MEMBER_ID_BLANK
            ),
        },
    )


extend_schema_view(get=list_patients)(views.PatientListView)
extend_schema_view(post=filter_patients)(views.PatientFilterView)
extend_schema_view(
    get=retrieve_patient,
    put=_update("PUT", "Update an ECM patient"),
    patch=_update("PATCH", "Update an ECM patient (same as PUT)"),
)(views.PatientDetailView)
