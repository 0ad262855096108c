"""PostgreSQL: the latest end dates and the counts by day that triggers keep for the worklist
filters (migration 0012) agree with the rule read from the authorizations themselves, after
every kind of write: inserts, status and date changes, deletes, an authorization moved to
another patient, a patient becoming or ceasing to be an ECM patient, a TRUNCATE."""

import datetime as dt
import random
import threading

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from patients import selectors, worklist
from patients.models import EcmAuthorization, EcmEligibilityInformation
from tests import factories

pytestmark = pytest.mark.postgres

BASE = dt.date(2026, 3, 15)
STATUSES = ["Approved", "APPROVED", "approved", "pending", "denied", ""]


def _offset(rng: random.Random) -> dt.date:
    return BASE + dt.timedelta(days=rng.randint(-400, 300))


def _random_authorization(rng: random.Random, patient) -> EcmAuthorization:
    start = None if rng.random() < 0.1 else _offset(rng)
    if rng.random() < 0.1:
        end = None
    elif start is None:
        end = _offset(rng)
    else:
        end = start + dt.timedelta(days=rng.choice([0, 1, 30, 90, 181, 364, rng.randint(0, 400)]))
    return factories.AuthorizationFactory(
        patient=patient, status=rng.choice(STATUSES), start_date=start, expiration_date=end
    )


def _world(rng: random.Random, size: int = 60) -> list:
    patients = []
    for number in range(size):
        patient = factories.ecm_patient() if number % 10 else factories.PatientFactory()
        for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
            _random_authorization(rng, patient)
        patients.append(patient)
    return patients


def _days(rng: random.Random) -> list[dt.date]:
    """Days to check: around BASE and on the edges of the stored authorizations."""
    edges = set(EcmAuthorization.objects.values_list("start_date", flat=True))
    edges |= set(EcmAuthorization.objects.values_list("expiration_date", flat=True))
    edges.discard(None)
    picked = rng.sample(sorted(edges), min(8, len(edges)))
    around = [edge + dt.timedelta(days=shift) for edge in picked for shift in (-1, 0, 1)]
    return [BASE, *around]


def _ids(condition) -> set[int]:
    return set(selectors.ecm_patients().filter(condition).values_list("pk", flat=True))


def assert_kept_agrees(rng: random.Random) -> None:
    for on in _days(rng):
        for days in (0, 1, 30, 365):
            stored = _ids(worklist.expiring_within(days, on=on, stored=True))
            read = _ids(worklist.expiring_within(days, on=on, stored=False))
            assert stored == read, (on, days)
            assert worklist.expiring_count(days, on=on) == len(read), (on, days)
        for missing in (True, False):
            read = _ids(worklist.missing_active(missing, on=on))
            assert worklist.missing_active_count(missing, on=on) == len(read), (on, missing)


def _kept_tables() -> tuple[list, list]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT patient_id, latest_end::text, coverage::text"
            " FROM patients_authorizationcoverage ORDER BY patient_id"
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT measure, day::text, sum(patients) FROM patients_authorizationdaycount"
            " GROUP BY measure, day HAVING sum(patients) <> 0 ORDER BY measure, day"
        )
        return rows, cursor.fetchall()


@pytest.mark.django_db
def test_the_kept_rows_follow_every_kind_of_write():
    rng = random.Random(20260315)
    patients = _world(rng)
    assert_kept_agrees(rng)

    # Statuses and dates change (one statement for many rows, and row by row).
    authorizations = list(EcmAuthorization.objects.order_by("pk"))
    for authorization in rng.sample(authorizations, len(authorizations) // 3):
        authorization.status = rng.choice(STATUSES)
        authorization.save(update_fields=["status"])
    EcmAuthorization.objects.filter(pk__in=[a.pk for a in authorizations[::4]]).update(
        expiration_date=None
    )
    assert_kept_agrees(rng)

    # Authorizations move to another patient, others are deleted, new ones arrive.
    for authorization in rng.sample(authorizations, 6):
        authorization.patient = rng.choice(patients)
        authorization.save(update_fields=["patient"])
    EcmAuthorization.objects.filter(pk__in=[a.pk for a in rng.sample(authorizations, 8)]).delete()
    for patient in rng.sample(patients, 10):
        _random_authorization(rng, patient)
    assert_kept_agrees(rng)

    # Patients stop being ECM patients (eligibility deleted), others become ECM patients.
    EcmEligibilityInformation.objects.filter(
        patient_id__in=[p.pk for p in patients[1:20:3]]
    ).delete()
    for patient in patients[0:60:10]:  # the ones created without eligibility
        factories.EligibilityFactory(patient=patient)
    assert_kept_agrees(rng)

    # The rebuild (what a load with triggers off runs) writes what the triggers kept.
    kept = _kept_tables()
    with connection.cursor() as cursor:
        cursor.execute("SELECT patients_authorization_coverage_rebuild()")
    assert _kept_tables() == kept
    assert_kept_agrees(rng)


@pytest.mark.django_db
def test_a_truncate_counts_again():
    rng = random.Random(7)
    _world(rng, size=20)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no foreign-key check left pending
        cursor.execute("TRUNCATE patients_ecmauthorization")
    assert worklist.missing_active_count(True, on=BASE) == selectors.ecm_patient_count() == 18
    assert worklist.missing_active_count(False, on=BASE) == 0
    assert worklist.expiring_count(365, on=BASE) == 0
    assert _kept_tables() == ([], [])


def test_the_open_ends_count_from_and_until_always(db):
    patient = factories.ecm_patient()
    factories.AuthorizationFactory(patient=patient, start_date=None, expiration_date=None)
    for on in (dt.date(1, 1, 1), BASE, dt.date(9999, 12, 31)):
        assert worklist.missing_active_count(False, on=on) == 1
        assert worklist.expiring_count(365, on=on) == 0


# --- committed transactions ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_transaction_merges_its_day_counts_as_it_commits():
    rng = random.Random(11)
    patients = [factories.ecm_patient() for _ in range(5)]
    for _ in range(4):
        with transaction.atomic():
            for patient in patients:
                factories.AuthorizationFactory(
                    patient=patient,
                    status="Approved",
                    start_date=BASE,
                    expiration_date=BASE + dt.timedelta(days=rng.choice([10, 20])),
                )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT (measure, day)) FROM patients_authorizationdaycount"
        )
        rows, groups = cursor.fetchone()
    assert rows == groups
    assert_kept_agrees(rng)


@pytest.mark.django_db(transaction=True)
def test_two_writers_of_one_patient_recompute_one_after_the_other():
    """The second writer waits for the first (the patient row lock) and reads what it
    committed: neither authorization is lost from the kept rows."""
    patient = factories.ecm_patient()
    first_wrote = threading.Event()
    errors: list[BaseException] = []

    def first():
        try:
            with transaction.atomic():
                factories.AuthorizationFactory(
                    patient=patient, start_date=BASE, expiration_date=BASE + dt.timedelta(days=5)
                )
                first_wrote.set()
                # The second writer's statement now waits for this transaction.
                threading.Event().wait(0.5)
        except BaseException as exc:
            errors.append(exc)
        finally:
            first_wrote.set()
            connection.close()

    def second():
        try:
            first_wrote.wait(5)
            factories.AuthorizationFactory(
                patient=patient,
                start_date=BASE + dt.timedelta(days=20),
                expiration_date=BASE + dt.timedelta(days=40),
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    assert worklist.expiring_count(40, on=BASE) == 1
    assert worklist.expiring_count(5, on=BASE) == 0
    assert worklist.missing_active_count(False, on=BASE + dt.timedelta(days=30)) == 1
    assert worklist.missing_active_count(True, on=BASE + dt.timedelta(days=10)) == 1
    assert_kept_agrees(random.Random(3))


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_kept_rows_of_the_patients_there_are():
    """Migration 0012 on a database that already holds authorizations (and whose counts by
    day have pending trigger events until it commits)."""
    executor = MigrationExecutor(connection)
    before = [("patients", "0011_member_id_unique_regardless_of_case")]
    executor.migrate(before)
    try:
        rng = random.Random(12)
        _world(rng, size=30)
        executor.loader.build_graph()
        executor.migrate([("patients", "0012_authorization_coverage")])
        assert_kept_agrees(rng)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
