"""Patient representations (output) exactly as the ECM Patients API shows them.

Renderers read only the rows ``patients.selectors`` returns (dicts keyed by column, such as
``"p.first_name"``); they never query. Blank optional values are rendered as ``null``.
"""

from dataclasses import dataclass
from typing import Any

from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.formats import full_name, iso_date, iso_timestamp
from patients.models import EcmEligibilityInformation, Patient
from patients.rules import FieldRule, RuleError, rule


def _blank_to_none(value: str | None) -> str | None:
    return value or None


def eligibility_summary(row: dict) -> dict[str, Any]:
    return {
        "id": row["e.id"],
        "member_id": row["e.member_id"],
        "cin": _blank_to_none(row["e.cin"]),
        "ecm_service_auth_id": _blank_to_none(row["e.ecm_service_auth_id"]),
        "ecm_provider_name": _blank_to_none(row["e.ecm_provider_name"]),
        "ecm_benefit_auth_eff_date": iso_date(row["e.ecm_benefit_auth_eff_date"]),
        "ecm_benefit_auth_end_date": iso_date(row["e.ecm_benefit_auth_end_date"]),
        "acuity_level": _blank_to_none(row["e.acuity_level"]),
        "member_record_status": row["e.member_record_status"],
    }


def eligibility_detail(row: dict) -> dict[str, Any]:
    return {
        **eligibility_summary(row),
        "ecm_npi": _blank_to_none(row["e.ecm_npi"]),
        "created_at": iso_timestamp(row["e.created_at"]),
        "updated_at": iso_timestamp(row["e.updated_at"]),
    }


def case_load_summary(row: dict) -> dict[str, Any] | None:
    """The care team's ids and names, or ``None`` when the patient has no case load."""
    if row["c.id"] is None:
        return None
    return {
        "provider_id": row["c.provider_id"],
        "provider_name": full_name(row["pu.first_name"], row["pu.last_name"]),
        "olcm_user_id": row["c.olcm_id"],
        "olcm_name": full_name(row["ou.first_name"], row["ou.last_name"]),
        "ilcm_user_id": row["c.ilcm_id"],
        "ilcm_name": full_name(row["iu.first_name"], row["iu.last_name"]),
    }


def patient_list_item(row: dict) -> dict[str, Any]:
    """A row of ``selectors.patient_rows``."""
    return {
        "id": row["p.id"],
        "name": full_name(row["p.first_name"], row["p.last_name"]),
        "date_of_birth": iso_date(row["p.date_of_birth"]),
        "ecm_eligibility_information": eligibility_summary(row),
        "case_load": case_load_summary(row),
    }


def patient_detail(row: dict) -> dict[str, Any]:
    """What ``selectors.patient_detail`` returns."""
    case_load = case_load_summary(row)
    if case_load is not None:
        case_load = {"id": row["c.id"], **case_load}
    return {
        "id": row["p.id"],
        "name": full_name(row["p.first_name"], row["p.last_name"]),
        "first_name": row["p.first_name"],
        "last_name": row["p.last_name"],
        "date_of_birth": iso_date(row["p.date_of_birth"]),
        "gender": _blank_to_none(row["p.gender"]),
        "address": {
            "street": _blank_to_none(row["p.street"]),
            "city": _blank_to_none(row["p.city"]),
            "state": _blank_to_none(row["p.state"]),
            "zip": _blank_to_none(row["p.zip_code"]),
        },
        "phone": _blank_to_none(row["p.phone"]),
        "email": _blank_to_none(row["p.email"]),
        "services": list(row["p.services"] or []),
        "ecm_eligibility_information": eligibility_detail(row),
        "case_load": case_load,
        "ecm_authorizations": [
            {
                "id": auth["a.id"],
                "auth_no": auth["a.auth_no"],
                "auth_type": _blank_to_none(auth["a.auth_type"]),
                "authorization_type": _blank_to_none(auth["a.authorization_type"]),
                "status": _blank_to_none(auth["a.status"]),
                "start_date": iso_date(auth["a.start_date"]),
                "expiration_date": iso_date(auth["a.expiration_date"]),
            }
            for auth in row["ecm_authorizations"]
        ],
        "ecm_status_history": [
            {
                "id": entry["h.id"],
                "status": entry["h.status"],
                "changed_at": iso_timestamp(entry["h.changed_at"]),
                "changed_by": entry["h.changed_by"],
            }
            for entry in row["ecm_status_history"]
        ],
        "activities_count": row["activities_count"],
        "last_activity_at": iso_timestamp(row["last_activity_at"]),
    }


# --- input: the body of PUT/PATCH /patients/{id} --------------------------------

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
# Keys of the detail representation that are read-only: accepted and ignored, so a client
# can send back what it read.
PATIENT_READ_ONLY = frozenset(
    {
        "id",
        "name",
        "services",
        "case_load",
        "ecm_authorizations",
        "ecm_status_history",
        "activities_count",
        "last_activity_at",
        "created_at",
        "updated_at",
    }
)
ELIGIBILITY_READ_ONLY = frozenset({"id", "created_at", "updated_at"})


@dataclass
class PatientChanges:
    """Cleaned values to write, keyed by model attribute."""

    patient: dict[str, Any]
    eligibility: dict[str, Any]


def _clean_object(
    data: Any, fields: dict[str, FieldRule], read_only: frozenset, where: str, errors: list[str]
) -> dict[str, Any]:
    if not isinstance(data, dict):
        errors.append(f"{where} must be an object")
        return {}
    unknown = sorted(str(key) for key in data if key not in fields and key not in read_only)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        errors.append(f"Unknown key{plural} in {where}: {', '.join(unknown)}")
    cleaned = {}
    for key, field in fields.items():
        if key in data:
            try:
                cleaned[field.attr] = field.clean(data[key])
            except RuleError as exc:
                errors.append(str(exc))
    return cleaned


def parse_patient_update(body: Any) -> PatientChanges:
    """Validate ``{"patient": {...}}``; 422 with one sentence per problem."""
    if not isinstance(body, dict):
        raise UnprocessableEntity("Validation failed: request body must be a JSON object")
    if "patient" not in body:
        raise UnprocessableEntity("Validation failed: patient is required")
    unknown_top = sorted(str(key) for key in body if key != "patient")
    errors: list[str] = []
    if unknown_top:
        errors.append(f"Unknown key{'s' if len(unknown_top) > 1 else ''}: {', '.join(unknown_top)}")
    data = body["patient"]
    patient = _clean_object(
        data,
        PATIENT_FIELDS,
        PATIENT_READ_ONLY | {"address", "ecm_eligibility_information"},
        "patient",
        errors,
    )
    eligibility: dict[str, Any] = {}
    if isinstance(data, dict):
        if "address" in data:
            patient.update(
                _clean_object(data["address"], ADDRESS_FIELDS, frozenset(), "address", errors)
            )
        if "ecm_eligibility_information" in data:
            eligibility = _clean_object(
                data["ecm_eligibility_information"],
                ELIGIBILITY_FIELDS,
                ELIGIBILITY_READ_ONLY,
                "ecm_eligibility_information",
                errors,
            )
    if errors:
        raise UnprocessableEntity([f"Validation failed: {error}" for error in errors])
    return PatientChanges(patient=patient, eligibility=eligibility)
