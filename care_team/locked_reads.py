"""The reads of the care-team write core (``care_team.services``): lock the ECM patients a
write names, then read their case loads and the users those hold or the write names, each in
one query, under those locks."""

from __future__ import annotations

from accounts.choices import RoleName
from accounts.models import User, holds_role
from care_team.models import CaseLoad
from patients.models import Patient
from patients.selectors import ecm_patients

# The case load's user columns, one per role.
CASE_LOAD_USERS = ("provider", "olcm", "ilcm")


def lock_ecm_patients(patient_ids: set[int], *, load: bool = True) -> dict[int, Patient | None]:
    """Lock the ECM patients among ``patient_ids``; every care-team writer takes these locks.

    The case loads are read by a later statement, so a writer that waited for a lock sees what
    the previous one committed (in READ COMMITTED each statement takes a fresh snapshot).
    Without ``load`` the patients are locked but not loaded (their ids map to ``None``).
    """
    if not patient_ids:
        return {}
    rows = (
        ecm_patients()
        .filter(pk__any_of=sorted(patient_ids))
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    if not load:
        return dict.fromkeys(rows.values_list("pk", flat=True))
    return {patient.pk: patient for patient in rows.only("id", "first_name", "last_name")}


def case_loads_by_patient(
    patients: dict[int, Patient | None], *, stamps: bool = True
) -> dict[int, CaseLoad]:
    """The patients' case loads, without their users (``attach_users`` adds those).

    Without ``stamps``, the time stamps (``created_at``, ``updated_at``, ``*_assigned_at``)
    are left unread.
    """
    if not patients:
        return {}
    rows = CaseLoad.objects.filter(patient_id__any_of=list(patients))
    if not stamps:
        rows = rows.only("id", "patient", *CASE_LOAD_USERS)
    case_loads = {}
    for case_load in rows:
        if (patient := patients[case_load.patient_id]) is not None:
            case_load.patient = patient
        case_loads[case_load.patient_id] = case_load
    return case_loads


def attach_users(case_load: CaseLoad, users: dict[int, User]) -> None:
    """Fill the case load's provider, oLCM and iLCM from ``users`` (as ``select_related``)."""
    for role in CASE_LOAD_USERS:
        user_id = getattr(case_load, f"{role}_id")
        if user_id is not None:
            CaseLoad._meta.get_field(role).set_cached_value(case_load, users[user_id])


def users_with_roles(user_ids: set[int]) -> dict[int, User]:
    if not user_ids:
        return {}

    rows = (
        User.objects.filter(pk__any_of=list(user_ids))
        .only("id", "email", "first_name", "last_name", "is_active")
        .annotate(is_lcm=holds_role(RoleName.ECM), is_provider=holds_role(RoleName.PROVIDER))
    )
    return {user.pk: user for user in rows}
