"""Hand-written statements (``ecm_admin.statements``) give values of the same types as the ORM
on either database, and the access-event INSERT writes the row ``save()`` would."""

import datetime as dt

import pytest
from django.db.models import BooleanField, DateTimeField

from audit.models import AccessEvent
from audit.services import event_record
from ecm_admin.statements import Select
from patients.models import EcmEligibilityInformation, Patient
from tests import factories

pytestmark = pytest.mark.django_db

ROWS = Select(
    "SELECT {columns} FROM patients_patient p"
    " JOIN patients_ecmeligibilityinformation e ON e.patient_id = p.id"
    " WHERE p.id IN ({ids}) ORDER BY p.id",
    tables={"p": Patient, "e": EcmEligibilityInformation},
    columns=[
        "p.id",
        "p.date_of_birth",
        "p.services",
        "p.created_at",
        "e.patient_id",
        ("later", "(SELECT MAX(p2.created_at) FROM patients_patient p2)", DateTimeField()),
        ("known", "(p.id IN (SELECT patient_id FROM patients_ecmauthorization))", BooleanField()),
    ],
)


def test_values_come_back_as_the_orm_gives_them():
    patient = factories.ecm_patient(
        patient__date_of_birth=dt.date(1980, 2, 29), patient__services=["housing", "meals"]
    )
    other = factories.ecm_patient()
    factories.AuthorizationFactory(patient=patient)
    rows = ROWS.dicts(ids=[other.pk, patient.pk])
    assert [row["p.id"] for row in rows] == sorted([patient.pk, other.pk])
    row = next(row for row in rows if row["p.id"] == patient.pk)
    stored = Patient.objects.get(pk=patient.pk)
    assert row["p.date_of_birth"] == dt.date(1980, 2, 29)
    assert row["p.services"] == ["housing", "meals"]
    assert row["p.created_at"] == stored.created_at
    assert row["p.created_at"].tzinfo is not None
    assert row["e.patient_id"] == patient.pk
    assert isinstance(row["later"], dt.datetime) and row["later"].tzinfo is not None
    assert row["known"] is True
    assert next(r for r in rows if r["p.id"] == other.pk)["known"] is False


def test_an_empty_id_list_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert ROWS.dicts(ids=[]) == []


def test_first_is_none_without_a_row():
    one = Select(
        "SELECT {columns} FROM patients_patient p WHERE p.id = %s",
        tables={"p": Patient},
        columns=["p.id"],
    )
    assert one.first([123456789]) is None


def test_the_access_event_insert_writes_what_save_would():
    user = factories.admin_user()
    event = event_record(
        source="api",
        action="read_list",
        user_id=user.pk,
        token_prefix="ecm_abcdef",
        method="GET",
        route="/v1/x",
        status_code=200,
        request_id="req-1",
        client_ip="10.0.0.1",
        patient_ids=[3, 1, 3],
    )
    stored = AccessEvent.objects.get(pk=event.pk)
    assert event.pk is not None and not event._state.adding
    for name in ("source", "action", "user_id", "token_prefix", "method", "route",
                 "status_code", "request_id", "client_ip", "patient_ids"):  # fmt: skip
        assert getattr(stored, name) == getattr(event, name), name
    assert stored.patient_ids == [3, 1]
    assert stored.occurred_at == event.occurred_at
