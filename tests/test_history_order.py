"""History and activities in the order they happened, on PostgreSQL, under real contention.

Each test holds the patient's row lock itself while its threads (each its own connection)
pile up behind it, then releases it: every write then waited for the lock, and each is
stamped with a time read once it held the lock, so by id and by time the entries agree, and
none is older than the moment the lock was released.
"""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.choices import ActivityKind, MemberRecordStatus
from patients.models import Activity, EcmEligibilityInformation, EcmStatusHistory, Patient
from tests import factories
from tests.care_team.conftest import ASSIGN_URL, BULK_URL

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
STATUSES = list(MemberRecordStatus.values)

Request = Callable[[APIClient], int]


def _assign(patient_id: int, user_id: int) -> Request:
    body = {"patient_id": patient_id, "olcm_user_id": user_id, "reason": f"to {user_id}"}
    return lambda client: client.post(ASSIGN_URL, body, format="json").status_code


def _bulk(patient_id: int, user_id: int, other_patient_id: int) -> Request:
    items = [
        {"patient_id": other_patient_id, "ilcm_user_id": user_id},
        {"patient_id": patient_id, "olcm_user_id": user_id},
    ]
    body = {"assignments": items}
    return lambda client: client.post(BULK_URL, body, format="json").status_code


def _remove(patient_id: int) -> Request:
    url = f"{ASSIGN_URL}?patient_id={patient_id}&role=olcm"
    return lambda client: client.delete(url).status_code


def _set_status(patient_id: int, status: str) -> Request:
    url = f"/v1/admin/clinic/ecm/patients/{patient_id}"
    body = {"patient": {"ecm_eligibility_information": {"member_record_status": status}}}
    return lambda client: client.patch(url, body, format="json").status_code


def _waiting_for_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _run_behind_the_lock(patient: Patient, requests: list[Request]) -> tuple[list, object]:
    """Run every request from its own thread (own connection, own admin token) while this
    connection holds ``patient``'s row lock; release it once all of them wait for it.

    Returns the statuses and the time just before the lock was released.
    """
    admin = factories.admin_user()
    tokens = [factories.ApiTokenFactory(user=admin).raw for _ in requests]
    statuses: list[int | None] = [None] * len(requests)

    def worker(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_X_USER_TOKEN=tokens[index])
        try:
            statuses[index] = requests[index](client)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(requests))]
    with transaction.atomic():
        Patient.objects.select_for_update().get(pk=patient.pk)
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while _waiting_for_locks() < len(requests):
            assert time.monotonic() < deadline, "the requests never all waited for the lock"
            time.sleep(0.02)
        released = timezone.now()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return statuses, released


def _assert_in_time_order(stamps: list, released) -> None:
    """``stamps`` (in id order) never go back in time and all come after ``released``."""
    assert stamps
    assert stamps == sorted(stamps)
    assert stamps[0] >= released


def _assert_olcm_chain(patient: Patient, released, first=None) -> list[LcmAssignmentHistory]:
    """Ordered by id, each entry's previous oLCM is the one before's new oLCM (``first`` is
    the one assigned before), the last one is the case load's, and the times agree."""
    history = list(LcmAssignmentHistory.objects.filter(patient=patient, role="olcm").order_by("id"))
    previous = first.pk if first else None
    for entry in history:
        assert entry.previous_user_id == previous
        previous = entry.new_user_id
    assert CaseLoad.objects.get(patient=patient).olcm_id == previous
    _assert_in_time_order([entry.created_at for entry in history], released)
    return history


def _activities(patient: Patient) -> list[Activity]:
    return list(Activity.objects.filter(patient=patient).order_by("id"))


def test_parallel_assignments_to_one_patient_are_recorded_in_time_order(db):
    patient = factories.ecm_patient()
    lcms = [factories.lcm_user() for _ in range(THREADS)]

    statuses, released = _run_behind_the_lock(
        patient, [_assign(patient.pk, lcm.pk) for lcm in lcms]
    )

    assert statuses == [200] * THREADS
    history = _assert_olcm_chain(patient, released)
    assert sorted(entry.new_user_id for entry in history) == sorted(lcm.pk for lcm in lcms)
    activities = _activities(patient)
    assert len(activities) == THREADS
    previous = None
    for activity in activities:
        assert activity.metadata["previous_user_id"] == previous
        previous = activity.metadata["new_user_id"]
    _assert_in_time_order([activity.created_at for activity in activities], released)
    # Each change's history entry and activity carry the same time.
    assert [entry.created_at for entry in history] == [a.created_at for a in activities]


def test_parallel_status_changes_are_recorded_in_time_order(db):
    patient = factories.ecm_patient(member_record_status=MemberRecordStatus.NEW)
    wanted = [STATUSES[(n + 1) % len(STATUSES)] for n in range(THREADS)]

    statuses, released = _run_behind_the_lock(
        patient, [_set_status(patient.pk, status) for status in wanted]
    )

    assert statuses == [200] * THREADS
    history = list(EcmStatusHistory.objects.filter(patient=patient).order_by("id"))
    activities = _activities(patient)
    assert 1 <= len(history) == len(activities) <= THREADS
    previous = MemberRecordStatus.NEW
    for entry, activity in zip(history, activities, strict=True):
        assert activity.kind == ActivityKind.STATUS_CHANGED
        assert activity.metadata == {"from": previous, "to": entry.status}
        assert entry.status != previous
        previous = entry.status
    eligibility = EcmEligibilityInformation.objects.get(patient=patient)
    assert eligibility.member_record_status == previous
    _assert_in_time_order([entry.changed_at for entry in history], released)
    _assert_in_time_order([activity.created_at for activity in activities], released)


def test_every_kind_of_write_to_one_patient_is_recorded_in_time_order(db):
    """Single assignments, bulk assignments (the CSV command's path), removals and status
    changes of one patient, all at once: one history, one activity log, both in time order."""
    jane = factories.lcm_user()
    patient = factories.ecm_patient(member_record_status=MemberRecordStatus.NEW)
    factories.CaseLoadFactory(patient=patient, olcm=jane)
    other = factories.ecm_patient()
    lcms = [factories.lcm_user() for _ in range(8)]
    requests: list[Request] = []
    for n in range(5):
        requests.append(_assign(patient.pk, lcms[n].pk))
        requests.append(_bulk(patient.pk, lcms[n + 3].pk, other.pk))
        requests.append(_remove(patient.pk))
        requests.append(_set_status(patient.pk, STATUSES[(n + 1) % len(STATUSES)]))

    statuses, released = _run_behind_the_lock(patient, requests)

    assert set(statuses) <= {200, 404}  # a removal finds no oLCM after another removal
    assert statuses.count(200) >= 3 * 5
    history = _assert_olcm_chain(patient, released, first=jane)
    assert history
    activities = _activities(patient)
    kinds = {activity.kind for activity in activities}
    assert {ActivityKind.LCM_ASSIGNED, ActivityKind.STATUS_CHANGED} <= kinds
    _assert_in_time_order([activity.created_at for activity in activities], released)
