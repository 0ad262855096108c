"""The write path's schema and helpers: the append-only tables keep one ``patient_id`` index
(the ``(patient_id, time)`` one: care_team 0003 and patients 0007), the
``any_of`` lookup, ``bulk_update_rows`` with values that need quoting in an array, and the
autovacuum settings of the tables counted index-only (care_team 0004 and patients 0008)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from care_team.models import CaseLoad, LcmAssignmentHistory
from care_team.services import care_team_assign
from ecm_admin.db import bulk_update_rows
from patients.models import Activity, EcmEligibilityInformation, EcmStatusHistory, Patient
from tests import factories

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


def _indexes(model) -> dict[str, list[str]]:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if info["index"] and not info["primary_key"] and not info["unique"]
    }


@pytest.mark.parametrize(
    ("model", "time_column"),
    [
        (LcmAssignmentHistory, "created_at"),
        (Activity, "created_at"),
        (EcmStatusHistory, "changed_at"),
    ],
)
def test_append_only_tables_have_one_index_leading_with_the_patient(model, time_column):
    indexes = list(_indexes(model).values())

    assert ["patient_id"] not in indexes
    assert ["patient_id", time_column] in indexes
    assert [columns for columns in indexes if columns[0] == "patient_id"] == [
        ["patient_id", time_column]
    ]


def test_the_other_foreign_key_indexes_stay():
    assert ["new_user_id"] in _indexes(LcmAssignmentHistory).values()
    assert ["actor_id"] in _indexes(Activity).values()


def test_deleting_a_patient_still_removes_its_history():
    patient = factories.ecm_patient()
    lcm = factories.lcm_user()

    care_team_assign(patient_id=patient.pk, olcm_user_id=lcm.pk, actor=None)
    assert LcmAssignmentHistory.objects.filter(patient=patient).exists()

    Patient.objects.filter(pk=patient.pk).delete()

    assert not LcmAssignmentHistory.objects.exists()
    assert not Activity.objects.filter(patient_id=patient.pk).exists()
    assert not CaseLoad.objects.exists()


def test_assignment_history_outlives_a_deleted_case_load():
    """The history names its patient only (care_team 0005): a case load removed from the
    database directly leaves the record of who was assigned in place."""
    patient = factories.ecm_patient()
    lcm = factories.lcm_user()
    care_team_assign(patient_id=patient.pk, olcm_user_id=lcm.pk, actor=None)

    CaseLoad.objects.filter(patient=patient).delete()

    (entry,) = LcmAssignmentHistory.objects.filter(patient=patient)
    assert (entry.role, entry.new_user_id) == ("olcm", lcm.pk)


def test_any_of_matches_like_in_for_ids_and_strings():
    patients = [factories.ecm_patient(member_id=f"M-{n}") for n in range(4)]
    wanted = [patients[0].pk, patients[2].pk, 999_999]

    by_id = Patient.objects.filter(pk__any_of=wanted).order_by("pk")
    by_relation = EcmEligibilityInformation.objects.filter(patient_id__any_of=wanted)
    by_key = EcmEligibilityInformation.objects.filter(
        member_id__any_of=["M-1", "M-3", 'quote " and \\ backslash', "NULL"]
    )

    assert list(by_id) == [patients[0], patients[2]]
    assert sorted(e.patient_id for e in by_relation) == sorted(wanted[:2])
    assert sorted(e.member_id for e in by_key) == ["M-1", "M-3"]
    assert not Patient.objects.filter(pk__any_of=[]).exists()


def test_any_of_is_one_array_parameter_on_postgresql():
    patient = factories.ecm_patient()
    with CaptureQueriesContext(connection) as queries:
        assert list(Patient.objects.filter(pk__any_of=[patient.pk, patient.pk + 1])) == [patient]
    sql = queries.captured_queries[-1]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql
    else:
        assert " IN (" in sql


def test_any_of_does_not_truncate_a_long_string():
    factories.ecm_patient(member_id="M" * 20)

    assert not EcmEligibilityInformation.objects.filter(member_id__any_of=["M" * 25]).exists()


def test_bulk_update_rows_keeps_text_that_needs_quoting():
    patients = [factories.ecm_patient() for _ in range(3)]
    texts = ['say "hi"', "back\\slash, comma {brace}", "NULL"]
    for patient, text in zip(patients, texts, strict=True):
        patient.city = text
        patient.date_of_birth = dt.date(1990, 1, 2)
    patients[2].date_of_birth = None

    bulk_update_rows(patients, ["city", "date_of_birth"])

    stored = list(
        Patient.objects.filter(pk__in=[p.pk for p in patients])
        .order_by("pk")
        .values_list("city", "date_of_birth")
    )
    assert stored == [
        ('say "hi"', dt.date(1990, 1, 2)),
        ("back\\slash, comma {brace}", dt.date(1990, 1, 2)),
        ("NULL", None),
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("model", [CaseLoad, EcmEligibilityInformation])
def test_tables_counted_index_only_are_vacuumed_soon_after_a_batch_of_writes(model):
    """The LCM counts and the status and acuity counts are index-only scans of these tables;
    autovacuum restores their visibility map after 0.5 % of the rows changed, not 20 %."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT option_name, option_value FROM pg_class c,"
            " pg_options_to_table(c.reloptions) WHERE c.relname = %s",
            [model._meta.db_table],
        )
        options = dict(cursor.fetchall())
    assert options["autovacuum_vacuum_scale_factor"] == "0.005"
    assert options["autovacuum_vacuum_insert_scale_factor"] == "0.005"
    assert options["autovacuum_vacuum_threshold"] == "1000"
