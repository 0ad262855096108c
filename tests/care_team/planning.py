"""What the care-team planning route tests share: the routes, Lead Care Managers with a
capacity, patients with an acuity, a status and a care team."""

from care_team.models import CaseLoad, LeadCareManagerProfile
from patients.choices import MemberRecordStatus
from tests import factories
from tests.care_team.conftest import BASE, LCMS_URL

WORKLOAD_URL = f"{LCMS_URL}/workload"
AUTO_ASSIGN_URL = f"{LCMS_URL}/auto_assign"


def lcm_url(user_id) -> str:
    return f"{LCMS_URL}/{user_id}"


def history_url(patient_id) -> str:
    return f"{BASE}/patients/{patient_id}/lead_care_managers/history"


def lcm(first_name: str, capacity: int | None = None, *, accepting: bool = True, **fields):
    """An active Lead Care Manager; without ``capacity`` and accepting, no profile row (the
    defaults)."""
    user = factories.lcm_user(
        first_name=first_name,
        last_name=fields.pop("last_name", "Lcm"),
        email=fields.pop("email", f"{first_name.lower()}@example.org"),
        **fields,
    )
    if capacity is not None or not accepting:
        LeadCareManagerProfile.objects.create(
            user=user, capacity=capacity, accepting_patients=accepting
        )
    return user


def patient(acuity: str = "medium", status: str = MemberRecordStatus.NEW, **care_team):
    """An ECM patient; with ``olcm=`` / ``ilcm=`` (users), its case load."""
    created = factories.ecm_patient(acuity_level=acuity, member_record_status=status)
    if care_team:
        CaseLoad.objects.create(patient=created, **care_team)
    return created


def care_team(patient_id: int) -> tuple[int | None, int | None]:
    case_load = CaseLoad.objects.filter(patient_id=patient_id).first()
    return (None, None) if case_load is None else (case_load.olcm_id, case_load.ilcm_id)
