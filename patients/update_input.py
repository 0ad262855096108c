"""The body of ``PUT``/``PATCH /patients/{id}``: it validates the request and is its schema.

``{"patient": {...}}``: only the keys present change. Each key is cleaned by the rule of the
model field it sets (``patients.rules``), which says the sentence of a bad value (after
"Validation failed: "), so the API, the imports and the admin say the same; its schema is
read from the same rule (length, format, choices). Read-only keys of the detail representation
are accepted and ignored, so a client can send back what it read; any other key is 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.inputs import BLANK, NOT_BLANK, Input, InputField
from ecm_admin.openapi import enum_schema
from ecm_admin.text import SAFE_TEXT_PATTERN
from patients.choices import AcuityLevel, Gender, MemberRecordStatus
from patients.models import EcmEligibilityInformation, Patient
from patients.rules import EARLIEST_DATE_OF_BIRTH, FieldRule, RuleError, rule

# Each writable key and the rule of the model field it sets (``patients.rules``).
PATIENT_FIELDS = {
    "first_name": rule(Patient, "first_name"),
    "last_name": rule(Patient, "last_name"),
    "date_of_birth": rule(Patient, "date_of_birth"),
    "gender": rule(Patient, "gender"),
    "phone": rule(Patient, "phone"),
    "email": rule(Patient, "email"),
}
ADDRESS_FIELDS = {
    "street": rule(Patient, "street"),
    "city": rule(Patient, "city"),
    "state": rule(Patient, "state"),
    "zip": rule(Patient, "zip_code"),
}
ELIGIBILITY_FIELDS = {
    key: rule(EcmEligibilityInformation, key)
    for key in (
        "member_id",
        "cin",
        "ecm_service_auth_id",
        "ecm_provider_name",
        "ecm_npi",
        "ecm_benefit_auth_eff_date",
        "ecm_benefit_auth_end_date",
        "acuity_level",
        "member_record_status",
    )
}
CLEARS = "blank or `null` clears it."
IGNORED = "Read-only key of the detail representation: accepted and ignored."


def _text(rule: FieldRule, description: str = "") -> dict[str, Any]:
    """A text key: blank or ``null`` clears it, unless it is required (then not blank)."""
    schema: dict[str, Any] = {
        "type": "string",
        "maxLength": rule.max_length,
        "pattern": NOT_BLANK if rule.required else SAFE_TEXT_PATTERN,
    }
    if not rule.required:
        schema["nullable"] = True
    if description:
        schema["description"] = description
    return schema


def _formatted(rule: FieldRule, description: str, max_length: int = 0) -> dict[str, Any]:
    """A key of a format (``patients.rules``): its pattern, or blank (which clears it)."""
    description = description if description.endswith(".") else f"{description}; {CLEARS}"
    schema: dict[str, Any] = {"type": "string"}
    if max_length:
        schema["maxLength"] = max_length
    schema.update({"pattern": rf"^({rule.format.pattern})?$", "nullable": True})
    schema["description"] = description
    return schema


def _date(description: str) -> dict[str, Any]:
    return {
        "anyOf": [{"type": "string", "format": "date"}, BLANK],
        "nullable": True,
        "description": f"{description} (YYYY-MM-DD); {CLEARS}",
    }


class RuleField(InputField):
    """A key of the update body, cleaned by the rule of the model field it sets: the value to
    store, or the rule's sentence. ``null`` and blank are the rule's too: they clear an optional
    field, a required one "can't be blank"."""

    def __init__(self, rule: FieldRule, schema: dict[str, Any], **kwargs: Any):
        self.rule, self.schema = rule, schema
        super().__init__(**kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if data is empty:
            raise SkipField()
        try:
            return self.rule.clean(data)
        except RuleError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def openapi_schema(self) -> dict[str, Any]:
        return dict(self.schema)


class IgnoredField(InputField):
    """A read-only key of the detail representation: accepted and ignored, so that a client
    can send back what it read."""

    def run_validation(self, data: Any = empty) -> Any:
        raise SkipField()

    def openapi_schema(self) -> dict[str, Any]:
        return {"description": IGNORED}


class UpdateObject(Input):
    """An object of the update body: ``null`` is not one either."""

    def run_validation(self, data: Any = empty) -> dict[str, Any]:
        if data is empty:
            if self.required:
                raise serializers.ValidationError([f"{self.field_name} is required"])
            raise SkipField()
        return self.validate(self.to_internal_value(data))


class AddressUpdate(UpdateObject):
    where = "address"
    not_an_object = "address must be an object"

    street = RuleField(ADDRESS_FIELDS["street"], _text(ADDRESS_FIELDS["street"]))
    city = RuleField(ADDRESS_FIELDS["city"], _text(ADDRESS_FIELDS["city"]))
    state = RuleField(
        ADDRESS_FIELDS["state"], _formatted(ADDRESS_FIELDS["state"], "Two-letter state code")
    )
    zip = RuleField(
        ADDRESS_FIELDS["zip"], _formatted(ADDRESS_FIELDS["zip"], "5-digit ZIP code or ZIP+4")
    )

    class Meta:
        ref_name = "AddressUpdate"


def _eligibility(key: str, schema: dict[str, Any]) -> RuleField:
    return RuleField(ELIGIBILITY_FIELDS[key], schema)


class EcmEligibilityInformationUpdate(UpdateObject):
    where = "ecm_eligibility_information"
    not_an_object = "ecm_eligibility_information must be an object"

    member_id = _eligibility("member_id", _text(ELIGIBILITY_FIELDS["member_id"], "Unique."))
    cin = _eligibility(
        "cin", _formatted(ELIGIBILITY_FIELDS["cin"], "Medi-Cal CIN: 9 letters or digits")
    )
    ecm_service_auth_id = _eligibility(
        "ecm_service_auth_id", _text(ELIGIBILITY_FIELDS["ecm_service_auth_id"])
    )
    ecm_provider_name = _eligibility(
        "ecm_provider_name", _text(ELIGIBILITY_FIELDS["ecm_provider_name"])
    )
    ecm_npi = _eligibility(
        "ecm_npi",
        _formatted(
            ELIGIBILITY_FIELDS["ecm_npi"],
            "10-digit NPI whose last digit is the Luhn check digit of the nine before it "
            "(with the 80840 prefix); otherwise 422. Blank or `null` clears it.",
        ),
    )
    ecm_benefit_auth_eff_date = _eligibility(
        "ecm_benefit_auth_eff_date", _date("ECM benefit authorization effective date")
    )
    ecm_benefit_auth_end_date = _eligibility(
        "ecm_benefit_auth_end_date",
        _date("ECM benefit authorization end date; not before the effective date (else 422)"),
    )
    acuity_level = _eligibility(
        "acuity_level",
        enum_schema(AcuityLevel.choices, "Blank or `null` clears it.", blank_and_null=True),
    )
    member_record_status = _eligibility(
        "member_record_status",
        enum_schema(
            MemberRecordStatus.choices,
            "A change appends one `ecm_status_history` entry and one activity; an unchanged "
            "status appends nothing.",
        ),
    )
    id = IgnoredField()
    created_at = IgnoredField()
    updated_at = IgnoredField()

    class Meta:
        ref_name = "EcmEligibilityInformationUpdate"


def _patient(key: str, schema: dict[str, Any]) -> RuleField:
    return RuleField(PATIENT_FIELDS[key], schema)


class PatientUpdate(UpdateObject):
    where = "patient"
    not_an_object = "patient must be an object"

    first_name = _patient("first_name", _text(PATIENT_FIELDS["first_name"]))
    last_name = _patient("last_name", _text(PATIENT_FIELDS["last_name"]))
    date_of_birth = _patient(
        "date_of_birth",
        _date(f"Date of birth; from {EARLIEST_DATE_OF_BIRTH.isoformat()} to today (else 422)"),
    )
    gender = _patient(
        "gender", enum_schema(Gender.choices, "Blank or `null` clears it.", blank_and_null=True)
    )
    phone = _patient(
        "phone",
        _formatted(
            PATIENT_FIELDS["phone"],
            "Digits, spaces and `+().-`",
            max_length=PATIENT_FIELDS["phone"].max_length,
        ),
    )
    email = _patient(
        "email",
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
            "description": f"A valid email address; {CLEARS}",
        },
    )
    address = AddressUpdate(required=False)
    ecm_eligibility_information = EcmEligibilityInformationUpdate(required=False)
    id = IgnoredField()
    name = IgnoredField()
    services = IgnoredField()
    case_load = IgnoredField()
    ecm_authorizations = IgnoredField()
    ecm_status_history = IgnoredField()
    activities_count = IgnoredField()
    last_activity_at = IgnoredField()
    created_at = IgnoredField()
    updated_at = IgnoredField()

    class Meta:
        ref_name = "PatientUpdate"


class PatientUpdateInput(UpdateObject):
    """``PUT``/``PATCH /patients/{id}``: ``{"patient": {...}}``, only the keys present change.
    Every problem is a sentence after "Validation failed: "."""

    not_an_object = "request body must be a JSON object"

    patient = PatientUpdate(
        required=True, help_text="Only the keys present change; any key not listed here is 422."
    )

    class Meta:
        ref_name = "PatientUpdateBody"

    @classmethod
    def parse(cls, data: Any) -> dict[str, Any]:
        try:
            return super().parse(data)
        except UnprocessableEntity as exc:
            sentences = [f"Validation failed: {sentence}" for sentence in exc.errors]
            raise UnprocessableEntity(sentences) from None


@dataclass
class PatientChanges:
    """Cleaned values to write, keyed by model attribute."""

    patient: dict[str, Any]
    eligibility: dict[str, Any]


def patient_changes(values: dict[str, Any]) -> PatientChanges:
    """A parsed ``PatientUpdateInput`` as the values ``patients.services.patient_update``
    writes."""
    data = values["patient"]
    patient = {PATIENT_FIELDS[key].attr: data[key] for key in PATIENT_FIELDS if key in data}
    address = data.get("address") or {}
    patient.update({ADDRESS_FIELDS[key].attr: value for key, value in address.items()})
    eligibility = data.get("ecm_eligibility_information") or {}
    return PatientChanges(
        patient=patient,
        eligibility={ELIGIBILITY_FIELDS[key].attr: value for key, value in eligibility.items()},
    )
