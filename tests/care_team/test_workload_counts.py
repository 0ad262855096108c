"""The workload counts (counted patients by holder, role and acuity).

On PostgreSQL they are kept by triggers (``care_team/sql/workload_counts.sql``): after every
kind of write the stored counts must equal a count of the rows themselves. On every database
the counts must say what the rows say.
"""

import random

import pytest
from django.db import connection

from care_team.models import CaseLoad
from care_team.planning.workload import counted_patients, missing
from care_team.services import (
    Assignment,
    care_team_assign,
    care_team_bulk_assign,
    care_team_unassign,
)
from patients.choices import MemberRecordStatus
from patients.models import EcmEligibilityInformation, Patient
from patients.services import patient_update
from tests import factories

pytestmark = pytest.mark.django_db


def assert_consistent():
    counted = counted_patients(stored=False)
    if connection.vendor == "postgresql":
        assert counted_patients() == counted
    return counted


def test_counts_follow_every_kind_of_write():
    lcms = [factories.lcm_user() for _ in range(3)]
    statuses = [MemberRecordStatus.NEW, MemberRecordStatus.TERMINATED, MemberRecordStatus.PENDING]
    patients = [
        factories.ecm_patient(member_record_status=statuses[n % 3], acuity_level=level)
        for n, level in enumerate(["low", "medium", "high", "", "low", "high"])
    ]
    assert_consistent()

    # A case load is created, a role changes, a role is removed.
    care_team_assign(patient_id=patients[0].pk, olcm_user_id=lcms[0].pk, actor=None)
    care_team_assign(
        patient_id=patients[0].pk, olcm_user_id=lcms[1].pk, ilcm_user_id=lcms[2].pk, actor=None
    )
    care_team_unassign(patient_id=patients[0].pk, role="ilcm", actor=None)
    counts = assert_consistent()
    assert counts[(lcms[1].pk, "olcm", "low")] == 1

    # Many at once (one statement per kind of change).
    care_team_bulk_assign(
        assignments=[
            Assignment(
                patient_id=p.pk, olcm_user_id=lcms[n % 3].pk, ilcm_user_id=lcms[(n + 1) % 3].pk
            )
            for n, p in enumerate(patients)
        ],
        actor=None,
    )
    assert_consistent()

    # Status and acuity changes: counted → not counted, acuity to unknown, back.
    for patient, changes in [
        (patients[0], {"member_record_status": MemberRecordStatus.INACTIVE}),
        (patients[1], {"member_record_status": MemberRecordStatus.CONTINUING}),
        (patients[2], {"acuity_level": ""}),
        (patients[3], {"acuity_level": "high", "member_record_status": MemberRecordStatus.NEW}),
    ]:
        patient_update(
            patient_id=patient.pk, patient_fields={}, eligibility_fields=changes, actor=None
        )
        assert_consistent()

    # Rows removed: a case load, then a whole patient (its case load and eligibility cascade).
    CaseLoad.objects.filter(patient=patients[4]).delete()
    assert_consistent()
    Patient.objects.filter(pk=patients[5].pk).delete()
    assert_consistent()
    # A new ECM patient, and an eligibility row updated in bulk.
    factories.ecm_patient(member_record_status=MemberRecordStatus.NEW, acuity_level="medium")
    EcmEligibilityInformation.objects.update(acuity_level="low")
    counts = assert_consistent()
    assert {acuity for (_, _, acuity) in counts} == {"low"}


def test_missing_counts_every_counted_patient_without_a_holder():
    lcm = factories.lcm_user()
    bare = factories.ecm_patient(member_record_status=MemberRecordStatus.NEW)  # no case load
    half = factories.ecm_patient(member_record_status=MemberRecordStatus.CONTINUING)
    factories.ecm_patient(member_record_status=MemberRecordStatus.TERMINATED)  # not counted
    care_team_assign(patient_id=half.pk, olcm_user_id=lcm.pk, actor=None)
    counts = assert_consistent()
    assert missing(counts) == {"olcm": 1, "ilcm": 2}
    assert bare.pk  # the patient without a case load is one of the two without an iLCM


@pytest.mark.postgres
def test_random_writes_keep_the_stored_counts_exact():
    rng = random.Random(7)
    lcms = [factories.lcm_user() for _ in range(4)]
    patients = [
        factories.ecm_patient(
            member_record_status=rng.choice(list(MemberRecordStatus.values)),
            acuity_level=rng.choice(["low", "medium", "high", ""]),
        )
        for _ in range(12)
    ]
    for _ in range(60):
        patient = rng.choice(patients)
        kind = rng.randrange(3)
        if kind == 0:
            care_team_assign(
                patient_id=patient.pk,
                olcm_user_id=rng.choice(lcms).pk,
                ilcm_user_id=rng.choice(lcms).pk,
                actor=None,
            )
        elif kind == 1:
            case_load = CaseLoad.objects.filter(patient=patient).first()
            role = rng.choice(["olcm", "ilcm"])
            if case_load and getattr(case_load, f"{role}_id"):
                care_team_unassign(patient_id=patient.pk, role=role, actor=None)
        else:
            patient_update(
                patient_id=patient.pk,
                patient_fields={},
                eligibility_fields={
                    "member_record_status": rng.choice(list(MemberRecordStatus.values)),
                    "acuity_level": rng.choice(["low", "medium", "high", ""]),
                },
                actor=None,
            )
        assert_consistent()
    with connection.cursor() as cursor:
        cursor.execute("SELECT care_team_workload_compact()")
        cursor.execute("SELECT count(*) FROM care_team_workloadcount")
        rows = cursor.fetchone()[0]
    assert rows == len(counted_patients())  # merged: one row per group


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_transaction_merges_its_count_rows_as_it_commits():
    lcms = [factories.lcm_user() for _ in range(3)]
    patients = [
        factories.ecm_patient(member_record_status=MemberRecordStatus.NEW, acuity_level=level)
        for level in ["low", "medium", "high"] * 50
    ]
    care_team_bulk_assign(
        assignments=[
            Assignment(
                patient_id=p.pk, olcm_user_id=lcms[n % 3].pk, ilcm_user_id=lcms[(n + 1) % 3].pk
            )
            for n, p in enumerate(patients)
        ],
        actor=None,
    )
    care_team_assign(patient_id=patients[0].pk, olcm_user_id=lcms[2].pk, actor=None)
    counts = assert_consistent()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM care_team_workloadcount")
        rows = cursor.fetchone()[0]
    assert rows == len(counts)  # no statement of the app merged them: the commits did
