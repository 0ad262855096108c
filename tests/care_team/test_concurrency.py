"""Real races on PostgreSQL: parallel requests against the same patients."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.models import Activity
from tests import factories
from tests.care_team.conftest import ASSIGN_URL, BULK_URL

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_in_parallel(token: str, requests: list[tuple[str, dict]]) -> list[int]:
    """POST every ``(url, body)`` from its own thread (own connection), all at once."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int | None] = [None] * len(requests)

    def worker(index: int, url: str, body: dict) -> None:
        client = APIClient()
        client.credentials(HTTP_X_USER_TOKEN=token)
        try:
            barrier.wait(timeout=10)
            statuses[index] = client.post(url, body, format="json").status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(n, url, body))
        for n, (url, body) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return statuses


def _assert_consistent_chain(patient) -> list[LcmAssignmentHistory]:
    history = list(LcmAssignmentHistory.objects.filter(patient=patient, role="olcm").order_by("id"))
    previous = None
    for entry in history:
        assert entry.previous_user_id == previous
        assert entry.new_user_id != entry.previous_user_id
        previous = entry.new_user_id
    assert CaseLoad.objects.get(patient=patient).olcm_id == previous
    return history


def test_parallel_assignments_create_one_case_load_and_lose_nothing(admin_token):
    patient = factories.ecm_patient()
    lcms = [factories.lcm_user() for _ in range(8)]
    requests = [(ASSIGN_URL, {"patient_id": patient.pk, "olcm_user_id": u.pk}) for u in lcms]

    statuses = _run_in_parallel(admin_token.raw, requests)

    assert statuses == [200] * 8
    assert CaseLoad.objects.filter(patient=patient).count() == 1
    history = _assert_consistent_chain(patient)
    assert len(history) == 8
    assert {entry.new_user_id for entry in history} == {u.pk for u in lcms}
    assert Activity.objects.filter(patient=patient).count() == 8


def test_parallel_repeats_record_only_real_changes(admin_token):
    patient = factories.ecm_patient()
    jane, bob = factories.lcm_user(), factories.lcm_user()
    users = [jane, bob] * 4
    requests = [(ASSIGN_URL, {"patient_id": patient.pk, "olcm_user_id": u.pk}) for u in users]

    statuses = _run_in_parallel(admin_token.raw, requests)

    assert statuses == [200] * 8
    history = _assert_consistent_chain(patient)
    # every recorded row is a real change, and there is at least the first assignment
    assert 1 <= len(history) <= 8
    assert Activity.objects.filter(patient=patient).count() == len(history)


def test_parallel_bulk_requests_over_the_same_patients_do_not_deadlock(admin_token):
    patients = [factories.ecm_patient() for _ in range(20)]
    lcms = [factories.lcm_user() for _ in range(6)]
    requests = []
    for n, user in enumerate(lcms):
        ordered = patients if n % 2 else list(reversed(patients))
        items = [{"patient_id": p.pk, "olcm_user_id": user.pk} for p in ordered]
        requests.append((BULK_URL, {"assignments": items}))

    statuses = _run_in_parallel(admin_token.raw, requests)

    assert statuses == [200] * 6
    assert CaseLoad.objects.count() == 20
    for patient in patients:
        assert len(_assert_consistent_chain(patient)) == 6


def test_a_failed_request_writes_nothing(admin_token):
    patient = factories.ecm_patient()
    good = factories.lcm_user()
    bad = factories.lcm_user(is_active=False)
    body = {"patient_id": patient.pk, "olcm_user_id": good.pk, "ilcm_user_id": bad.pk}

    statuses = _run_in_parallel(admin_token.raw, [(ASSIGN_URL, body)] * 4)

    assert statuses == [422] * 4
    assert not CaseLoad.objects.exists()
    assert not LcmAssignmentHistory.objects.exists()
    assert not Activity.objects.exists()
