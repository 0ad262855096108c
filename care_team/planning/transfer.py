"""Caseload transfer: the patients one Lead Care Manager holds (as oLCM, iLCM or both), moved to
a named LCM or spread over the accepting LCMs by the fill rule.

The planner decides (``planner.plan_transfer_to`` for a named LCM, ``planner.plan_fill`` with
``moving_from`` to spread); this module reads its inputs: the LCMs as ``plans`` reads them for
auto-assign, and the patients the source holds. Every patient the source holds moves, counted
or not (a terminated patient keeps no LCM it should not have): one whose member record status
does not count toward a caseload weighs 0, so it changes no load and never stops a move. A plan
is applied by ``plans.apply_plan``, as every plan is.

``POST /lead_care_managers/{id}/transfer``, the ``transfer_caseload`` command and the Django
admin's "Transfer caseload" page all plan here.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Case, Count, IntegerField, Q, Value, When, Window

from care_team.planning import planner, plans
from care_team.planning.planner import Patient, Plan
from care_team.planning.workload import ACUITIES, COUNTED_STATUSES, UNKNOWN, acuity_weights
from ecm_admin.exceptions import NotFound, UnprocessableEntity
from patients.selectors import ecm_patients

LCM_NOT_FOUND = "Lead Care Manager not found"
SPREAD_REASON = "transfer to the least utilized accepting"


def _held_weight() -> Case:
    """A patient's weight by acuity (``ACUITY_WEIGHTS``) while its status counts toward a
    caseload, else 0, as the database computes it."""
    weights = acuity_weights()
    status = "ecm_eligibility_information__member_record_status"
    level = "ecm_eligibility_information__acuity_level"
    return Case(
        When(~Q(**{f"{status}__in": list(COUNTED_STATUSES)}), then=Value(0)),
        *[When(**{level: acuity}, then=Value(weights[acuity])) for acuity in ACUITIES[:3]],
        default=Value(weights[UNKNOWN]),
        output_field=IntegerField(),
    )


def held_patients(
    user_id: int, roles: Sequence[str], *, limit: int | None = None
) -> tuple[list[Patient], int]:
    """The ECM patients for whom ``user_id`` holds any of ``roles``, and how many there are;
    with ``limit``, only the first ``limit`` a transfer takes (heaviest, then by id), read with
    their count in one query."""
    held = Q()
    for role in roles:
        held |= Q(**{f"case_load__{role}_id": user_id})
    rows = ecm_patients().filter(held).annotate(weight=_held_weight())
    fields = ("id", "weight", "case_load__olcm_id", "case_load__ilcm_id")
    if limit is None:
        found = [
            Patient(id=pk, weight=weight, olcm=olcm, ilcm=ilcm)
            for pk, weight, olcm, ilcm in rows.order_by().values_list(*fields)
        ]
        return found, len(found)
    ranked = list(
        rows.annotate(total=Window(Count("pk")))
        .order_by("-weight", "pk")
        .values_list(*fields, "total")[:limit]
    )
    found = [
        Patient(id=pk, weight=weight, olcm=olcm, ilcm=ilcm) for pk, weight, olcm, ilcm, _ in ranked
    ]
    return found, (ranked[0][-1] if ranked else 0)


def plan_transfer(
    *, source: int, roles: Sequence[str], target: int | None, limit: int | None
) -> Plan:
    """The transfer of ``roles`` held by ``source``: all to ``target`` or, without one, each
    patient to the accepting LCM (not the source) least utilized after the move, never past
    capacity. At most ``limit`` patients (the rest is ``remaining_count``).

    Raises ``NotFound`` when ``source`` is not an active Lead Care Manager, and
    ``UnprocessableEntity`` when ``target`` is the source or not an active Lead Care Manager.
    """
    rows = plans.lead_care_manager_rows()
    active = {row.id for row in rows}
    if source not in active:
        raise NotFound(LCM_NOT_FOUND)
    if target is not None and target == source:
        raise UnprocessableEntity("to_user_id must be another Lead Care Manager than the source")
    if target is not None and target not in active:
        raise UnprocessableEntity(f"to_user_id {target} is not an active Lead Care Manager")
    receivers = None if target is not None else active - {source}
    lcms = plans.planner_lcms(rows, plans.current_workloads(rows), receivers=receivers)
    patients, total = held_patients(source, roles, limit=limit)
    rules = plans.rules()
    if target is not None:
        plan = planner.plan_transfer_to(
            patients, lcms, source=source, target=target, roles=roles, rules=rules, limit=limit
        )
    else:
        plan = planner.plan_fill(
            patients,
            lcms,
            roles=roles,
            rules=rules,
            limit=limit,
            reason=SPREAD_REASON,
            moving_from=source,
        )
    plan.remaining_count += total - len(patients)
    return plan
