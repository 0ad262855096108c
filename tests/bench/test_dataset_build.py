"""The benchmark's data set builder on PostgreSQL: what the app's triggers maintain is right
after a build, although the build loads with triggers off."""

import datetime as dt

import psycopg
import pytest
from django.db import connection

from bench import dataset
from patients.models import EcmEligibilityInformation, PatientSearchText

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _url() -> str:
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def test_a_build_fills_the_search_table_and_the_stored_total():
    connection.close()  # the builder truncates the tables: hold no lock on them
    result = dataset.build(_url(), 120, log=lambda _: None)
    assert result.patients == 120

    assert EcmEligibilityInformation.objects.count() == 120
    assert PatientSearchText.objects.count() == 120
    with connection.cursor() as cursor:
        cursor.execute("SELECT total FROM patients_ecmpatientcount WHERE id = 1")
        assert cursor.fetchone()[0] == 120
        cursor.execute("SELECT to_regclass('patient_search_trgm')")
        assert cursor.fetchone()[0] is not None, "the search index was not rebuilt"
    info = EcmEligibilityInformation.objects.select_related("patient").order_by("pk").first()
    text = PatientSearchText.objects.get(patient_id=info.patient_id).search_text
    expected = (
        f"{info.patient.first_name} {info.patient.last_name}\x1f{info.member_id}\x1f{info.cin}"
    )
    assert text == expected.upper()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(patients) FROM patients_searchgramcount WHERE gram = lower(%s)",
            [info.member_id[-3:]],
        )
        kept = cursor.fetchone()[0]
    assert (
        kept
        == PatientSearchText.objects.filter(
            search_text__contains=info.member_id[-3:].upper()
        ).count()
    )


def test_a_build_counts_every_lead_care_managers_workload():
    from care_team.planning.workload import counted_patients

    connection.close()
    dataset.build(_url(), 200, log=lambda _: None)
    stored = counted_patients()
    assert stored == counted_patients(stored=False)
    assert sum(n for (holder, _, _), n in stored.items() if holder is not None) > 100
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('care_team_workloadcount_group')")
        assert cursor.fetchone()[0] is not None, "the counts' index was not rebuilt"


def test_a_build_dates_the_authorizations_around_its_day_and_keeps_the_worklist_counts():
    from patients import worklist
    from patients.selectors import ecm_patients

    built_on = dt.date(2026, 3, 15)
    connection.close()
    dataset.build(_url(), 400, log=lambda _: None, today=built_on)
    with psycopg.connect(_url(), autocommit=True) as conn:
        marker = dataset.read_marker(conn)
    assert marker.detail[dataset.AUTHORIZATIONS_DATED] == "2026-03-15"
    expiring = ecm_patients().filter(worklist.expiring_within(30, on=built_on, stored=False))
    missing = ecm_patients().filter(worklist.missing_active(True, on=built_on))
    assert worklist.expiring_count(30, on=built_on) == expiring.count()
    assert worklist.missing_active_count(True, on=built_on) == missing.count()
    # A worklist of a live programme: some expiring soon, a share without an active one.
    assert 10 <= expiring.count() <= 60
    assert 100 <= missing.count() <= 240
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('patients_authcoverage_latest_end')")
        assert cursor.fetchone()[0] is not None, "the end dates' index was not rebuilt"


def test_prewarm_loads_the_apps_tables_and_indexes():
    from bench.machine import prewarm

    connection.close()
    built = dataset.build(_url(), 30, log=lambda _: None)
    assert built.patients == 30
    with psycopg.connect(_url(), autocommit=True) as conn:
        warmed = prewarm(conn)
        if "error" in warmed:
            pytest.skip(f"pg_prewarm is not installed here: {warmed['error']}")
        expected = conn.execute(
            "SELECT sum(pg_relation_size(oid)) / 8192 FROM pg_class"
            " WHERE relname IN ('patients_patient', 'patients_patient_pkey')"
        ).fetchone()[0]
    assert warmed["blocks"] >= expected > 0
    assert warmed["data_mb"] * 2**20 >= warmed["blocks"] * 8192
