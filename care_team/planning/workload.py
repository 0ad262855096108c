"""Lead Care Managers' workload: counted patients by holder, role and acuity, weighted.

A patient counts toward a caseload while its member record status is new, continuing or
pending (``COUNTED_STATUSES``); its weight is by acuity (``ACUITY_WEIGHTS``). An LCM's weighted
load is the sum of the weights of the counted patients they hold as oLCM plus those they hold
as iLCM; utilization is load / capacity (``None`` when the capacity is 0).

The counts come from ``care_team_workloadcount`` on PostgreSQL (kept by triggers, migration
0007: one small indexed sum instead of joining a million case loads to their eligibility),
and from the case loads and eligibility rows themselves elsewhere (SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db import connection

from care_team.planning.planner import ILCM, OLCM, ROLES
from patients.choices import AcuityLevel, MemberRecordStatus

COUNTED_STATUSES = (
    MemberRecordStatus.NEW,
    MemberRecordStatus.CONTINUING,
    MemberRecordStatus.PENDING,
)
UNKNOWN = "unknown"
ACUITIES = (AcuityLevel.LOW.value, AcuityLevel.MEDIUM.value, AcuityLevel.HIGH.value, UNKNOWN)

# (holder or None, role, acuity: "low", "medium", "high" or "unknown") → counted patients
Counts = dict[tuple[int | None, str, str], int]

_STORED = """
    SELECT user_id, role, acuity, sum(patients) FROM care_team_workloadcount
    GROUP BY user_id, role, acuity HAVING sum(patients) <> 0
"""
# The same counts from the rows themselves: every counted patient once per role, under its
# holder (NULL without a case load or with the role unassigned).
_COUNTED = """
    SELECT holder, role, acuity, count(*) FROM (
        SELECT c.olcm_id AS holder, 'olcm' AS role, e.acuity_level AS acuity
        FROM patients_ecmeligibilityinformation e
        LEFT JOIN care_team_caseload c ON c.patient_id = e.patient_id
        WHERE e.member_record_status IN (%s, %s, %s)
        UNION ALL
        SELECT c.ilcm_id, 'ilcm', e.acuity_level
        FROM patients_ecmeligibilityinformation e
        LEFT JOIN care_team_caseload c ON c.patient_id = e.patient_id
        WHERE e.member_record_status IN (%s, %s, %s)
    ) counted
    GROUP BY holder, role, acuity
"""


def counted_patients(*, stored: bool | None = None) -> Counts:
    """The counts; ``stored=False`` counts the rows even on PostgreSQL (to check the stored
    counts against)."""
    if stored is None:
        stored = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if stored:
            cursor.execute(_STORED)
        else:
            cursor.execute(_COUNTED, [str(status) for status in COUNTED_STATUSES] * 2)
        rows = cursor.fetchall()
    counts: Counts = {}
    for holder, role, acuity, patients in rows:
        key = (holder, role, acuity or UNKNOWN)
        counts[key] = counts.get(key, 0) + int(patients)
    return {key: value for key, value in counts.items() if value}


def acuity_weights() -> dict[str, int]:
    """``ACUITY_WEIGHTS`` by acuity (``unknown`` for none)."""
    return dict(settings.ACUITY_WEIGHTS)


@dataclass
class Workload:
    """One LCM's counted patients by role and acuity, and what they weigh."""

    user_id: int
    capacity: int
    accepting: bool
    patients: dict[str, dict[str, int]] = field(
        default_factory=lambda: {role: dict.fromkeys(ACUITIES, 0) for role in ROLES}
    )

    def weighted_load(self, weights: dict[str, int]) -> int:
        return sum(
            weights[acuity] * count
            for by_acuity in self.patients.values()
            for acuity, count in by_acuity.items()
        )

    def utilization(self, weights: dict[str, int]) -> Fraction | None:
        if self.capacity <= 0:
            return None
        return Fraction(self.weighted_load(weights), self.capacity)


def workloads(lcms: Iterable[tuple[int, int, bool]], counts: Counts) -> dict[int, Workload]:
    """Each LCM's ``Workload`` from ``(user id, capacity, accepting)`` and the counts."""
    out = {
        user_id: Workload(user_id=user_id, capacity=capacity, accepting=accepting)
        for user_id, capacity, accepting in lcms
    }
    for (holder, role, acuity), patients in counts.items():
        if holder in out:
            out[holder].patients[role][acuity] += patients
    return out


def missing(counts: Counts) -> dict[str, int]:
    """Counted patients without a holder, by role."""
    totals: dict[str, int] = defaultdict(int)
    for (holder, role, _), patients in counts.items():
        if holder is None:
            totals[role] += patients
    return {role: totals[role] for role in (OLCM, ILCM)}


@dataclass(frozen=True)
class LcmLoad:
    """An LCM (``plans.LcmRow``) with their workload and what it weighs, computed once."""

    row: Any
    workload: Workload
    load: int
    utilization: Fraction | None


def lcm_loads(rows: Iterable, counts: Counts, weights: dict[str, int]) -> list[LcmLoad]:
    """Each LCM of ``rows`` with their workload from ``counts``, weighted."""
    rows = list(rows)
    loads = workloads(((row.id, row.capacity, row.accepting) for row in rows), counts)
    out = []
    for row in rows:
        workload = loads[row.id]
        load = workload.weighted_load(weights)
        utilization = Fraction(load, row.capacity) if row.capacity > 0 else None
        out.append(LcmLoad(row, workload, load, utilization))
    return out
