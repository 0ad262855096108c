"""import_authorizations: ECM authorizations upserted by auth_no (API.md §5)."""

import datetime as dt

import pytest

from patients.models import EcmAuthorization
from tests import factories
from tests.patients.test_import_members import run, run_failing, write_csv

pytestmark = pytest.mark.django_db

HEADER = [
    "member_id",
    "auth_no",
    "auth_type",
    "authorization_type",
    "status",
    "start_date",
    "expiration_date",
]


def authorization(auth_no="AUTH0000000001", member_id="MEM0000000001", **overrides):
    row = {
        "member_id": member_id,
        "auth_no": auth_no,
        "auth_type": "ES",
        "authorization_type": "Form I",
        "status": "Approved",
        "start_date": "2024-01-01",
        "expiration_date": "2024-12-31",
    }
    row.update(overrides)
    return row


@pytest.fixture
def members():
    return {
        member_id: factories.ecm_patient(member_id=member_id)
        for member_id in ("MEM0000000001", "MEM0000000002")
    }


@pytest.fixture
def auths_csv(tmp_path, members):
    rows = [
        authorization("AUTH0000000001"),
        authorization(
            "AUTH0000000002",
            "MEM0000000001",
            start_date="2025-01-01",
            expiration_date="",
            status="",
        ),
        authorization("AUTH0000000003", "MEM0000000002", expiration_date=""),
    ]
    return write_csv(tmp_path / "auths.csv", rows)


def auth_rows() -> list[dict]:
    return list(EcmAuthorization.objects.order_by("id").values())


def test_import_creates_authorizations(auths_csv, members):
    out, err = run("import_authorizations", auths_csv)

    assert out == "Imported auths.csv: 3 created, 0 updated, 0 unchanged, 0 failed\n"
    assert err == ""
    first = EcmAuthorization.objects.get(auth_no="AUTH0000000001")
    assert first.patient == members["MEM0000000001"]
    assert (first.auth_type, first.authorization_type, first.status) == ("ES", "Form I", "Approved")
    assert (first.start_date, first.expiration_date) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert EcmAuthorization.objects.get(auth_no="AUTH0000000002").status == ""
    assert EcmAuthorization.objects.get(auth_no="AUTH0000000002").expiration_date is None
    assert EcmAuthorization.objects.get(auth_no="AUTH0000000003").expiration_date is None


def test_reimport_changes_nothing(auths_csv):
    run("import_authorizations", auths_csv)
    before = auth_rows()

    out, _ = run("import_authorizations", auths_csv)

    assert out == "Imported auths.csv: 0 created, 0 updated, 3 unchanged, 0 failed\n"
    assert auth_rows() == before


def test_changed_rows_update_in_place(tmp_path, members):
    path = write_csv(tmp_path / "auths.csv", [authorization()])
    run("import_authorizations", path)
    stored = EcmAuthorization.objects.get()

    write_csv(path, [authorization(status="Expired", expiration_date="2024-06-30")])
    out, _ = run("import_authorizations", path)

    assert "0 created, 1 updated, 0 unchanged" in out
    fresh = EcmAuthorization.objects.get()
    assert fresh.pk == stored.pk
    assert (fresh.status, fresh.expiration_date) == ("Expired", dt.date(2024, 6, 30))
    assert fresh.updated_at > stored.updated_at


def test_columns_absent_from_the_header_are_left_untouched(tmp_path, members):
    factories.AuthorizationFactory(
        auth_no="AUTH0000000001", patient=members["MEM0000000001"], status="Pending"
    )
    path = write_csv(
        tmp_path / "auths.csv",
        [authorization(status="Approved")],
        ["member_id", "auth_no", "status"],
    )

    out, _ = run("import_authorizations", path)

    assert "1 updated" in out
    stored = EcmAuthorization.objects.get()
    assert stored.status == "Approved"
    assert (stored.auth_type, stored.authorization_type) == ("ES", "Form I")
    assert stored.start_date == dt.date(2024, 1, 1)


def test_bad_rows_are_reported_by_line_and_skipped(tmp_path, members):
    factories.AuthorizationFactory(auth_no="AUTH0000000009", patient=members["MEM0000000002"])
    factories.PatientFactory()  # not an ECM member: no eligibility
    rows = [
        authorization("AUTH0000000001"),  # line 2
        authorization("AUTH0000000002", "MEM9999999999"),  # 3
        authorization("AUTH0000000003", start_date="2024-06-01", expiration_date="2024-05-31"),
        authorization("AUTH0000000004", start_date="2024-1-1"),  # 5
        authorization("", ""),  # 6
        authorization("AUTH0000000001", status="Denied"),  # 7: duplicate of line 2
        authorization("AUTH0000000009"),  # 8: belongs to MEM0000000002
        authorization("AUTH0000000010", auth_type="X" * 21),  # 9
        authorization("AUTH0000000011", "MEM0000000002"),  # 10
    ]
    path = write_csv(tmp_path / "auths.csv", rows)

    out, err, error = run_failing("import_authorizations", path)

    assert out == "Imported auths.csv: 2 created, 0 updated, 0 unchanged, 7 failed\n"
    assert err.splitlines() == [
        "line 3: member_id MEM9999999999 is not an ECM member",
        "line 4: Expiration date can't be before the start date",
        "line 5: Start date must be a valid date (YYYY-MM-DD)",
        "line 6: Member ID can't be blank; Auth number can't be blank",
        "line 7: auth_no AUTH0000000001 already appeared on line 2",
        "line 8: auth_no AUTH0000000009 belongs to another member",
        "line 9: Auth type is too long (maximum is 20 characters)",
    ]
    assert "7 rows failed" in str(error)
    assert sorted(EcmAuthorization.objects.values_list("auth_no", flat=True)) == [
        "AUTH0000000001",
        "AUTH0000000009",
        "AUTH0000000011",
    ]
    assert EcmAuthorization.objects.get(auth_no="AUTH0000000001").status == "Approved"
    moved = EcmAuthorization.objects.get(auth_no="AUTH0000000009")
    assert moved.patient == members["MEM0000000002"]


def test_expiration_is_checked_against_the_stored_start_date(tmp_path, members):
    factories.AuthorizationFactory(
        auth_no="AUTH0000000001", patient=members["MEM0000000001"], start_date=dt.date(2024, 6, 1)
    )
    path = write_csv(
        tmp_path / "auths.csv",
        [authorization(expiration_date="2024-05-01")],
        ["member_id", "auth_no", "expiration_date"],
    )

    _, err, _ = run_failing("import_authorizations", path)

    assert err == "line 2: Expiration date can't be before the start date\n"


def test_missing_required_column_is_a_command_error(tmp_path, members):
    path = write_csv(tmp_path / "auths.csv", [authorization()], ["member_id", "status"])

    _, _, error = run_failing("import_authorizations", path)

    assert "required column missing: auth_no" in str(error)
    assert not EcmAuthorization.objects.exists()


def test_dry_run_writes_nothing(tmp_path, members):
    factories.AuthorizationFactory(
        auth_no="AUTH0000000001", patient=members["MEM0000000001"], status="Pending"
    )
    path = write_csv(
        tmp_path / "auths.csv",
        [authorization(), authorization("AUTH0000000002"), authorization("AUTH0000000003")],
    )
    before = auth_rows()

    out, _ = run("import_authorizations", path, "--dry-run")

    assert out == (
        "Imported auths.csv: 2 created, 1 updated, 0 unchanged, 0 failed "
        "(dry run: nothing written)\n"
    )
    assert auth_rows() == before
