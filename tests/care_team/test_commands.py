import csv
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from care_team.models import CaseLoad, LcmAssignmentHistory
from patients.models import Activity
from tests import factories

pytestmark = pytest.mark.django_db


def write_csv(path, rows: list[list]) -> str:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def run(*args, **options) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("bulk_assign_lcms", *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def test_assigns_by_ids(tmp_path, patient, jane, bob, dr_smith):
    other = factories.ecm_patient()
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["patient_id", "olcm_user_id", "ilcm_user_id", "provider_id"],
            [patient.pk, jane.pk, bob.pk, dr_smith.pk],
            [other.pk, bob.pk, "", ""],
        ],
    )

    stdout, _ = run(path, reason="Quarterly rebalance")

    assert stdout.strip() == "Processed 2 rows: 2 assigned, 0 failed"
    case_load = CaseLoad.objects.get(patient=patient)
    assert (case_load.olcm_id, case_load.ilcm_id, case_load.provider_id) == (
        jane.pk,
        bob.pk,
        dr_smith.pk,
    )
    assert CaseLoad.objects.get(patient=other).olcm_id == bob.pk
    history = LcmAssignmentHistory.objects.all()
    assert history.count() == 4
    assert {h.acted_by_name for h in history} == {"Bulk Assign Command"}
    assert {h.acted_by_id for h in history} == {None}
    assert {h.reason for h in history} == {"Quarterly rebalance"}
    assert {a.actor_name for a in Activity.objects.all()} == {"Bulk Assign Command"}


def test_assigns_by_member_id_and_email_with_an_actor(tmp_path, jane, bob, admin):
    patient = factories.ecm_patient(member_id="MEM-001")
    path = write_csv(
        tmp_path / "in.csv",
        [["member_id", "olcm_email", "ilcm_email"], ["MEM-001", "JANE@example.org", bob.email]],
    )

    run(path, actor_email=admin.email)

    case_load = CaseLoad.objects.get(patient=patient)
    assert (case_load.olcm_id, case_load.ilcm_id) == (jane.pk, bob.pk)
    assert {h.acted_by_id for h in LcmAssignmentHistory.objects.all()} == {admin.pk}
    assert {h.acted_by_name for h in LcmAssignmentHistory.objects.all()} == {"Ada Admin"}


def test_failed_rows_are_reported_by_line_and_good_rows_land(tmp_path, patient, jane):
    inactive = factories.lcm_user(is_active=False, email="gone@example.org")
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["patient_id", "member_id", "olcm_user_id", "olcm_email"],
            [patient.pk, "", jane.pk, ""],
            [987_654, "", jane.pk, ""],
            ["", "NOPE", jane.pk, ""],
            [patient.pk, "", "", "gone@example.org"],
            ["abc", "", jane.pk, ""],
            [patient.pk, "MEM", jane.pk, ""],
            ["", "", jane.pk, ""],
            [patient.pk, "", "", ""],
        ],
    )
    results = tmp_path / "results.csv"

    with pytest.raises(CommandError, match="7 of 8 rows failed"):
        run(path, results=str(results))

    assert CaseLoad.objects.get(patient=patient).olcm_id == jane.pk
    with results.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["patient_id"], r["member_id"], r["status"]) for r in rows] == [
        ("2", str(patient.pk), "", "success"),
        ("3", "987654", "", "failed"),
        ("4", "", "NOPE", "failed"),
        ("5", str(patient.pk), "", "failed"),
        ("6", "abc", "", "failed"),
        ("7", str(patient.pk), "MEM", "failed"),
        ("8", "", "", "failed"),
        ("9", str(patient.pk), "", "failed"),
    ]
    assert [r["errors"] for r in rows] == [
        "",
        "Patient not found",
        "Patient not found",
        "olcm_email gone@example.org is not an active Lead Care Manager",
        "patient_id must be an integer",
        "Give patient_id or member_id, not both",
        "patient_id or member_id is required",
        "At least one of olcm_user_id or ilcm_user_id must be provided",
    ]
    assert inactive.pk


def test_failures_go_to_stderr_with_line_numbers_and_summary_to_stdout(tmp_path, patient, jane):
    path = write_csv(
        tmp_path / "in.csv",
        [["patient_id", "olcm_user_id"], [patient.pk, jane.pk], [987_654, jane.pk]],
    )
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("bulk_assign_lcms", path, stdout=stdout, stderr=stderr)
    assert stdout.getvalue().strip() == "Processed 2 rows: 1 assigned, 1 failed"
    assert "line 3: Patient not found" in stderr.getvalue()


def test_dry_run_writes_nothing(tmp_path, patient, jane):
    path = write_csv(tmp_path / "in.csv", [["patient_id", "olcm_user_id"], [patient.pk, jane.pk]])

    stdout, _ = run(path, dry_run=True)

    assert stdout.strip() == "Processed 1 rows: 1 assigned, 0 failed (dry run: nothing written)"
    assert not CaseLoad.objects.exists()
    assert not LcmAssignmentHistory.objects.exists()
    assert not Activity.objects.exists()


def test_more_rows_than_one_chunk(tmp_path, jane, bob):
    patients = [factories.ecm_patient() for _ in range(3)]
    rows = [["patient_id", "olcm_user_id"]]
    # 1,203 rows over three patients, alternating LCMs: every row is a real change
    for n in range(1203):
        rows.append([patients[n % 3].pk, (jane if (n // 3) % 2 == 0 else bob).pk])
    path = write_csv(tmp_path / "in.csv", rows)

    stdout, _ = run(path)

    assert stdout.strip() == "Processed 1203 rows: 1203 assigned, 0 failed"
    assert LcmAssignmentHistory.objects.count() == 1203
    assert CaseLoad.objects.count() == 3
    # row 1,201..1,203 set jane (n // 3 == 400 is even)
    assert {c.olcm_id for c in CaseLoad.objects.all()} == {jane.pk}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["olcm_user_id"], "patient_id or member_id"),
        (["patient_id", "provider_id"], "at least one of"),
        (["patient_id", "olcm_user_id", "notes"], "Unknown columns: notes"),
        (["patient_id", "olcm_user_id", "olcm_user_id"], "repeats a column"),
    ],
)
def test_bad_header_is_an_error(tmp_path, header, message):
    path = write_csv(tmp_path / "in.csv", [header, ["1"] * len(header)])
    with pytest.raises(CommandError, match=message):
        run(path)
    assert not CaseLoad.objects.exists()


def test_unreadable_or_empty_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "missing.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="header row is required"):
        run(str(empty))
    binary = tmp_path / "binary.csv"
    binary.write_bytes("patient_id,olcm_user_id\n1,2\n".encode("utf-16"))
    with pytest.raises(CommandError, match="is it a CSV file saved as UTF-8"):
        run(str(binary))


def test_unknown_actor_is_an_error(tmp_path, patient, jane):
    path = write_csv(tmp_path / "in.csv", [["patient_id", "olcm_user_id"], [patient.pk, jane.pk]])
    with pytest.raises(CommandError, match="--actor-email"):
        run(path, actor_email="nobody@example.org")
    assert not CaseLoad.objects.exists()
