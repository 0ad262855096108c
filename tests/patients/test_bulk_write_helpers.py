"""ecm_admin.db: the set-based write helpers (COPY on PostgreSQL, bulk_create elsewhere), and
the row builders of patients.services the importers and care-team services feed them."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecm_admin.db import bulk_update_rows, copy_insert, insert_returning_ids
from patients.choices import ActivityKind
from patients.models import Activity, EcmStatusHistory, Patient
from patients.services import (
    ACTIVITY_FIELDS,
    STATUS_HISTORY_FIELDS,
    activity_build,
    status_change_build,
    status_change_rows,
)
from tests import factories

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


def _stored(model, fields, **filters):
    return list(model.objects.filter(**filters).order_by("id").values_list(*fields))


def test_copy_insert_writes_the_rows_as_given():
    patient = factories.ecm_patient()
    actor = factories.UserFactory()
    rows = [
        (patient.pk, "lcm_assigned", "tab\there, newline\nthere", actor.pk, "Ana", {"a": 1}, AT),
        (patient.pk, "lcm_removed", "back\\slash ünïcode", None, "System", {"n": None}, AT),
    ]

    copy_insert(Activity, ACTIVITY_FIELDS, rows)

    assert _stored(Activity, ACTIVITY_FIELDS, patient=patient) == rows


def test_copy_insert_encodes_a_shared_json_value_once_and_keeps_distinct_ones():
    patient = factories.ecm_patient()
    shared = {"role": "olcm", "ids": [1, 2]}
    rows = [(patient.pk, "lcm_assigned", "x", None, "S", shared, AT)] * 3
    rows.append((patient.pk, "lcm_assigned", "y", None, "S", {"role": "ilcm"}, AT))

    copy_insert(Activity, ACTIVITY_FIELDS, iter(rows))  # any iterable, consumed once

    metadata = [row[5] for row in _stored(Activity, ACTIVITY_FIELDS, patient=patient)]
    assert metadata == [shared, shared, shared, {"role": "ilcm"}]


def test_copy_insert_of_nothing_runs_no_query():
    with CaptureQueriesContext(connection) as queries:
        copy_insert(Activity, ACTIVITY_FIELDS, [])
        copy_insert(Activity, ACTIVITY_FIELDS, iter(()))
    assert len(queries) == 0


def test_copy_insert_is_one_recorded_statement():
    """Query-count checks see it: one COPY on PostgreSQL, one INSERT elsewhere."""
    patient = factories.ecm_patient()
    rows = [(patient.pk, "lcm_assigned", f"row {n}", None, "S", {}, AT) for n in range(50)]

    with CaptureQueriesContext(connection) as queries:
        copy_insert(Activity, ACTIVITY_FIELDS, rows)

    assert len(queries) == 1
    expected = "COPY" if connection.vendor == "postgresql" else "INSERT"
    assert queries[0]["sql"].startswith(expected)
    assert Activity.objects.filter(patient=patient).count() == 50


def test_copy_insert_is_part_of_the_callers_transaction():
    patient = factories.ecm_patient()
    with transaction.atomic():
        copy_insert(
            Activity, ACTIVITY_FIELDS, [(patient.pk, "lcm_assigned", "x", None, "S", {}, AT)]
        )
        transaction.set_rollback(True)
    assert not Activity.objects.filter(patient=patient).exists()


def test_copy_insert_raises_djangos_integrity_error():
    patient = factories.ecm_patient()
    bad = [(patient.pk, "not_a_status", AT, "System Import", None)]  # violates the check
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_insert(EcmStatusHistory, STATUS_HISTORY_FIELDS, bad)
    assert not EcmStatusHistory.objects.filter(patient=patient).exists()


def test_copy_insert_wants_every_field_but_the_id():
    with pytest.raises(ValueError, match="actor_name, metadata, created_at"):
        copy_insert(Activity, ACTIVITY_FIELDS[:4], [])
    with pytest.raises(ValueError, match="gender"):
        insert_returning_ids(Patient, ["first_name", "last_name"], [("A", "B")])


def test_an_auto_now_field_takes_the_time_of_the_write():
    long_ago = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    fields = [f.attname for f in Patient._meta.concrete_fields if not f.primary_key]
    values = {"services": [], "created_at": long_ago, "updated_at": long_ago}
    row = tuple(values.get(name, None if name == "date_of_birth" else "") for name in fields)
    started = timezone.now()

    [pk] = insert_returning_ids(Patient, fields, [row])

    patient = Patient.objects.get(pk=pk)
    assert patient.created_at == long_ago
    assert patient.updated_at >= started


def test_insert_returning_ids_gives_the_ids_in_row_order_and_advances_the_sequence():
    now = timezone.now()
    fields = [f.attname for f in Patient._meta.concrete_fields if not f.primary_key]
    values = {"services": ["ecm"], "created_at": now, "updated_at": now, "date_of_birth": None}
    rows = [
        tuple(values.get(name, f"P{n}" if name == "first_name" else "") for name in fields)
        for n in range(3)
    ]

    with CaptureQueriesContext(connection) as queries:
        ids = insert_returning_ids(Patient, fields, rows)

    assert len(ids) == 3 and len(set(ids)) == 3
    assert [Patient.objects.get(pk=pk).first_name for pk in ids] == ["P0", "P1", "P2"]
    assert Patient.objects.get(pk=ids[0]).services == ["ecm"]
    if connection.vendor == "postgresql":
        assert ids == sorted(ids)
        assert len(queries) == 2  # the ids from the sequence, then the COPY
    later = factories.PatientFactory()
    assert later.pk not in ids
    assert insert_returning_ids(Patient, fields, []) == []


def test_bulk_update_rows_writes_only_the_fields_named_and_stamps_updated_at():
    jane, bob = factories.lcm_user(), factories.lcm_user()
    first = factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=jane)
    second = factories.CaseLoadFactory(patient=factories.ecm_patient(), olcm=None)
    before = {c.pk: c.updated_at for c in (first, second)}
    first.olcm, first.olcm_assigned_at = bob, AT
    second.olcm, second.ilcm = jane, bob
    second.provider_assigned_at = None
    first.created_at = AT  # not named: not written

    with CaptureQueriesContext(connection) as queries:
        bulk_update_rows(
            [first, second],
            ["olcm", "ilcm", "olcm_assigned_at", "provider_assigned_at", "updated_at"],
        )

    assert len(queries) == 1
    for case_load in (first, second):
        assert case_load.updated_at > before[case_load.pk]  # auto_now ran, on the instance too
        case_load.refresh_from_db()
        assert case_load.updated_at > before[case_load.pk]
    assert (first.olcm_id, first.ilcm_id, first.olcm_assigned_at) == (bob.pk, None, AT)
    assert first.created_at != AT
    assert (second.olcm_id, second.ilcm_id, second.provider_assigned_at) == (jane.pk, bob.pk, None)


def test_bulk_update_rows_handles_a_json_field():
    patient = factories.ecm_patient()
    patient.services = ["ecm", "other"]
    patient.city = "Fresno"
    bulk_update_rows([patient], ["services", "city", "updated_at"])
    patient.refresh_from_db()
    assert (patient.services, patient.city) == (["ecm", "other"], "Fresno")
    bulk_update_rows([], ["city"])


def test_saving_the_built_instances_and_copying_the_rows_store_the_same_rows():
    patient = factories.ecm_patient()
    actor = factories.UserFactory(first_name="Ana", last_name="Ruiz")
    change = {"patient_id": patient.pk, "status": "continuing_member", "at": AT}
    for who, previous in ((actor, None), (None, "new_member")):
        history, activity = status_change_build(previous=previous, actor=who, **change)
        history.save()
        activity.save()
        history_row, activity_values = status_change_rows(previous=previous, actor=who, **change)
        copy_insert(EcmStatusHistory, STATUS_HISTORY_FIELDS, [history_row])
        copy_insert(Activity, ACTIVITY_FIELDS, [activity_values])
        saved, copied = _stored(EcmStatusHistory, STATUS_HISTORY_FIELDS, patient=patient)[-2:]
        assert saved == copied
        saved, copied = _stored(Activity, ACTIVITY_FIELDS, patient=patient)[-2:]
        assert saved == copied
    assert (
        activity_build(
            patient_id=patient.pk, kind=ActivityKind.NOTE, description="x", actor=None, at=AT
        ).actor_name
        == "System"
    )
