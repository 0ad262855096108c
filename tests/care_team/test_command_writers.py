"""``bulk_assign_lcms`` with its writers: on PostgreSQL each chunk is split by patient between
writer threads with their own connections (one writer on SQLite, and inside a transaction).

These tests run outside a test transaction (``transaction=True``), as the command runs in
production, so on PostgreSQL they exercise the threads for real.
"""

import csv
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from care_team.management.commands import bulk_assign_lcms as command
from care_team.models import CaseLoad, LcmAssignmentHistory
from ecm_admin.writers import WRITERS
from patients.models import Activity
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

MISSING_PATIENT = 987_654


def write_csv(path, rows: list[list]) -> str:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, list[int]]]:
    """``(thread name, patient ids)`` of every call the command makes to the service."""
    recorded: list[tuple[str, list[int]]] = []
    lock = threading.Lock()
    service = command.care_team_bulk_assign

    def recording(*, assignments, **kwargs):
        ids = [item.patient_id for item in assignments if isinstance(item, command.Assignment)]
        with lock:
            recorded.append((threading.current_thread().name, ids))
        return service(assignments=assignments, **kwargs)

    monkeypatch.setattr(command, "care_team_bulk_assign", recording)
    return recorded


def _workload(tmp_path, patients, lcms, inactive, count: int):
    """``count`` rows over ``patients`` (each row a real change), with failing rows mixed in.

    Returns the file, the expected ``(line, status, errors)`` per row and, per patient, the
    oLCMs its successful rows set, in file order.
    """
    rows = [["patient_id", "olcm_user_id"]]
    expected: list[tuple[str, str, str]] = []
    chains: dict[int, list[int]] = {patient.pk: [] for patient in patients}
    for n in range(count):
        line = str(n + 2)
        patient = patients[n % len(patients)]
        lcm = lcms[(n // len(patients)) % len(lcms)]
        if n % 97 == 5:
            rows.append([MISSING_PATIENT, lcm.pk])
            expected.append((line, "failed", "Patient not found"))
        elif n % 101 == 7:
            rows.append([patient.pk, inactive.pk])
            message = f"olcm_user_id {inactive.pk} is not an active Lead Care Manager"
            expected.append((line, "failed", message))
        else:
            rows.append([patient.pk, lcm.pk])
            expected.append((line, "success", ""))
            if not chains[patient.pk] or chains[patient.pk][-1] != lcm.pk:
                chains[patient.pk].append(lcm.pk)
    return write_csv(tmp_path / "in.csv", rows), expected, chains


def test_rows_of_a_patient_are_applied_in_file_order(tmp_path, calls):
    patients = [factories.ecm_patient() for _ in range(7)]
    lcms = [factories.lcm_user() for _ in range(3)]
    inactive = factories.lcm_user(is_active=False)
    # three chunks; every patient appears in every chunk, many times
    path, expected, chains = _workload(tmp_path, patients, lcms, inactive, 2345)
    failed = sum(1 for _, status, _ in expected if status == "failed")
    results = tmp_path / "results.csv"
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(CommandError, match=f"^{failed} of 2345 rows failed$"):
        call_command("bulk_assign_lcms", path, results=str(results), stdout=stdout, stderr=stderr)

    assert stdout.getvalue().strip() == (
        f"Processed 2345 rows: {2345 - failed} assigned, {failed} failed"
    )
    reported = stderr.getvalue().splitlines()
    assert reported == [
        f"line {line}: {errors}" for line, status, errors in expected if status == "failed"
    ]
    with results.open(newline="") as handle:
        written = [(r["line"], r["status"], r["errors"]) for r in csv.DictReader(handle)]
    assert written == expected
    for patient in patients:
        history = list(
            LcmAssignmentHistory.objects.filter(patient=patient)
            .order_by("id")
            .values_list("previous_user_id", "new_user_id")
        )
        chain = chains[patient.pk]
        assert history == list(zip([None, *chain[:-1]], chain, strict=True))
        assert CaseLoad.objects.get(patient=patient).olcm_id == chain[-1]
    assert Activity.objects.count() == LcmAssignmentHistory.objects.count()

    writers = {name for name, _ in calls}
    if connection.vendor == "postgresql":
        assert len(writers) == WRITERS
        assert threading.current_thread().name not in writers
    else:
        assert writers == {threading.current_thread().name}
    # every patient is always handled by the same writer
    writer_of: dict[int, set[str]] = {}
    for name, ids in calls:
        for patient_id in ids:
            writer_of.setdefault(patient_id, set()).add(name)
    assert all(len(names) == 1 for names in writer_of.values())


def test_dry_run_with_writers_writes_nothing(tmp_path, calls):
    patients = [factories.ecm_patient() for _ in range(4)]
    lcms = [factories.lcm_user() for _ in range(2)]
    inactive = factories.lcm_user(is_active=False)
    path, expected, _ = _workload(tmp_path, patients, lcms, inactive, 1100)
    failed = sum(1 for _, status, _ in expected if status == "failed")
    stdout = StringIO()

    with pytest.raises(CommandError, match=f"^{failed} of 1100 rows failed$"):
        call_command("bulk_assign_lcms", path, dry_run=True, stdout=stdout, stderr=StringIO())

    assert stdout.getvalue().strip() == (
        f"Processed 1100 rows: {1100 - failed} assigned, {failed} failed (dry run: nothing written)"
    )
    assert not CaseLoad.objects.exists()
    assert not LcmAssignmentHistory.objects.exists()
    assert not Activity.objects.exists()


def test_one_writer_inside_a_transaction(tmp_path, calls):
    """Other connections cannot see a caller's uncommitted rows: no writer threads then."""
    jane = factories.lcm_user()
    path = write_csv(tmp_path / "in.csv", [["patient_id", "olcm_user_id"]])
    with transaction.atomic():
        patients = [factories.ecm_patient() for _ in range(3)]
        write_csv(
            tmp_path / "in.csv",
            [["patient_id", "olcm_user_id"], *[[patient.pk, jane.pk] for patient in patients]],
        )
        stdout = StringIO()
        call_command("bulk_assign_lcms", path, stdout=stdout, stderr=StringIO())

    assert stdout.getvalue().strip() == "Processed 3 rows: 3 assigned, 0 failed"
    assert {name for name, _ in calls} == {threading.current_thread().name}
    assert CaseLoad.objects.filter(olcm=jane).count() == 3


@pytest.mark.postgres
def test_a_failing_writer_reports_what_the_other_one_wrote(tmp_path, monkeypatch):
    """One writer's transaction fails: its rows are reported as not applied, the other
    writer's (committed) rows as applied and in the audit record, then the command stops."""
    from audit.models import AccessEvent

    jane = factories.lcm_user()
    patients = [factories.ecm_patient() for _ in range(6)]
    doomed = {patient.pk for patient in patients if patient.pk % WRITERS == 0}
    service = command.care_team_bulk_assign

    def failing(*, assignments, **kwargs):
        if any(getattr(item, "patient_id", None) in doomed for item in assignments):
            raise DatabaseError("connection lost")
        return service(assignments=assignments, **kwargs)

    monkeypatch.setattr(command, "care_team_bulk_assign", failing)
    path = write_csv(
        tmp_path / "in.csv",
        [["patient_id", "olcm_user_id"], *[[patient.pk, jane.pk] for patient in patients]],
    )
    results = tmp_path / "results.csv"

    with pytest.raises(DatabaseError, match="connection lost"):
        call_command("bulk_assign_lcms", path, results=str(results), stderr=StringIO())

    written = set(CaseLoad.objects.filter(olcm=jane).values_list("patient_id", flat=True))
    assert written == {patient.pk for patient in patients} - doomed
    with results.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    reported = {int(r["patient_id"]): (r["status"], r["errors"]) for r in rows}
    for patient in patients:
        if patient.pk in doomed:
            assert reported[patient.pk] == ("failed", command.NOT_WRITTEN)
        else:
            assert reported[patient.pk] == ("success", "")
    event = AccessEvent.objects.get(source="cmd:bulk_assign_lcms")
    assert event.status_code == 1
    assert set(event.patient_ids) == written
