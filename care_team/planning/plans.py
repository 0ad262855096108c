"""Plans of care-team changes: what the planner is given, and how a plan is written.

``care_team.planning.planner`` decides (a pure function); this module reads its inputs from
the database (the LCMs with their capacity and weighted load, the patients to place or
move) and applies a plan through the care-team write core (``care_team.services``), so every
move records the same history (with the reason), activity and audit event as a manual
assignment.

A plan is applied as it was shown: each patient's moves go in one item whose precondition is
the care team the plan was made from; a patient whose oLCM or iLCM changed since is skipped
and reported ("Care team changed since the plan was made"), nothing else fails because of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from django.conf import settings
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from care_team.planning import planner
from care_team.planning.planner import ILCM, OLCM, Lcm, Move, Patient, Plan
from care_team.planning.workload import (
    ACUITIES,
    COUNTED_STATUSES,
    UNKNOWN,
    Counts,
    Workload,
    acuity_weights,
    counted_patients,
    workloads,
)
from care_team.selectors import active_lcms
from care_team.services import (
    MAX_BULK_ITEMS,
    Assignment,
    BulkResult,
    care_team_bulk_assign,
)
from patients.selectors import ecm_patients


@dataclass(frozen=True)
class LcmRow:
    """An active Lead Care Manager with their planning settings (defaults applied)."""

    id: int
    first_name: str
    last_name: str
    email: str
    capacity: int
    accepting: bool

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def lead_care_manager_rows(users: QuerySet | None = None) -> list[LcmRow]:
    """Every active LCM (or those of ``users``), by id, with capacity and accepting."""
    users = active_lcms() if users is None else users
    default = settings.LCM_DEFAULT_CAPACITY
    rows = users.order_by("id").values_list(
        "id",
        "first_name",
        "last_name",
        "email",
        "lead_care_manager_profile__capacity",
        "lead_care_manager_profile__accepting_patients",
    )
    return [
        LcmRow(
            pk,
            first,
            last,
            email,
            capacity=default if capacity is None else capacity,
            accepting=accepting is not False,  # no profile row: the defaults
        )
        for pk, first, last, email, capacity, accepting in rows
    ]


def current_workloads(rows: Sequence[LcmRow], counts: Counts | None = None) -> dict[int, Workload]:
    """Each LCM's workload, from ``counts`` (read when not given)."""
    counts = counted_patients() if counts is None else counts
    return workloads(((row.id, row.capacity, row.accepting) for row in rows), counts)


def planner_lcms(
    rows: Sequence[LcmRow], loads: Mapping[int, Workload], *, receivers: set[int] | None = None
) -> list[Lcm]:
    """The LCMs as the planner takes them; only ``receivers`` (when given) receive."""
    weights = acuity_weights()
    return [
        Lcm(
            id=row.id,
            capacity=row.capacity,
            load=loads[row.id].weighted_load(weights),
            accepting=row.accepting,
            receives=receivers is None or row.id in receivers,
        )
        for row in rows
    ]


def rules(**overrides) -> planner.Rules:
    base = {
        "distinct_roles": settings.CARE_TEAM_DISTINCT_ROLES,
        "cooldown": dt.timedelta(days=settings.REASSIGN_COOLDOWN_DAYS),
        "now": timezone.now(),
    }
    return planner.Rules(**{**base, **overrides})


# --- patients -------------------------------------------------------------------------------

_FIELDS = (
    "id",
    "ecm_eligibility_information__acuity_level",
    "case_load__olcm_id",
    "case_load__ilcm_id",
    "case_load__olcm_assigned_at",
    "case_load__ilcm_assigned_at",
)


def _patients(rows: Iterable[tuple], *, stamps: bool = True) -> list[Patient]:
    """Planner patients from rows of ``_FIELDS`` (without ``stamps``: its first four)."""
    weights = acuity_weights()
    if not stamps:
        return [
            Patient(id=pk, weight=weights[acuity or UNKNOWN], olcm=olcm, ilcm=ilcm)
            for pk, acuity, olcm, ilcm in rows
        ]
    return [
        Patient(
            id=pk,
            weight=weights[acuity or UNKNOWN],
            olcm=olcm,
            ilcm=ilcm,
            olcm_assigned_at=olcm_at,
            ilcm_assigned_at=ilcm_at,
        )
        for pk, acuity, olcm, ilcm, olcm_at, ilcm_at in rows
    ]


def counted(patients: QuerySet | None = None) -> QuerySet:
    """ECM patients whose record status counts toward a caseload."""
    patients = ecm_patients() if patients is None else patients
    return patients.filter(
        ecm_eligibility_information__member_record_status__in=list(COUNTED_STATUSES)
    )


def patients_missing(
    roles: Sequence[str],
    patients: QuerySet | None = None,
    *,
    limit: int | None = None,
    counts: Counts | None = None,
) -> tuple[list[Patient], int]:
    """Counted patients (of ``patients``, e.g. a filtered list; None: every ECM patient)
    lacking any of ``roles``, and how many there are. With ``limit``, only the first
    ``limit`` a fill places (the heaviest, then by id): a call that plans 1,000 patients does
    not read the hundred thousand waiting behind them, and, given the workload ``counts`` of
    every patient, one role's total is read from them instead of counted."""
    missing = Q()
    for role in roles:
        missing |= Q(case_load__isnull=True) | Q(**{f"case_load__{role}__isnull": True})
    rows = counted(patients).filter(missing)
    # A fill never reads when a role was set (a rebalance reads its candidates apart): the
    # time stamps are left out, which spares parsing one or two per waiting patient.
    if limit is None:
        found = _patients(rows.order_by().values_list(*_FIELDS[:4]), stamps=False)
        return found, len(found)
    waiting = None
    if patients is None and counts is not None and len(roles) == 1:
        waiting = {
            acuity: count
            for (holder, role, acuity), count in counts.items()
            if holder is None and role == roles[0]
        }
    # Heaviest first: one query per weight, each in id order up to what is still wanted (an
    # index walk that stops there), skipping the weights nobody waits in.
    found: list[tuple] = []
    for acuities in _by_weight():
        wanted = limit - len(found)
        if wanted <= 0:
            break
        if waiting is not None and not any(waiting.get(acuity) for acuity in acuities):
            continue
        group = rows.filter(_acuity_in(acuities)).order_by("pk").values_list(*_FIELDS[:4])
        found.extend(group[:wanted])
    total = sum(waiting.values()) if waiting is not None else rows.count()
    # Counted at another instant than the patients were read: assignments made in between
    # may leave it below what was read, never below that.
    return _patients(found, stamps=False), max(total, len(found))


def _by_weight() -> list[list[str]]:
    """The acuities (``ACUITIES``) grouped by weight, heaviest first."""
    groups: dict[int, list[str]] = {}
    for acuity, weight in acuity_weights().items():
        groups.setdefault(weight, []).append(acuity)
    return [groups[weight] for weight in sorted(groups, reverse=True)]


def _acuity_in(acuities: Sequence[str]) -> Q:
    """Eligibility acuity among ``acuities`` (``unknown``: none of the known levels)."""
    level = "ecm_eligibility_information__acuity_level"
    condition = Q(**{f"{level}__in": [acuity for acuity in acuities if acuity != UNKNOWN]})
    if UNKNOWN in acuities:
        condition |= ~Q(**{f"{level}__in": list(ACUITIES[:3])})
    return condition


def patients_of(user_id: int, roles: Sequence[str], *, only_counted: bool = False) -> list[Patient]:
    """The patients whose oLCM or iLCM (of ``roles``) is ``user_id``."""
    held = Q()
    for role in roles:
        held |= Q(**{f"case_load__{role}_id": user_id})
    patients = counted() if only_counted else ecm_patients()
    return _patients(patients.filter(held).order_by().values_list(*_FIELDS))


# --- applying --------------------------------------------------------------------------------


def assignments(plan: Plan, *, reason: str) -> list[Assignment]:
    """One item per patient with moves, in the order of its first move: the new holders,
    and as precondition the holders the plan moved them from."""
    by_patient: dict[int, dict[str, Move]] = {}
    for move in plan.moves:
        by_patient.setdefault(move.patient_id, {})[move.role] = move
    items = []
    for patient_id, moves in by_patient.items():
        expected = tuple((role, move.from_user_id) for role, move in sorted(moves.items()))
        items.append(
            Assignment(
                patient_id=patient_id,
                olcm_user_id=moves[OLCM].to_user_id if OLCM in moves else None,
                ilcm_user_id=moves[ILCM].to_user_id if ILCM in moves else None,
                reason=reason,
                expected=expected,
            )
        )
    return items


def apply_plan(
    plan: Plan, *, actor, reason: str, default_actor_name: str = "Care-team planning"
) -> tuple[list[Assignment], BulkResult]:
    """Write the plan through the care-team write core, ``MAX_BULK_ITEMS`` patients per
    transaction; returns the items and their results (in the same order)."""
    items = assignments(plan, reason=reason)
    errors: list[list[str]] = []
    invalid = 0
    for start in range(0, len(items), MAX_BULK_ITEMS):
        result = care_team_bulk_assign(
            assignments=items[start : start + MAX_BULK_ITEMS],
            actor=actor,
            default_actor_name=default_actor_name,
        )
        errors.extend(result.errors)
        invalid += result.invalid_count
    return items, BulkResult(errors=errors, invalid_count=invalid, written=True)


def _rebalance_candidates(
    patients: QuerySet, donors: Sequence[int], role: str, per_donor: int
) -> dict[int, list[Patient]]:
    """For each donor, at most ``per_donor`` of its counted patients (among ``patients``) in
    ``role``, the most recently assigned first among those past the cooldown: one query."""
    if not donors:
        return {}
    cutoff = timezone.now() - dt.timedelta(days=settings.REASSIGN_COOLDOWN_DAYS)
    holder, assigned = f"case_load__{role}_id", f"case_load__{role}_assigned_at"
    rows = (
        counted(patients)
        .filter(**{f"{holder}__in": list(donors), f"{assigned}__lte": cutoff})
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F(holder)], order_by=[F(assigned).desc(), F("id").desc()]
            )
        )
        .filter(rank__lte=per_donor)
        .order_by()
        .values_list(*_FIELDS)
    )
    out: dict[int, list[Patient]] = {}
    for patient in _patients(rows):
        out.setdefault(patient.holder(role), []).append(patient)
    return out


def _donors(lcms: Sequence[Lcm], plan: Plan) -> list[int]:
    """The LCMs a rebalance may take from: accepting, with a capacity, above the mean
    utilization after ``plan``'s moves (the candidates of the others are never read)."""
    after = {lcm_id: utilization for lcm_id, _, utilization in plan.after.loads}
    balanced = [lcm for lcm in lcms if lcm.accepting and lcm.capacity > 0]
    if not balanced:
        return []
    mean = sum((after[lcm.id] for lcm in balanced), Fraction(0)) / len(balanced)
    return [lcm.id for lcm in balanced if after[lcm.id] > mean]


def plan_auto_assign(
    *,
    roles: Sequence[str],
    mode: str,
    patients: QuerySet | None,
    receivers: set[int] | None,
    max_moves: int,
    tolerance: Fraction,
    limit: int | None,
) -> Plan:
    """A fill of the counted ``patients`` (None: every ECM patient) missing ``roles`` (at most
    ``limit``), then with ``mode="rebalance"`` at most ``max_moves`` moves between LCMs, role
    by role."""
    rows = lead_care_manager_rows()
    counts = counted_patients()
    lcms = planner_lcms(rows, current_workloads(rows, counts), receivers=receivers)
    the_rules = rules(max_moves=max_moves, tolerance=tolerance)
    waiting, total = patients_missing(roles, patients, limit=limit, counts=counts)
    plan = planner.plan_fill(waiting, lcms, roles=roles, rules=the_rules, limit=limit)
    plan.remaining_count += total - len(waiting)
    if mode != "rebalance":
        return plan
    patients = ecm_patients() if patients is None else patients
    for role in roles:
        budget = max_moves - sum(1 for move in plan.moves if move.from_user_id is not None)
        if budget <= 0:
            break
        candidates = _rebalance_candidates(patients, _donors(lcms, plan), role, budget)
        plan = planner.plan_rebalance(
            candidates, lcms, role=role, rules=replace(the_rules, max_moves=budget), plan=plan
        )
    return plan
