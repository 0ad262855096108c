"""An auto-assign applied while manual assignments hit the same patients.

A plan is made from the care teams as they stand, then applied under the patients' locks:
a patient whose care team changed in between is skipped ("Care team changed since the plan
was made", counted in ``failed_count``), the others are written as planned; nothing is lost
and a plan never leaves one person both oLCM and iLCM. The first tests make the interleaving
happen in one thread (any database); the others race real threads on PostgreSQL.
"""

import threading
from unittest import mock

import pytest
from django.db import connection
from rest_framework.test import APIClient

from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from care_team.planning import plans
from care_team.planning.inputs import DEFAULT_TOLERANCE
from care_team.services import CARE_TEAM_CHANGED, care_team_assign
from patients.choices import AcuityLevel
from patients.selectors import ecm_patients
from tests import factories
from tests.care_team.conftest import ASSIGN_URL, LCMS_URL

AUTO_ASSIGN_URL = f"{LCMS_URL}/auto_assign"
ACUITIES = [AcuityLevel.HIGH, AcuityLevel.MEDIUM, AcuityLevel.LOW, ""]


def plan_fill(roles, patients=None):
    return plans.plan_auto_assign(
        roles=roles,
        mode="fill",
        patients=ecm_patients() if patients is None else patients,
        receivers=None,
        max_moves=0,
        tolerance=DEFAULT_TOLERANCE,
        limit=1000,
    )


def holders(patient) -> tuple[int | None, int | None]:
    case_load = CaseLoad.objects.get(patient=patient)
    return case_load.olcm_id, case_load.ilcm_id


def assert_history_explains(patient, initial: dict[str, int | None]) -> dict[str, list]:
    """Each role's history is one chain from ``initial`` to the case load's holder now (no
    write lost, none recorded twice); returns the entries by role."""
    case_load = CaseLoad.objects.get(patient=patient)
    chains = {}
    for role in ("olcm", "ilcm"):
        entries = list(
            LcmAssignmentHistory.objects.filter(patient=patient, role=role).order_by("id")
        )
        holder = initial[role]
        for entry in entries:
            assert entry.previous_user_id == holder, (patient.pk, role)
            assert entry.new_user_id != entry.previous_user_id
            holder = entry.new_user_id
        assert getattr(case_load, f"{role}_id") == holder, (patient.pk, role)
        chains[role] = entries
    return chains


# --- the interleavings, one at a time (any database) ---------------------------------------


@pytest.mark.django_db
def test_a_role_changed_since_the_plan_skips_the_patient():
    x, a = factories.lcm_user(), factories.lcm_user()
    patient = factories.ecm_patient()
    CaseLoad.objects.create(patient=patient, olcm=x)
    plan = plan_fill(["ilcm"])
    ((move),) = plan.moves
    assert (move.role, move.to_user_id) == ("ilcm", a.pk)
    care_team_assign(patient_id=patient.pk, ilcm_user_id=x.pk, actor=None)  # by hand

    _, result = plans.apply_plan(plan, actor=None, reason="Fill")

    assert result.errors == [[CARE_TEAM_CHANGED]]
    assert (result.successful_count, result.failed_count) == (0, 1)
    assert holders(patient) == (x.pk, x.pk)  # the manual write stands: it may do that


@pytest.mark.django_db
def test_the_other_role_given_to_the_planned_lcm_meanwhile_skips_the_patient():
    """The plan gives the iLCM to A (the oLCM, X, kept out); meanwhile A becomes the oLCM:
    applying the move would make A both, which a plan never does."""
    x, a = factories.lcm_user(), factories.lcm_user()
    patient = factories.ecm_patient()
    CaseLoad.objects.create(patient=patient, olcm=x)
    plan = plan_fill(["ilcm"])
    assert [(m.role, m.from_user_id, m.to_user_id) for m in plan.moves] == [("ilcm", None, a.pk)]
    care_team_assign(patient_id=patient.pk, olcm_user_id=a.pk, actor=None)

    _, result = plans.apply_plan(plan, actor=None, reason="Fill")

    assert result.errors == [[CARE_TEAM_CHANGED]]
    assert holders(patient) == (a.pk, None)


@pytest.mark.django_db
def test_with_distinct_roles_off_the_planned_move_is_written(settings):
    settings.CARE_TEAM_DISTINCT_ROLES = False
    x, a = factories.lcm_user(), factories.lcm_user()
    LeadCareManagerProfile.objects.create(user=x, accepting_patients=False)
    patient = factories.ecm_patient()
    CaseLoad.objects.create(patient=patient, olcm=x)
    plan = plan_fill(["ilcm"])
    care_team_assign(patient_id=patient.pk, olcm_user_id=a.pk, actor=None)

    _, result = plans.apply_plan(plan, actor=None, reason="Fill")

    assert result.errors == [[]]
    assert holders(patient) == (a.pk, a.pk)


@pytest.mark.django_db
def test_a_plan_giving_both_roles_to_one_person_is_not_refused_by_the_write_core():
    """A plan setting both roles at once is the planner's business (it keeps them apart);
    only a role a move leaves alone is checked against the move."""
    a = factories.lcm_user()
    patient = factories.ecm_patient()
    plan = plan_fill(["olcm", "ilcm"])
    plan.moves = [
        plans.planner.Move(patient.pk, role, None, a.pk, 2, "test") for role in ("olcm", "ilcm")
    ]
    _, result = plans.apply_plan(plan, actor=None, reason="")
    assert result.errors == [[]]
    assert holders(patient) == (a.pk, a.pk)


# --- real threads on PostgreSQL --------------------------------------------------------------


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=token)
    return client


def _in_threads(calls) -> list:
    """Run each callable in its own thread (own connection), all released at once."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _assign(token: str, patient_id: int, role: str, user_id: int):
    def call():
        body = {"patient_id": patient_id, f"{role}_user_id": user_id, "reason": "By hand"}
        return _client(token).post(ASSIGN_URL, body, format="json").status_code

    return call


@pytest.fixture
def waiting(transactional_db):
    """24 counted patients whose oLCM is X and who wait for an iLCM; receivers A, B and C
    (room for all); M, who takes no new patients, for the assignments made by hand."""
    x, *receivers = (factories.lcm_user() for _ in range(4))
    manual = factories.lcm_user()
    LeadCareManagerProfile.objects.create(user=manual, accepting_patients=False)
    for lcm in (x, *receivers):
        LeadCareManagerProfile.objects.create(user=lcm, capacity=500)
    patients = []
    for n in range(24):
        patient = factories.ecm_patient(acuity_level=ACUITIES[n % 4])
        CaseLoad.objects.create(patient=patient, olcm=x)
        patients.append(patient)
    return {"x": x, "receivers": receivers, "manual": manual, "patients": patients}


@pytest.mark.postgres
def test_an_auto_assign_applied_while_manual_assignments_hit_its_patients(waiting, admin_token):
    """The auto-assign request plans, then waits; manual assignments change some of its
    patients (the role it fills, or the other role given to the LCM it chose); then it applies
    while more manual assignments race it."""
    x, manual = waiting["x"], waiting["manual"]
    planned = threading.Event()
    go = threading.Event()
    shared = {}
    real_apply = plans.apply_plan

    def apply_after_the_others(plan, **kwargs):
        shared["plan"] = plan
        planned.set()
        assert go.wait(timeout=30)
        return real_apply(plan, **kwargs)

    response = {}

    def auto_assign():
        body = {"role": "both", "dry_run": False, "reason": "Race fill"}
        reply = _client(admin_token.raw).post(AUTO_ASSIGN_URL, body, format="json")
        response["status"], response["body"] = reply.status_code, reply.json()
        connection.close()

    with mock.patch.object(plans, "apply_plan", apply_after_the_others):
        request = threading.Thread(target=auto_assign)
        request.start()
        assert planned.wait(timeout=30)
        target = {move.patient_id: move.to_user_id for move in shared["plan"].moves}
        assert {move.role for move in shared["plan"].moves} == {"ilcm"}
        assert set(target) == {p.pk for p in waiting["patients"]}
        ids = [p.pk for p in waiting["patients"]]
        same_person, changed_role, untouched, racing = ids[:6], ids[6:12], ids[12:18], ids[18:]
        # Before the plan is applied: its LCM made oLCM by hand, or the iLCM set by hand.
        before = [_assign(admin_token.raw, pk, "olcm", target[pk]) for pk in same_person]
        before += [_assign(admin_token.raw, pk, "ilcm", manual.pk) for pk in changed_role]
        assert _in_threads(before) == [200] * 12
        # While it is applied: the iLCM set by hand, racing it.
        go.set()
        racing_calls = [_assign(admin_token.raw, pk, "ilcm", manual.pk) for pk in racing]
        assert _in_threads(racing_calls) == [200] * 6
        request.join(timeout=60)
        assert not request.is_alive()

    assert response["status"] == 200, response["body"]
    applied = response["body"]["applied"]
    failed = {r["patient_id"] for r in applied["results"] if r["status"] == "failed"}
    assert all(
        r["errors"] == [CARE_TEAM_CHANGED] for r in applied["results"] if r["status"] == "failed"
    )
    assert applied["failed_count"] == len(failed)
    assert applied["successful_count"] == len(ids) - len(failed)
    assert set(same_person) | set(changed_role) <= failed <= set(ids) - set(untouched)

    for patient in waiting["patients"]:
        olcm, ilcm = holders(patient)
        assert olcm != ilcm, patient.pk  # no one is both
        chains = assert_history_explains(patient, {"olcm": x.pk, "ilcm": None})
        planned_entries = [e for e in chains["ilcm"] if e.reason == "Race fill"]
        pk = patient.pk
        if pk in same_person:
            assert (olcm, ilcm, planned_entries) == (target[pk], None, [])
        elif pk in changed_role:
            assert (olcm, ilcm, planned_entries) == (x.pk, manual.pk, [])
        elif pk in untouched:
            assert (olcm, ilcm) == (x.pk, target[pk])
            assert [e.new_user_id for e in planned_entries] == [target[pk]]
        elif pk in failed:  # racing, and the manual write came first
            assert (ilcm, planned_entries) == (manual.pk, [])
        else:  # racing, and the plan came first: the manual write followed it
            assert [e.new_user_id for e in chains["ilcm"]] == [target[pk], manual.pk]
            assert ilcm == manual.pk


@pytest.mark.postgres
def test_auto_assign_and_manual_assignments_released_together_lose_nothing(waiting, admin_token):
    """No orchestration: the auto-assign and a manual assignment for each of its patients
    (half the oLCM, half the iLCM, to M) start at once."""
    x, manual = waiting["x"], waiting["manual"]
    ids = [p.pk for p in waiting["patients"]]
    response = {}

    def auto_assign():
        body = {"role": "both", "dry_run": False, "reason": "Race fill"}
        reply = _client(admin_token.raw).post(AUTO_ASSIGN_URL, body, format="json")
        response["body"] = reply.json()
        return reply.status_code

    calls = [auto_assign]
    calls += [
        _assign(admin_token.raw, pk, ("olcm", "ilcm")[n % 2], manual.pk) for n, pk in enumerate(ids)
    ]
    statuses = _in_threads(calls)

    assert statuses == [200] * 25, response
    applied = response["body"]["applied"]
    failed = [r for r in applied["results"] if r["status"] == "failed"]
    assert all(r["errors"] == [CARE_TEAM_CHANGED] for r in failed)
    assert applied["failed_count"] == len(failed)
    assert applied["successful_count"] + applied["failed_count"] == len(applied["results"])
    for patient in waiting["patients"]:
        olcm, ilcm = holders(patient)
        assert olcm != ilcm, patient.pk
        chains = assert_history_explains(patient, {"olcm": x.pk, "ilcm": None})
        # Each patient's manual write is there exactly once, whatever the order.
        by_hand = [e for role in chains for e in chains[role] if e.reason == "By hand"]
        assert [e.new_user_id for e in by_hand] == [manual.pk]
