"""PostgreSQL: the access audit table refuses UPDATE and DELETE, whoever asks."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AccessEvent
from audit.services import event_record
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def event():
    return event_record(source="api", action="read_detail", patient_ids=[7])


def test_update_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).update(action="update")
    event.status_code = 200
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()
    assert AccessEvent.objects.get(pk=event.pk).action == "read_detail"


def test_delete_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.delete()
    assert AccessEvent.objects.filter(pk=event.pk).exists()


def test_raw_sql_is_refused_too(event):
    for statement in (
        "UPDATE audit_accessevent SET patient_ids = '[]'::jsonb",
        "DELETE FROM audit_accessevent",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AccessEvent.objects.filter(pk=event.pk).exists()


def test_deleting_a_user_keeps_their_events(event):
    user = factories.admin_user()
    mine = event_record(source="api", action="read_list", user_id=user.pk)
    user_id = user.pk
    user.delete()
    assert AccessEvent.objects.get(pk=mine.pk).user_id == user_id


def test_patient_filter_uses_json_containment(event):
    from audit.management.commands.audit_export import events_about_patient

    assert list(events_about_patient(AccessEvent.objects.all(), 7)) == [event]
    assert list(events_about_patient(AccessEvent.objects.all(), 77)) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_event_patient_ids_gin'"
        )
        assert "jsonb_path_ops" in cursor.fetchone()[0]
