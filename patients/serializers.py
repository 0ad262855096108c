"""Patient representations exactly as the ECM Patients API shows them: each shape declared
once (a ``TypedDict``, which the OpenAPI document is built from) and rendered by a function.

Renderers read only the rows ``patients.selectors`` returns (dicts keyed by column, such as
``"p.first_name"``); they never query. Blank optional values are rendered as ``null``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, TypedDict

from ecm_admin.formats import full_name, iso_date, iso_timestamp
from ecm_admin.pagination import Pagination
from ecm_admin.shapes import Spec
from patients.choices import AcuityLevel, Gender, MemberRecordStatus

# --- shapes --------------------------------------------------------------------


class EcmEligibilitySummary(TypedDict):
    id: int
    member_id: str
    cin: str | None
    ecm_service_auth_id: str | None
    ecm_provider_name: str | None
    ecm_benefit_auth_eff_date: dt.date | None
    ecm_benefit_auth_end_date: dt.date | None
    acuity_level: AcuityLevel | None
    member_record_status: MemberRecordStatus


class EcmEligibilityInformation(EcmEligibilitySummary):
    ecm_npi: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PatientCaseLoadSummary(TypedDict):
    provider_id: int | None
    provider_name: str | None
    olcm_user_id: int | None
    olcm_name: str | None
    ilcm_user_id: int | None
    ilcm_name: str | None


class PatientCaseLoad(PatientCaseLoadSummary):
    id: int


NO_CASE_LOAD = "`null` when the patient has no case load."


class PatientListItem(TypedDict):
    id: int
    name: str
    date_of_birth: dt.date | None
    ecm_eligibility_information: EcmEligibilitySummary
    case_load: Annotated[PatientCaseLoadSummary | None, Spec(NO_CASE_LOAD)]


class PatientList(TypedDict):
    patients: list[PatientListItem]
    pagination: Pagination


class Address(TypedDict):
    street: str | None
    city: str | None
    state: str | None
    zip: str | None


class EcmAuthorization(TypedDict):
    id: int
    auth_no: str
    auth_type: str | None
    authorization_type: str | None
    status: str | None
    start_date: dt.date | None
    expiration_date: dt.date | None


class EcmStatusHistoryEntry(TypedDict):
    id: int
    status: MemberRecordStatus
    changed_at: dt.datetime
    changed_by: str


class PatientDetail(TypedDict):
    id: int
    name: str
    first_name: str
    last_name: str
    date_of_birth: dt.date | None
    gender: Gender | None
    address: Address
    phone: str | None
    email: str | None
    services: list[str]
    ecm_eligibility_information: EcmEligibilityInformation
    case_load: Annotated[PatientCaseLoad | None, Spec(NO_CASE_LOAD)]
    ecm_authorizations: Annotated[list[EcmAuthorization], Spec("Newest `start_date` first.")]
    ecm_status_history: Annotated[list[EcmStatusHistoryEntry], Spec("Newest `changed_at` first.")]
    activities_count: Annotated[int, Spec(minimum=0)]
    last_activity_at: Annotated[
        dt.datetime | None, Spec("`null` when the patient has no activity.")
    ]


class PatientEnvelope(TypedDict):
    patient: PatientDetail


# --- renderers -----------------------------------------------------------------


def _blank_to_none(value: str | None) -> str | None:
    return value or None


def eligibility_summary(row: dict) -> EcmEligibilitySummary:
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


def eligibility_detail(row: dict) -> EcmEligibilityInformation:
    return {
        **eligibility_summary(row),
        "ecm_npi": _blank_to_none(row["e.ecm_npi"]),
        "created_at": iso_timestamp(row["e.created_at"]),
        "updated_at": iso_timestamp(row["e.updated_at"]),
    }


def case_load_summary(row: dict) -> PatientCaseLoadSummary | None:
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


def patient_list_item(row: dict) -> PatientListItem:
    """A row of ``selectors.patient_rows``."""
    return {
        "id": row["p.id"],
        "name": full_name(row["p.first_name"], row["p.last_name"]),
        "date_of_birth": iso_date(row["p.date_of_birth"]),
        "ecm_eligibility_information": eligibility_summary(row),
        "case_load": case_load_summary(row),
    }


def patient_detail(row: dict) -> PatientDetail:
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
