"""A member id names one member whatever its case ("demo000000001" is "DEMO000000001"): the
database refuses a second one, the API answers 422, the importers and ``bulk_assign_lcms``
read a member id in another case as that member, and the migration that adds the rule lists
the clashes already stored instead of failing on one of them."""

import threading
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from care_team.models import CaseLoad
from patients.models import EcmAuthorization, EcmEligibilityInformation, Patient
from tests import factories
from tests.patients.test_import_members import member, run, run_failing, snapshot, write_csv

pytestmark = pytest.mark.django_db

BASE = "/v1/admin/clinic/ecm"
TAKEN = "Validation failed: Member ID has already been taken"
BEFORE = ("patients", "0010_acuity_sort_indexes")
RULE = ("patients", "0011_member_id_unique_regardless_of_case")


def test_the_database_refuses_a_member_id_that_differs_only_in_case():
    factories.ecm_patient(member_id="DEMO000000001")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ecm_patient(member_id="demo000000001")


def test_model_validation_names_the_clash_for_the_admin_forms():
    factories.ecm_patient(member_id="DEMO000000001")
    other = factories.ecm_patient(member_id="MEM-2")
    eligibility = EcmEligibilityInformation.objects.get(patient=other)
    eligibility.member_id = "Demo000000001"

    with pytest.raises(ValidationError) as info:
        eligibility.validate_constraints()

    assert info.value.messages == ["Member ID has already been taken"]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_the_api_refuses_a_member_id_taken_in_another_case(admin_client, method):
    factories.ecm_patient(member_id="DEMO000000001")
    patient = factories.ecm_patient(member_id="MEM-2")
    body = {"patient": {"ecm_eligibility_information": {"member_id": "demo000000001"}}}

    response = getattr(admin_client, method)(f"{BASE}/patients/{patient.pk}", body, format="json")

    assert response.status_code == 422
    assert response.json() == {"errors": [TAKEN]}
    assert EcmEligibilityInformation.objects.get(patient=patient).member_id == "MEM-2"


def test_the_api_lets_a_member_change_the_case_of_its_own_member_id(admin_client):
    patient = factories.ecm_patient(member_id="mem-2")
    body = {"patient": {"ecm_eligibility_information": {"member_id": "MEM-2"}}}

    response = admin_client.patch(f"{BASE}/patients/{patient.pk}", body, format="json")

    assert response.status_code == 200
    assert EcmEligibilityInformation.objects.get(patient=patient).member_id == "MEM-2"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_member_id_taken_meanwhile_in_another_case_is_a_422(admin_token):
    """Another transaction takes the member id (in another case) after the API's check: the
    unique index makes the API's write wait for it, then fail; the answer is the same 422."""
    from rest_framework.test import APIClient

    patient = factories.ecm_patient(member_id="MEM-2")
    other = factories.ecm_patient(member_id="MEM-3")
    taken, answered = threading.Event(), threading.Event()

    def take_it():
        try:
            with transaction.atomic():
                EcmEligibilityInformation.objects.filter(patient=other).update(member_id="NEW-1")
                taken.set()
                answered.wait(timeout=0.5)  # the API's UPDATE waits on the index meanwhile
        finally:
            connection.close()

    thread = threading.Thread(target=take_it)
    thread.start()
    assert taken.wait(timeout=10)
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=admin_token.raw)
    body = {"patient": {"ecm_eligibility_information": {"member_id": "new-1"}}}
    try:
        response = client.patch(f"{BASE}/patients/{patient.pk}", body, format="json")
    finally:
        answered.set()
        thread.join()

    assert response.status_code == 422
    assert response.json() == {"errors": [TAKEN]}
    assert EcmEligibilityInformation.objects.get(patient=patient).member_id == "MEM-2"


def test_import_members_updates_the_member_named_in_another_case(tmp_path):
    factories.ecm_patient(member_id="DEMO000000001", patient__first_name="Jon")
    path = write_csv(tmp_path / "members.csv", [member("demo000000001", first_name="John")])

    out, _ = run("import_members", path)

    assert out == "Imported members.csv: 0 created, 1 updated, 0 unchanged, 0 failed\n"
    eligibility = EcmEligibilityInformation.objects.select_related("patient").get()
    assert (eligibility.member_id, eligibility.patient.first_name) == ("DEMO000000001", "John")

    before = snapshot()
    out, _ = run("import_members", path)

    assert out == "Imported members.csv: 0 created, 0 updated, 1 unchanged, 0 failed\n"
    assert snapshot() == before


def test_import_members_reports_a_member_twice_in_one_file_in_two_cases(tmp_path):
    rows = [member("DEMO000000001"), member("MEM-2"), member("Demo000000001", first_name="X")]
    path = write_csv(tmp_path / "members.csv", rows)

    out, err, _ = run_failing("import_members", path)

    assert out == "Imported members.csv: 2 created, 0 updated, 0 unchanged, 1 failed\n"
    assert err == "line 4: member_id Demo000000001 already appeared on line 2\n"
    assert EcmEligibilityInformation.objects.filter(member_id="DEMO000000001").exists()


def test_member_ids_beyond_ascii_compare_as_the_database_compares_them(tmp_path):
    """ "josé-1" and "JOSé-1" differ in ASCII case only: the same member for every database's
    UPPER() (SQLite's folds ASCII letters only, so the key is "JOSé-1", not Python's
    "JOSÉ-1"): the import updates that member instead of failing on the unique index."""
    factories.ecm_patient(member_id="josé-1", patient__first_name="Jon")
    path = write_csv(tmp_path / "members.csv", [member("JOSé-1", first_name="John")])

    out, _ = run("import_members", path)

    assert out == "Imported members.csv: 0 created, 1 updated, 0 unchanged, 0 failed\n"
    eligibility = EcmEligibilityInformation.objects.select_related("patient").get()
    assert (eligibility.member_id, eligibility.patient.first_name) == ("josé-1", "John")


def test_import_authorizations_finds_the_member_named_in_another_case(tmp_path):
    patient = factories.ecm_patient(member_id="DEMO000000001")
    path = write_csv(
        tmp_path / "auths.csv",
        [{"member_id": "demo000000001", "auth_no": "AUTH1", "status": "Approved"}],
    )

    out, _ = run("import_authorizations", path)

    assert out == "Imported auths.csv: 1 created, 0 updated, 0 unchanged, 0 failed\n"
    assert EcmAuthorization.objects.get().patient_id == patient.pk


def test_bulk_assign_lcms_finds_the_member_named_in_another_case(tmp_path):
    patient = factories.ecm_patient(member_id="DEMO000000001")
    jane = factories.lcm_user(email="jane@example.org")
    path = tmp_path / "in.csv"
    path.write_text("member_id,olcm_email\ndemo000000001,jane@example.org\n", encoding="utf-8")

    call_command("bulk_assign_lcms", str(path), stdout=StringIO(), stderr=StringIO())

    assert CaseLoad.objects.get(patient=patient).olcm_id == jane.pk


@pytest.mark.parametrize(
    ("born", "message"),
    [
        ("1899-12-31", "line 2: Date of birth can't be before 1900-01-01"),
        ("0001-01-01", "line 2: Date of birth can't be before 1900-01-01"),
        ("2999-01-01", "line 2: Date of birth can't be in the future"),
    ],
)
def test_import_members_refuses_a_date_of_birth_out_of_bounds(tmp_path, born, message):
    path = write_csv(tmp_path / "members.csv", [member(date_of_birth=born), member("MEM-2")])

    out, err, _ = run_failing("import_members", path)

    assert err == message + "\n"
    assert "1 created" in out
    assert Patient.objects.count() == 1


def test_import_members_accepts_the_earliest_date_of_birth(tmp_path):
    path = write_csv(tmp_path / "members.csv", [member(date_of_birth="1900-01-01")])

    run("import_members", path)

    assert str(Patient.objects.get().date_of_birth) == "1900-01-01"


@pytest.mark.django_db(transaction=True)
def test_the_migration_lists_member_ids_that_differ_only_in_case():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        first = factories.ecm_patient(member_id="demo000000001")
        second = factories.ecm_patient(member_id="DEMO000000001")
        factories.ecm_patient(member_id="MEM-3")
        executor.loader.build_graph()

        with pytest.raises(CommandError) as info:
            executor.migrate([RULE])

        message = str(info.value)
        assert message.startswith(
            "Cannot make member ids unique regardless of case: these member ids differ only "
            "in case and belong to different members:\n"
        )
        first_eligibility = first.ecm_eligibility_information.pk
        second_eligibility = second.ecm_eligibility_information.pk
        assert (
            f"  'demo000000001' (eligibility {first_eligibility}, patient {first.pk}), "
            f"'DEMO000000001' (eligibility {second_eligibility}, patient {second.pk})\n"
        ) in message
        assert "MEM-3" not in message
        assert message.endswith("then run migrate again.")

        EcmEligibilityInformation.objects.filter(pk=second_eligibility).update(member_id="MEM-2")
        executor.loader.build_graph()
        executor.migrate([RULE])
        with pytest.raises(IntegrityError), transaction.atomic():
            factories.ecm_patient(member_id="mem-3")
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
