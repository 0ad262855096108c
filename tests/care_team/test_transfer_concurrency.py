"""A caseload transfer applied while manual assignments hit the same patients, for real on
PostgreSQL: threads with a connection each."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from care_team.planning import plans
from care_team.services import CARE_TEAM_CHANGED
from tests import factories
from tests.care_team.conftest import ASSIGN_URL, LCMS_URL

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GROUP = 8


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=token)
    return client


def _thread(target, *args) -> threading.Thread:
    def run():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _lcm(*, accepting: bool = True):
    user = factories.lcm_user()
    LeadCareManagerProfile.objects.create(user=user, capacity=100, accepting_patients=accepting)
    return user


def _consistent_chain(patient_id: int, role: str, initial: int) -> None:
    """Every entry of the role replaced the holder before it (``initial`` first): no change
    was lost, and the case load holds the last."""
    previous = initial
    for entry in LcmAssignmentHistory.objects.filter(patient_id=patient_id, role=role).order_by(
        "id"
    ):
        assert entry.previous_user_id == previous, (patient_id, role)
        previous = entry.new_user_id
    assert getattr(CaseLoad.objects.get(patient_id=patient_id), f"{role}_id") == previous


def test_a_transfer_and_manual_assignments_on_the_same_patients(admin_token, monkeypatch):
    """Sam's 32 patients (oLCM) are spread over three LCMs while others assign by hand:

    - ``early``: their oLCM is given to Max between the plan and its writing: skipped;
    - ``other_role``: their iLCM is given to the very LCM the plan makes their oLCM, between
      the plan and its writing: skipped (else one person would hold both roles);
    - ``racing``: their oLCM is given to Max at the moment the transfer writes: either the
      transfer wrote first and Max replaced its LCM, or Max came first and the move is skipped;
      either way Max holds it and the history has both changes in order;
    - ``untouched``: moved.
    """
    # The counts the triggers keep were emptied by TRUNCATE between tests: count again.
    with connection.cursor() as cursor:
        cursor.execute("SELECT care_team_workload_rebuild()")
    sam = _lcm()
    receivers = [_lcm() for _ in range(3)]
    max_, xavier = _lcm(accepting=False), _lcm(accepting=False)
    patients = [factories.ecm_patient() for _ in range(4 * GROUP)]
    for patient in patients:
        CaseLoad.objects.create(patient=patient, olcm=sam, ilcm=xavier)
    ids = [patient.pk for patient in patients]
    early, other_role, racing, untouched = (ids[k * GROUP : (k + 1) * GROUP] for k in range(4))

    planned, others_done = threading.Event(), threading.Event()
    start_race = threading.Barrier(1 + GROUP)
    seen: dict[int, int] = {}
    apply_plan = plans.apply_plan

    def apply_after_the_others(plan, **kwargs):
        seen.update({move.patient_id: move.to_user_id for move in plan.moves})
        planned.set()
        assert others_done.wait(30)
        start_race.wait(30)
        return apply_plan(plan, **kwargs)

    monkeypatch.setattr(plans, "apply_plan", apply_after_the_others)
    outcome: dict = {}

    def transfer():
        response = _client(admin_token.raw).post(
            f"{LCMS_URL}/{sam.pk}/transfer",
            {"role": "olcm", "reason": "Leaving", "dry_run": False},
            format="json",
        )
        outcome["status"], outcome["body"] = response.status_code, response.json()

    statuses: list[int] = []

    def assign(body: dict) -> None:
        statuses.append(_client(admin_token.raw).post(ASSIGN_URL, body, format="json").status_code)

    def between_plan_and_writing():
        assert planned.wait(30)
        for patient_id in early:
            assign({"patient_id": patient_id, "olcm_user_id": max_.pk})
        for patient_id in other_role:
            assign({"patient_id": patient_id, "ilcm_user_id": seen[patient_id]})
        others_done.set()

    def racer(patient_id: int):
        assert others_done.wait(30)
        start_race.wait(30)
        assign({"patient_id": patient_id, "olcm_user_id": max_.pk})

    threads = [_thread(transfer), _thread(between_plan_and_writing)]
    threads += [_thread(racer, patient_id) for patient_id in racing]
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads)

    assert outcome["status"] == 200, outcome
    assert statuses == [200] * (3 * GROUP)
    results = {item["patient_id"]: item for item in outcome["body"]["applied"]["results"]}
    assert set(results) == set(ids)
    teams = {c.patient_id: c for c in CaseLoad.objects.filter(patient_id__in=ids)}
    for patient_id in early + other_role:
        assert results[patient_id] == {
            "patient_id": patient_id,
            "status": "failed",
            "errors": [CARE_TEAM_CHANGED],
        }
    for patient_id in racing:
        assert results[patient_id]["status"] == "success" or results[patient_id]["errors"] == [
            CARE_TEAM_CHANGED
        ]
        assert teams[patient_id].olcm_id == max_.pk
        entries = LcmAssignmentHistory.objects.filter(patient_id=patient_id, role="olcm")
        expected = 2 if results[patient_id]["status"] == "success" else 1
        assert entries.count() == expected
    for patient_id in untouched:
        assert results[patient_id]["status"] == "success"
        assert teams[patient_id].olcm_id == seen[patient_id]
        assert teams[patient_id].olcm_id in {user.pk for user in receivers}
    for patient_id in early:
        assert teams[patient_id].olcm_id == max_.pk
    for patient_id in other_role:
        assert (teams[patient_id].olcm_id, teams[patient_id].ilcm_id) == (sam.pk, seen[patient_id])
    for patient_id in ids:
        assert teams[patient_id].olcm_id != teams[patient_id].ilcm_id
        _consistent_chain(patient_id, "olcm", sam.pk)
        _consistent_chain(patient_id, "ilcm", xavier.pk)
    failed = outcome["body"]["applied"]["failed_count"]
    assert failed == sum(1 for item in results.values() if item["status"] == "failed")
    assert failed >= 2 * GROUP
