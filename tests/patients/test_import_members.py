"""import_members: the eligibility feed (API.md §5) and the importer service behind it."""

import csv
import datetime as dt
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ecm_admin.csvfiles import Record
from patients import importers
from patients.choices import SYSTEM_IMPORT, ActivityKind
from patients.models import Activity, EcmEligibilityInformation, EcmStatusHistory, Patient
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = [
    "member_id",
    "cin",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "phone",
    "email",
    "street",
    "city",
    "state",
    "zip",
    "ecm_service_auth_id",
    "ecm_provider_name",
    "ecm_npi",
    "ecm_benefit_auth_eff_date",
    "ecm_benefit_auth_end_date",
    "acuity_level",
    "member_record_status",
]


def member(member_id="MEM0000000001", **overrides) -> dict[str, str]:
    row = {
        "member_id": member_id,
        "cin": "91234567A",
        "first_name": "John",
        "last_name": "Doe",
        "date_of_birth": "2010-05-15",
        "gender": "male",
        "phone": "+18051234567",
        "email": "john.doe@example.org",
        "street": "123 Main St",
        "city": "Los Angeles",
        "state": "CA",
        "zip": "90001",
        "ecm_service_auth_id": "AUTH123456",
        "ecm_provider_name": "Esteem Health PSC",
        "ecm_npi": "1234567893",
        "ecm_benefit_auth_eff_date": "2024-01-01",
        "ecm_benefit_auth_end_date": "2024-12-31",
        "acuity_level": "high",
        "member_record_status": "new_member",
    }
    row.update(overrides)
    return row


def records(rows: list[tuple[int, dict]]) -> list[Record]:
    """Rows as the CSV reader gives them to the importers: (line, cells by column)."""
    return [Record(line, row) for line, row in rows]


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(command: str, path: Path, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(command: str, path: Path, *args: str) -> tuple[str, str, CommandError]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as info:
        call_command(command, str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), info.value


def snapshot() -> dict[str, list]:
    """Everything an import may write, with timestamps, to compare before and after."""
    return {
        "patients": list(Patient.objects.order_by("id").values()),
        "eligibility": list(EcmEligibilityInformation.objects.order_by("id").values()),
        "history": list(EcmStatusHistory.objects.order_by("id").values()),
        "activities": list(Activity.objects.order_by("id").values()),
    }


@pytest.fixture
def members_csv(tmp_path):
    rows = [
        member("MEM0000000001"),
        member("MEM0000000002", first_name="Maria", last_name="Lopez", gender="female"),
        member("MEM0000000003", first_name="Ann", member_record_status=""),
    ]
    return write_csv(tmp_path / "members.csv", rows)


def test_import_creates_patients_eligibility_and_status_history(members_csv):
    out, err = run("import_members", members_csv)

    assert out == "Imported members.csv: 3 created, 0 updated, 0 unchanged, 0 failed\n"
    assert err == ""
    eligibility = EcmEligibilityInformation.objects.select_related("patient").get(
        member_id="MEM0000000001"
    )
    patient = eligibility.patient
    assert (patient.first_name, patient.last_name) == ("John", "Doe")
    assert patient.date_of_birth == dt.date(2010, 5, 15)
    assert (patient.street, patient.city, patient.state, patient.zip_code) == (
        "123 Main St",
        "Los Angeles",
        "CA",
        "90001",
    )
    assert patient.services == ["ecm"]
    assert eligibility.cin == "91234567A"
    assert eligibility.ecm_npi == "1234567893"
    assert eligibility.ecm_benefit_auth_end_date == dt.date(2024, 12, 31)
    assert eligibility.acuity_level == "high"
    history = EcmStatusHistory.objects.get(patient=patient)
    assert (history.status, history.changed_by, history.changed_by_user) == (
        "new_member",
        SYSTEM_IMPORT,
        None,
    )
    activity = Activity.objects.get(patient=patient)
    assert activity.kind == ActivityKind.STATUS_CHANGED
    assert activity.actor_name == SYSTEM_IMPORT
    assert activity.created_at == history.changed_at
    # An empty status gives a new member new_member.
    assert (
        EcmEligibilityInformation.objects.get(member_id="MEM0000000003").member_record_status
        == "new_member"
    )
    assert EcmStatusHistory.objects.count() == 3


def test_reimporting_the_same_file_writes_nothing(members_csv):
    run("import_members", members_csv)
    before = snapshot()

    with CaptureQueriesContext(connection) as queries:
        out, _ = run("import_members", members_csv)

    assert out == "Imported members.csv: 0 created, 0 updated, 3 unchanged, 0 failed\n"
    assert snapshot() == before
    statements = [q["sql"].lstrip().upper() for q in queries]
    writes = [sql for sql in statements if sql.startswith(("INSERT", "UPDATE", "DELETE"))]
    # Only the access audit records the run.
    assert [sql for sql in writes if "AUDIT_ACCESSEVENT" not in sql] == []


def test_status_change_on_reimport_records_one_system_import_entry(tmp_path):
    path = tmp_path / "members.csv"
    write_csv(path, [member(), member("MEM0000000002")])
    run("import_members", path)
    patient = Patient.objects.get(ecm_eligibility_information__member_id="MEM0000000001")
    other_before = snapshot()["patients"][1]

    write_csv(path, [member(member_record_status="continuing_member"), member("MEM0000000002")])
    out, _ = run("import_members", path)

    assert out == "Imported members.csv: 0 created, 1 updated, 1 unchanged, 0 failed\n"
    history = list(EcmStatusHistory.objects.filter(patient=patient).order_by("id"))
    assert [(h.status, h.changed_by) for h in history] == [
        ("new_member", SYSTEM_IMPORT),
        ("continuing_member", SYSTEM_IMPORT),
    ]
    activity = Activity.objects.filter(patient=patient).order_by("id").last()
    assert activity.metadata == {"from": "new_member", "to": "continuing_member"}
    assert EcmStatusHistory.objects.count() == 3
    assert Activity.objects.count() == 3
    assert snapshot()["patients"][1] == other_before


def test_changed_fields_update_without_history_when_status_is_unchanged(tmp_path):
    path = write_csv(tmp_path / "members.csv", [member()])
    run("import_members", path)
    patient = Patient.objects.get()
    eligibility = EcmEligibilityInformation.objects.get()

    write_csv(path, [member(phone="+18055550199", acuity_level="LOW", email="")])
    out, _ = run("import_members", path)

    assert "0 created, 1 updated, 0 unchanged" in out
    fresh = Patient.objects.get()
    assert (fresh.phone, fresh.email) == ("+18055550199", "")
    assert fresh.updated_at > patient.updated_at
    fresh_eligibility = EcmEligibilityInformation.objects.get()
    assert fresh_eligibility.acuity_level == "low"
    assert fresh_eligibility.updated_at > eligibility.updated_at
    assert EcmStatusHistory.objects.count() == 1


def test_columns_absent_from_the_header_are_left_untouched(tmp_path):
    factories.ecm_patient(
        member_id="MEM0000000001",
        cin="CIN123456",
        acuity_level="medium",
        member_record_status="continuing_member",
        patient__phone="+18050000000",
        patient__first_name="Jon",
    )
    header = ["member_id", "first_name", "last_name", "member_record_status"]
    path = write_csv(tmp_path / "members.csv", [member(member_record_status="")], header)

    out, _ = run("import_members", path)

    assert "1 updated" in out
    eligibility = EcmEligibilityInformation.objects.select_related("patient").get()
    assert eligibility.patient.first_name == "John"
    assert eligibility.patient.phone == "+18050000000"
    assert eligibility.cin == "CIN123456"
    assert eligibility.acuity_level == "medium"
    # A blank status keeps an existing member's status.
    assert eligibility.member_record_status == "continuing_member"
    assert not EcmStatusHistory.objects.exists()


def test_bad_rows_are_reported_by_line_and_skipped_while_good_rows_land(tmp_path):
    rows = [
        member("MEM0000000001"),  # line 2
        member("MEM0000000002", ecm_npi="123"),  # 3
        member("", first_name=""),  # 4
        member("MEM0000000004", date_of_birth="2024-02-30"),  # 5
        member("MEM0000000005", ecm_benefit_auth_end_date="2023-12-31"),  # 6
        member("MEM0000000006", acuity_level="urgent"),  # 7
        member("MEM0000000007", member_record_status="active"),  # 8
        member("MEM0000000008", gender="m"),  # 9
        member("MEM0000000009", cin="1234"),  # 10
        member("MEM0000000010", email="not-an-email"),  # 11
        member("MEM0000000001", first_name="Johnny"),  # 12: duplicate of line 2
        member("MEM0000000012", state="California"),  # 13
        member("MEM0000000013"),  # 14
    ]
    path = write_csv(tmp_path / "members.csv", rows)

    out, err, error = run_failing("import_members", path)

    assert out == "Imported members.csv: 2 created, 0 updated, 0 unchanged, 11 failed\n"
    assert err.splitlines() == [
        "line 3: ECM NPI is not a valid NPI (10 digits with a valid check digit)",
        "line 4: First name can't be blank; Member ID can't be blank",
        "line 5: Date of birth must be a valid date (YYYY-MM-DD)",
        "line 6: ECM benefit auth end date can't be before the ECM benefit auth effective date",
        "line 7: Acuity level must be one of: low, medium, high",
        "line 8: Member record status must be one of: new_member, continuing_member, "
        "pending_member, terminated_member, inactive_member",
        "line 9: Gender must be one of: male, female, other, unknown",
        "line 10: CIN must be 9 letters or digits",
        "line 11: Email is not a valid email address",
        "line 12: member_id MEM0000000001 already appeared on line 2",
        "line 13: State is too long (maximum is 2 characters)",
    ]
    assert "11 rows failed" in str(error)
    assert sorted(EcmEligibilityInformation.objects.values_list("member_id", flat=True)) == [
        "MEM0000000001",
        "MEM0000000013",
    ]
    first = Patient.objects.get(ecm_eligibility_information__member_id="MEM0000000001")
    assert first.first_name == "John"


def test_line_numbers_follow_the_file(tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(
        "member_id,first_name,last_name,street\n"
        "MEM1,John,Doe,\n"
        "\n"
        'MEM2,Ann,Lee,"12 Oak St\nUnit 4"\n'
        "MEM3,,Roe,\n"
        "MEM4,Bo,Diaz,,surplus\n"
        "MEM5,Cy\n",
        encoding="utf-8",
    )

    _, err, _ = run_failing("import_members", path)

    assert err.splitlines() == [
        "line 6: First name can't be blank",
        "line 7: the row has more fields than the header",
        "line 8: the row has fewer fields than the header; Last name can't be blank",
    ]
    assert Patient.objects.get(last_name="Lee").street == "12 Oak St\nUnit 4"


def test_end_date_is_checked_against_the_stored_effective_date(tmp_path):
    factories.ecm_patient(member_id="MEM0000000001", ecm_benefit_auth_eff_date=dt.date(2024, 6, 1))
    header = ["member_id", "first_name", "last_name", "ecm_benefit_auth_end_date"]
    path = write_csv(
        tmp_path / "members.csv", [member(ecm_benefit_auth_end_date="2024-05-31")], header
    )

    _, err, _ = run_failing("import_members", path)

    assert err == (
        "line 2: ECM benefit auth end date can't be before the ECM benefit auth effective date\n"
    )


def test_missing_required_column_is_a_command_error(tmp_path):
    header = [name for name in HEADER if name != "last_name"]
    path = write_csv(tmp_path / "members.csv", [member()], header)

    _, _, error = run_failing("import_members", path)

    assert "required column missing: last_name" in str(error)
    assert not Patient.objects.exists()


def test_header_is_trimmed_case_insensitive_and_may_carry_a_bom(tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(
        "\ufeff Member_ID ,FIRST_NAME,Last_Name,Notes\nMEM1,John,Doe,called twice\n",
        encoding="utf-8",
    )

    out, err = run("import_members", path)

    assert "1 created" in out
    assert err == "ignored unknown columns: notes\n"
    assert EcmEligibilityInformation.objects.get().member_id == "MEM1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty"),
        (
            "member_id,first_name\n".encode("utf-16"),
            "line 1 (the header) must not contain NUL characters",
        ),
        (b"\x89PNG\r\n\x1a\n", "must not contain bytes that are not valid UTF-8 (0x89)"),
        (b"member_id,member_id,first_name,last_name\n", "member_id appears more than once"),
    ],
)
def test_unreadable_files_are_command_errors(tmp_path, content, message):
    path = tmp_path / "members.csv"
    if content is not None:
        path.write_bytes(content)

    _, _, error = run_failing("import_members", path)

    assert message in str(error)
    assert not Patient.objects.exists()


def test_dry_run_validates_and_counts_but_writes_nothing(tmp_path):
    factories.ecm_patient(member_id="MEM0000000001", member_record_status="new_member")
    path = write_csv(
        tmp_path / "members.csv",
        [
            member("MEM0000000001", member_record_status="terminated_member"),
            member("MEM0000000002"),
            member("MEM0000000003", ecm_npi="1234567890"),
        ],
    )
    before = snapshot()

    out, err, _ = run_failing("import_members", path, "--dry-run")

    assert out == (
        "Imported members.csv: 1 created, 1 updated, 0 unchanged, 1 failed "
        "(dry run: nothing written)\n"
    )
    assert err == "line 4: ECM NPI is not a valid NPI (10 digits with a valid check digit)\n"
    assert snapshot() == before


def test_chunks_commit_separately_and_duplicates_are_found_across_chunks():
    rows = [(line, member(f"MEM{line:010d}", member_record_status="")) for line in range(2, 7)] + [
        (7, member("MEM0000000002"))
    ]
    progress = []

    report = importers.import_members(
        header=HEADER, records=records(rows), chunk_size=2, on_progress=progress.append
    )

    assert (report.created, report.failed) == (5, 1)
    assert str(report.errors[0]) == "line 7: member_id MEM0000000002 already appeared on line 2"
    assert progress == [2, 2, 2]
    assert EcmStatusHistory.objects.count() == 5


def test_a_failing_chunk_keeps_earlier_chunks_and_reports_them(refuse_patients_named):
    refuse_patients_named("Doomed", "disk full")
    rows = [(line, member(f"MEM{line:010d}")) for line in range(2, 7)]
    rows[3] = (5, member("MEM0000000005", first_name="Doomed"))  # the second chunk: 4-5

    with pytest.raises(importers.ImportInterrupted) as info:
        importers.import_members(header=HEADER, records=records(rows), chunk_size=2)

    assert info.value.report.created == 2
    assert info.value.first_line == 4
    assert "disk full" in str(info.value)
    assert "nothing from line 4 on was written" in str(info.value)
    assert sorted(EcmEligibilityInformation.objects.values_list("member_id", flat=True)) == [
        "MEM0000000002",
        "MEM0000000003",
    ]
    assert EcmStatusHistory.objects.count() == 2


def test_service_rejects_a_header_without_required_columns():
    with pytest.raises(importers.ImportFileError, match="member_id"):
        importers.import_members(header=["first_name", "last_name"], records=[])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_concurrent_status_change_is_seen_not_overwritten(tmp_path):
    """The import re-reads the rows it changes under a lock: its history names the status
    another transaction committed meanwhile, not the one it read before that commit."""
    factories.ecm_patient(member_id="MEM0000000001", member_record_status="new_member")
    locked, done = threading.Event(), threading.Event()

    def concurrent_edit():
        try:
            with transaction.atomic():
                eligibility = EcmEligibilityInformation.objects.select_for_update().get()
                eligibility.member_record_status = "terminated_member"
                eligibility.save()
                locked.set()
                done.wait(timeout=0.5)  # the import blocks on the lock meanwhile
        finally:
            connection.close()

    editor = threading.Thread(target=concurrent_edit)
    editor.start()
    assert locked.wait(timeout=10)
    path = write_csv(tmp_path / "members.csv", [member(member_record_status="continuing_member")])
    try:
        out, _ = run("import_members", path)
    finally:
        done.set()
        editor.join()

    assert "1 updated" in out
    change = Activity.objects.filter(kind=ActivityKind.STATUS_CHANGED).get()
    assert change.metadata == {"from": "terminated_member", "to": "continuing_member"}
    assert EcmEligibilityInformation.objects.get().member_record_status == "continuing_member"


def test_a_chunk_that_fails_validation_stops_the_import_there():
    """Validation runs a chunk ahead in a worker thread; its failure (here a cell that is not
    text, which no CSV file gives) still stops the import at that chunk, after the earlier
    chunks landed."""
    rows = [(line, member(f"MEM{line:010d}")) for line in range(2, 7)]
    rows[3] = (5, member("MEM0000000005", first_name=12345))  # the second chunk: 4-5

    with pytest.raises(importers.ImportInterrupted) as info:
        importers.import_members(header=HEADER, records=records(rows), chunk_size=2)

    assert info.value.report.created == 2
    assert info.value.first_line == 4
    assert "AttributeError" in str(info.value)
    assert EcmEligibilityInformation.objects.count() == 2


def test_duplicates_and_errors_are_found_across_chunks_in_file_order():
    rows = [
        (2, member("MEM0000000001")),
        (3, member("MEM0000000002", gender="robot")),
        (4, member("MEM0000000003")),
        (5, member("MEM0000000001", first_name="Again")),
        (6, member("MEM0000000004")),
    ]
    progress = []

    report = importers.import_members(
        header=HEADER, records=records(rows), chunk_size=2, on_progress=progress.append
    )

    assert [error.line for error in report.errors] == [3, 5]
    assert "already appeared on line 2" in report.errors[1].message
    assert (report.created, report.failed, progress) == (3, 2, [2, 2, 1])
    assert Patient.objects.get(
        ecm_eligibility_information__member_id="MEM0000000001"
    ).first_name == ("John")


def test_a_new_member_is_stamped_with_the_time_of_its_chunk(tmp_path):
    """created_at and the status history: the chunk's time; updated_at: the write's."""
    path = write_csv(tmp_path / "members.csv", [member(), member("MEM0000000002", gender="")])
    run("import_members", path)

    for patient in Patient.objects.all():
        eligibility = patient.ecm_eligibility_information
        history = EcmStatusHistory.objects.get(patient=patient)
        activity = Activity.objects.get(patient=patient)
        assert patient.created_at == eligibility.created_at == history.changed_at
        assert patient.updated_at >= patient.created_at
        assert eligibility.updated_at >= eligibility.created_at
        assert activity.created_at == history.changed_at
        assert patient.services == ["ecm"]
    assert Patient.objects.get(ecm_eligibility_information__member_id="MEM0000000002").gender == ""


@pytest.mark.postgres
def test_an_import_leaves_the_search_counts_exact_and_merged(tmp_path):
    factories.ecm_patient(patient__first_name="Mary", patient__last_name="Doe", member_id="X1")
    rows = [member(f"MEM{n:010d}", first_name="Marta", cin=f"{n:08d}A") for n in range(150)]
    run("import_members", write_csv(tmp_path / "members.csv", rows))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gram, sum(patients), count(*) FROM patients_searchgramcount"
            " WHERE gram IN ('mar', 'doe', 'rta') GROUP BY gram ORDER BY gram"
        )
        # A chunk of 150 rows adds its deltas unmerged; the import merges them at the end.
        assert cursor.fetchall() == [("doe", 151, 1), ("mar", 151, 1), ("rta", 150, 1)]
