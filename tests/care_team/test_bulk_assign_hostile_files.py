"""``bulk_assign_lcms`` with the hostile file of the import tests: each bad row is reported by
its first line (stderr and ``--results``) and skipped; every good row is assigned; a rerun
changes nothing and reports the same rows."""

import csv
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from care_team.models import CaseLoad, LcmAssignmentHistory
from tests import factories
from tests.patients.test_import_hostile_files import hostile_lines

pytestmark = pytest.mark.django_db


def run(path, results) -> tuple[str, str, CommandError]:
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError) as info:
        call_command(
            "bulk_assign_lcms", str(path), results=str(results), stdout=stdout, stderr=stderr
        )
    return stdout.getvalue(), stderr.getvalue(), info.value


def test_bad_rows_are_reported_by_line_and_every_good_row_is_assigned(tmp_path, jane):
    patients = {n: factories.ecm_patient(member_id=f"MEM-{n}") for n in range(8)}

    def good(n: int) -> bytes:
        return b"MEM-%d,jane@example.org" % n

    def bad(n: int, cell: bytes) -> tuple[bytes, str]:
        if cell.startswith((b"Bad", b"Jos")):
            return b"%s,jane@example.org" % cell, "member_id"
        return b"MEM-%d,%s" % (n, cell), "olcm_email"

    content, good_lines, errors = hostile_lines(good, bad)
    path = tmp_path / "in.csv"
    path.write_bytes(b"member_id,olcm_email\n" + content)
    results = tmp_path / "results.csv"

    out, err, error = run(path, results)

    assert out == "Processed 15 rows: 8 assigned, 7 failed\n"
    assert err.splitlines() == errors
    assert str(error) == "7 of 15 rows failed"
    assigned = set(CaseLoad.objects.filter(olcm=jane).values_list("patient_id", flat=True))
    assert assigned == {patient.pk for patient in patients.values()}
    with results.open(newline="", encoding="utf-8") as handle:
        reported = [(r["line"], r["status"], r["errors"]) for r in csv.DictReader(handle)]
    good = {line: "success" for line in good_lines.values()}
    failed = {int(message.split(":")[0][5:]): message.split(": ", 1)[1] for message in errors}
    assert reported == [
        (str(line), good.get(line, "failed"), failed.get(line, ""))
        for line in sorted([*good, *failed])
    ]
    history = LcmAssignmentHistory.objects.count()
    assert history == 8

    out, err, _ = run(path, tmp_path / "again.csv")

    assert out == "Processed 15 rows: 8 assigned, 7 failed\n"
    assert err.splitlines() == errors
    assert LcmAssignmentHistory.objects.count() == history
    assert (tmp_path / "again.csv").read_bytes() == results.read_bytes()
