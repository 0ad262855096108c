"""The importers with their writers: on PostgreSQL, outside a transaction, each chunk's rows are
written by two writer threads with their own connections, the first half of the chunk's lines
by one and the second half by the other (one writer on SQLite and inside a transaction).

These tests run outside a test transaction (``transaction=True``), as the commands run in
production, so on PostgreSQL they exercise the threads for real.
"""

import threading

import pytest
from django.db import DatabaseError, connection

from ecm_admin.writers import WRITERS
from patients import importers
from patients.models import EcmEligibilityInformation, EcmStatusHistory, Patient
from tests import factories
from tests.patients.test_import_members import HEADER, member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def writers(monkeypatch) -> list[tuple[str, list[int]]]:
    """``(thread name, lines)`` of every part a writer wrote."""
    recorded: list[tuple[str, list[int]]] = []
    lock = threading.Lock()
    write = importers._ChunkImporter.write

    def recording(self, validated):
        with lock:
            recorded.append((threading.current_thread().name, [row[0] for row in validated[0]]))
        return write(self, validated)

    monkeypatch.setattr(importers._ChunkImporter, "write", recording)
    return recorded


def _rows(count: int, first_line: int = 2) -> list[tuple[int, dict]]:
    return [
        (line, member(f"MEM{line:010d}", first_name=f"N{line}"))
        for line in range(first_line, first_line + count)
    ]


def test_each_chunk_is_split_between_the_writers_in_line_order(writers):
    rows = _rows(11)
    rows[3] = (5, member("MEM0000000005", gender="robot"))  # fails validation
    rows[8] = (10, member("MEM0000000003"))  # a member already in the file
    progress = []

    report = importers.import_members(
        header=HEADER, rows=rows, chunk_size=6, on_progress=progress.append
    )

    assert (report.created, report.updated, report.unchanged) == (9, 0, 0)
    assert [str(error) for error in report.errors] == [
        "line 5: gender robot is not one of male, female, other, unknown",
        "line 10: member_id MEM0000000003 already appeared on line 3",
    ]
    assert progress == [6, 5]
    created = dict(
        EcmEligibilityInformation.objects.values_list("member_id", "patient__first_name")
    )
    expected = {f"MEM{line:010d}": f"N{line}" for line in (2, 3, 4, 6, 7, 8, 9, 11, 12)}
    assert created == expected
    assert EcmStatusHistory.objects.count() == 9
    # the audit record's patients: every created one, in the order of the file
    by_member = dict(EcmEligibilityInformation.objects.values_list("patient_id", "member_id"))
    assert [by_member[pk] for pk in report.patient_ids] == list(expected)

    # chunks: lines 2-7 (valid: 2, 3, 4, 6, 7) and 8-12 (valid: 8, 9, 11, 12)
    parts = sorted(lines for _, lines in writers)
    names = {name for name, _ in writers}
    if connection.vendor == "postgresql":
        assert parts == [[2, 3, 4], [6, 7], [8, 9], [11, 12]]
        assert len(names) == WRITERS
        assert threading.current_thread().name not in names
    else:
        assert parts == [[2, 3, 4, 6, 7], [8, 9, 11, 12]]
        assert names == {threading.current_thread().name}


def test_updates_and_authorizations_through_the_writers(writers):
    factories.ecm_patient(member_id="MEM0000000002", member_record_status="new_member")
    rows = [
        (2, member("MEM0000000002", member_record_status="continuing_member")),
        (3, member("MEM0000000003")),
        (4, member("MEM0000000004")),
    ]

    report = importers.import_members(header=HEADER, rows=rows, chunk_size=10)
    authorizations = importers.import_authorizations(
        header=["member_id", "auth_no", "status"],
        rows=[
            (2, {"member_id": "MEM0000000002", "auth_no": "A1", "status": "Approved"}),
            (3, {"member_id": "MEM0000000003", "auth_no": "A2", "status": "Approved"}),
            (4, {"member_id": "MEM0000000404", "auth_no": "A3", "status": "Approved"}),
        ],
        chunk_size=10,
    )

    assert (report.created, report.updated) == (2, 1)
    stored = EcmEligibilityInformation.objects.get(member_id="MEM0000000002")
    assert stored.member_record_status == "continuing_member"
    assert authorizations.created == 2
    assert [str(error) for error in authorizations.errors] == [
        "line 4: member_id MEM0000000404 is not an ECM member"
    ]


@pytest.mark.postgres
def test_a_failing_first_part_names_its_lines_and_keeps_the_second(monkeypatch):
    """The first writer's transaction fails: its lines are not written; the second writer's
    are, and are in the report; nothing after the chunk is."""
    save = importers._MemberImporter._save

    def failing(self, writes):
        if any(change.patient_changes["first_name"] == "N3" for change in writes.new):
            raise DatabaseError("connection lost")
        save(self, writes)

    monkeypatch.setattr(importers._MemberImporter, "_save", failing)
    rows = _rows(12)
    rows[3] = (5, member("MEM0000000005", first_name="N5", gender="robot"))

    with pytest.raises(importers.ImportInterrupted) as info:
        importers.import_members(header=HEADER, rows=rows, chunk_size=4)

    # chunk 1: lines 2-5, valid 2, 3, 4: parts 2-3 and 4-5 (line 5 failed validation)
    assert str(info.value) == (
        "import stopped at line 2 (DatabaseError: connection lost); "
        "lines 2-3 and everything after line 5 were not written"
    )
    report = info.value.report
    assert report.created == 1
    assert [str(error) for error in report.errors] == [
        "line 5: gender robot is not one of male, female, other, unknown"
    ]
    assert list(Patient.objects.values_list("first_name", flat=True)) == ["N4"]


@pytest.mark.postgres
def test_a_failing_second_part_stops_the_import_at_its_first_line(monkeypatch):
    save = importers._MemberImporter._save

    def failing(self, writes):
        if any(change.patient_changes["first_name"] == "N8" for change in writes.new):
            raise DatabaseError("disk full")
        save(self, writes)

    monkeypatch.setattr(importers._MemberImporter, "_save", failing)

    with pytest.raises(importers.ImportInterrupted) as info:
        importers.import_members(header=HEADER, rows=_rows(12), chunk_size=4)

    assert str(info.value) == (
        "import stopped at line 8 (DatabaseError: disk full); nothing from line 8 on was written"
    )
    assert info.value.first_line == 8
    assert info.value.report.created == 6
    written = sorted(int(name[1:]) for name in Patient.objects.values_list("first_name", flat=True))
    assert written == [2, 3, 4, 5, 6, 7]
