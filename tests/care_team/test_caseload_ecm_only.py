"""Only an ECM patient has a care team (care_team migration 0010): PostgreSQL refuses a case
load without eligibility and an eligibility record deleted under a care team; the admin
protects such an eligibility record; care teams left without eligibility are ended, recorded
in the assignment history."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.models import EcmEligibilityInformation, Patient
from tests import factories
from tests.admin import sign_in

pytestmark = pytest.mark.django_db

BEFORE = ("care_team", "0009_caseload_holder_patient_indexes")
RULE = ("care_team", "0010_caseload_of_ecm_patients")


@pytest.fixture
def jane(db):
    return factories.lcm_user(first_name="Jane", last_name="Coordinator")


@pytest.mark.postgres
def test_the_database_refuses_a_care_team_for_a_patient_without_eligibility(jane):
    plain = factories.PatientFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        CaseLoad.objects.create(patient=plain, olcm=jane)
        connection.check_constraints()  # as a commit would


@pytest.mark.postgres
def test_the_database_refuses_deleting_the_eligibility_under_a_care_team(jane):
    case_load = factories.CaseLoadFactory(olcm=jane)

    with pytest.raises(IntegrityError), transaction.atomic():
        EcmEligibilityInformation.objects.filter(patient=case_load.patient_id).delete()
        connection.check_constraints()

    assert EcmEligibilityInformation.objects.filter(patient=case_load.patient_id).exists()


def test_deleting_a_patient_deletes_its_eligibility_and_care_team(jane):
    case_load = factories.CaseLoadFactory(olcm=jane)

    with transaction.atomic():
        Patient.objects.filter(pk=case_load.patient_id).delete()
        connection.check_constraints()

    assert not CaseLoad.objects.exists()
    assert not EcmEligibilityInformation.objects.exists()


def test_the_admin_protects_the_eligibility_of_a_patient_with_a_care_team(client, jane):
    sign_in(client, superuser=True)  # only superusers delete anything
    case_load = factories.CaseLoadFactory(olcm=jane)
    eligibility = EcmEligibilityInformation.objects.get(patient=case_load.patient_id)
    url = reverse("admin:patients_ecmeligibilityinformation_delete", args=[eligibility.pk])

    page = client.get(url)
    posted = client.post(url, {"post": "yes"})

    assert page.status_code == 200
    assert f"Care team of {case_load.patient}" in page.content.decode()
    assert posted.status_code == 200  # the page again, nothing deleted
    assert EcmEligibilityInformation.objects.filter(pk=eligibility.pk).exists()
    assert CaseLoad.objects.filter(pk=case_load.pk).exists()


def test_the_admin_deletes_the_eligibility_of_a_patient_without_a_care_team(client):
    sign_in(client, superuser=True)
    patient = factories.ecm_patient()
    eligibility = EcmEligibilityInformation.objects.get(patient=patient)
    url = reverse("admin:patients_ecmeligibilityinformation_delete", args=[eligibility.pk])

    assert "Care team of" not in client.get(url).content.decode()
    response = client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not EcmEligibilityInformation.objects.filter(pk=eligibility.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_ends_care_teams_without_eligibility_in_the_history():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
        bob = factories.lcm_user(first_name="Bob", last_name="Manager")
        kept = factories.ecm_patient()
        CaseLoad.objects.create(patient=kept, olcm=jane)
        left = factories.PatientFactory()
        CaseLoad.objects.create(patient=left, olcm=jane, ilcm=bob)
        executor.loader.build_graph()

        executor.migrate([RULE])

        assert list(CaseLoad.objects.values_list("patient_id", flat=True)) == [kept.pk]
        ended = LcmAssignmentHistory.objects.filter(patient=left).order_by("role")
        assert [(h.role, h.previous_user_id, h.new_user_id) for h in ended] == [
            ("ilcm", bob.pk, None),
            ("olcm", jane.pk, None),
        ]
        assert {h.reason for h in ended} == {"Care team ended: the patient has no ECM eligibility"}
        assert not LcmAssignmentHistory.objects.filter(patient=kept).exists()
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
