"""The importers write chunk by chunk: each chunk's valid rows in one transaction, in line order;
a chunk that fails is rolled back whole and the import stops at its first line, keeping the
chunks before it.

These tests run outside a test transaction (``transaction=True``), as the commands run in
production, so each chunk's transaction commits for real.
"""

import pytest
from django.db import connection

from patients import importers
from patients.models import EcmEligibilityInformation, EcmStatusHistory, Patient
from tests import factories
from tests.patients.test_import_members import HEADER, member, records

pytestmark = pytest.mark.django_db(transaction=True)


def transactions_by_line() -> list[list[int]]:
    """The lines of the patients created, grouped by the transaction that wrote them (the
    row's ``xmin`` on PostgreSQL), in line order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text, first_name FROM patients_patient")
        groups: dict[str, list[int]] = {}
        for transaction_id, first_name in cursor.fetchall():
            groups.setdefault(transaction_id, []).append(int(first_name[1:]))
    return sorted(sorted(lines) for lines in groups.values())


def _rows(count: int, first_line: int = 2) -> list[tuple[int, dict]]:
    return [
        (line, member(f"MEM{line:010d}", first_name=f"N{line}"))
        for line in range(first_line, first_line + count)
    ]


def test_each_chunk_is_written_in_one_transaction_in_line_order():
    rows = _rows(11)
    rows[3] = (5, member("MEM0000000005", gender="robot"))  # fails validation
    rows[8] = (10, member("MEM0000000003"))  # a member already in the file
    progress = []

    report = importers.import_members(
        header=HEADER, records=records(rows), chunk_size=6, on_progress=progress.append
    )

    assert (report.created, report.updated, report.unchanged) == (9, 0, 0)
    assert [str(error) for error in report.errors] == [
        "line 5: Gender must be one of: male, female, other, unknown",
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

    # chunks: lines 2-7 (valid: 2, 3, 4, 6, 7) and 8-12 (valid: 8, 9, 11, 12), each in a
    # transaction of its own
    if connection.vendor == "postgresql":
        assert transactions_by_line() == [[2, 3, 4, 6, 7], [8, 9, 11, 12]]


def test_updates_and_authorizations_chunk_by_chunk():
    factories.ecm_patient(member_id="MEM0000000002", member_record_status="new_member")
    rows = [
        (2, member("MEM0000000002", member_record_status="continuing_member")),
        (3, member("MEM0000000003")),
        (4, member("MEM0000000004")),
    ]

    report = importers.import_members(header=HEADER, records=records(rows), chunk_size=10)
    authorizations = importers.import_authorizations(
        header=["member_id", "auth_no", "status"],
        records=records(
            [
                (2, {"member_id": "MEM0000000002", "auth_no": "A1", "status": "Approved"}),
                (3, {"member_id": "MEM0000000003", "auth_no": "A2", "status": "Approved"}),
                (4, {"member_id": "MEM0000000404", "auth_no": "A3", "status": "Approved"}),
            ]
        ),
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
def test_a_failing_chunk_writes_none_of_its_lines_and_keeps_the_chunks_before(
    refuse_patients_named,
):
    refuse_patients_named("N9", "connection lost")
    rows = _rows(12)
    rows[3] = (5, member("MEM0000000005", first_name="N5", gender="robot"))

    with pytest.raises(importers.ImportInterrupted) as info:
        importers.import_members(header=HEADER, records=records(rows), chunk_size=4)

    # chunks: lines 2-5 (line 5 failed validation), 6-9 (line 9 refused), 10-13
    message = str(info.value)
    assert message.startswith("import stopped at line 6 (OperationalError: connection lost")
    assert message.endswith("; nothing from line 6 on was written")
    assert info.value.first_line == 6
    report = info.value.report
    assert report.created == 3
    assert [str(error) for error in report.errors] == [
        "line 5: Gender must be one of: male, female, other, unknown"
    ]
    written = sorted(int(name[1:]) for name in Patient.objects.values_list("first_name", flat=True))
    assert written == [2, 3, 4]


def test_a_failing_first_chunk_writes_nothing(refuse_patients_named):
    refuse_patients_named("N3", "disk full")

    with pytest.raises(importers.ImportInterrupted) as info:
        importers.import_members(header=HEADER, records=records(_rows(12)), chunk_size=4)

    assert str(info.value).endswith("; nothing from line 2 on was written")
    assert info.value.first_line == 2
    assert info.value.report.created == 0
    assert not Patient.objects.exists()
