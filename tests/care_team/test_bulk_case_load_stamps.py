"""Bulk assignment keeps the time stamps of the roles it does not change.

On PostgreSQL the bulk path does not read the case loads' time stamps and writes only the
roles that changed (one statement per set of changed roles); every database must end with
the same rows.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from care_team.models import CaseLoad
from care_team.services import Assignment, care_team_bulk_assign
from tests import factories

pytestmark = pytest.mark.django_db

BEFORE = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _case_load(olcm, ilcm, provider) -> CaseLoad:
    return CaseLoad.objects.create(
        patient=factories.ecm_patient(),
        olcm=olcm,
        ilcm=ilcm,
        provider=provider,
        olcm_assigned_at=BEFORE,
        ilcm_assigned_at=BEFORE,
        provider_assigned_at=BEFORE,
        created_at=BEFORE,
    )


def test_only_the_changed_roles_get_new_time_stamps():
    a, b, c = (factories.lcm_user() for _ in range(3))
    doctor, other_doctor = factories.provider_user(), factories.provider_user()
    olcm_only = _case_load(a, b, doctor)
    ilcm_only = _case_load(a, b, doctor)
    both_and_provider = _case_load(a, b, doctor)
    same_user = _case_load(a, b, doctor)
    items = [
        Assignment(patient_id=olcm_only.patient_id, olcm_user_id=c.pk),
        Assignment(patient_id=ilcm_only.patient_id, ilcm_user_id=c.pk),
        Assignment(
            patient_id=both_and_provider.patient_id,
            olcm_user_id=b.pk,
            ilcm_user_id=a.pk,
            provider_id=other_doctor.pk,
        ),
        Assignment(patient_id=same_user.patient_id, olcm_user_id=a.pk),
        # the same patient again: its iLCM changes too, in a later item
        Assignment(patient_id=olcm_only.patient_id, ilcm_user_id=a.pk),
    ]

    with CaptureQueriesContext(connection) as queries:
        result = care_team_bulk_assign(assignments=items, actor=None)

    assert result.errors == [[]] * 5
    rows = {
        row.pk: row
        for row in CaseLoad.objects.filter(
            pk__in=[olcm_only.pk, ilcm_only.pk, both_and_provider.pk, same_user.pk]
        )
    }

    def stamps(case_load):
        row = rows[case_load.pk]
        return (
            row.olcm_assigned_at == BEFORE,
            row.ilcm_assigned_at == BEFORE,
            row.provider_assigned_at == BEFORE,
        )

    assert (rows[olcm_only.pk].olcm_id, rows[olcm_only.pk].ilcm_id) == (c.pk, a.pk)
    assert stamps(olcm_only) == (False, False, True)
    assert rows[ilcm_only.pk].ilcm_id == c.pk
    assert stamps(ilcm_only) == (True, False, True)
    assert (
        rows[both_and_provider.pk].olcm_id,
        rows[both_and_provider.pk].ilcm_id,
        rows[both_and_provider.pk].provider_id,
    ) == (b.pk, a.pk, other_doctor.pk)
    assert stamps(both_and_provider) == (False, False, False)
    assert stamps(same_user) == (True, True, True)
    assert rows[same_user.pk].updated_at == same_user.updated_at
    assert {row.created_at for row in rows.values()} == {BEFORE}
    changed = [rows[olcm_only.pk], rows[ilcm_only.pk], rows[both_and_provider.pk]]
    assert all(row.updated_at > BEFORE for row in changed)
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    if connection.vendor == "postgresql":
        # olcm+ilcm, ilcm, olcm+ilcm+provider: one statement per set of changed roles
        assert len(updates) == 3
