"""The import commands with files a careless export or a hostile sender produces: a NUL, an
encoded surrogate, bytes that are not UTF-8 mid-file, cells of 100 KB and 1 MB, a record
over the reader's limit, records spanning lines. Each bad row is reported by its first line
and skipped; every good row lands; a rerun writes nothing new and reports the same rows."""

import pytest

from patients.models import EcmAuthorization, EcmEligibilityInformation, Patient
from tests import factories
from tests.patients.test_import_members import run_failing, snapshot

pytestmark = pytest.mark.django_db

MB = 1_000_000


# A refused cell is named by the label of its column's field, as every other cell problem is.
LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "street": "Street",
    "auth_no": "Auth number",
    "status": "Status",
}


def hostile_lines(good, bad) -> tuple[bytes, dict[str, int], list[str]]:
    """A file of good and bad records, each bad one followed by a good one; ``good(n)`` and
    ``bad(n, cell)`` give a record's bytes (``cell``: the bytes of its bad cell, in the column
    ``bad`` names by its field's label). Returns the content, the good records' keys by line
    and the expected errors.
    """
    cases = [
        # (bad cell, column the cell goes in, what the error says)
        (b"Bad\x00Name", "must not contain NUL characters"),
        (b"Le\xed\xa0\x80e", "must not contain bytes that are not valid UTF-8 (0xED 0xA0 0x80)"),
        (b'"1 Elm St\n\x00Apt 2"', "must not contain NUL characters"),  # two lines
        (b"x" * 100_000, "is longer than 1,000 characters"),
        (b"Jos\xe9", "must not contain bytes that are not valid UTF-8 (0xE9)"),
        (b'"' + b"y, " * (MB // 3) + b'"', "is longer than 1,000 characters"),
        (b'"' + (b"z" * MB + b"\n") * 2 + b'"', None),  # three lines, over the record limit
    ]
    lines = [good(0)]
    good_lines = {f"{0}": 2}
    errors = []
    line = 3
    for n, (cell, problem) in enumerate(cases, start=1):
        record, column = bad(n, cell)
        lines.append(record)
        if problem is None:
            errors.append(f"line {line}: the row is longer than 1,048,576 characters")
        else:
            errors.append(f"line {line}: {column} {problem}")
        line += record.count(b"\n") + 1
        lines.append(good(n))
        good_lines[f"{n}"] = line
        line += 1
    return b"\n".join(lines) + b"\n", good_lines, errors


def test_import_members_reports_each_bad_row_and_lands_every_good_one(tmp_path):
    columns = {b"Bad\x00Name": "first_name", b"Jos\xe9": "first_name"}

    def good(n: int) -> bytes:
        return b"MEMGOOD%d,Ann%d,Lee,%d Main St" % (n, n, n)

    def bad(n: int, cell: bytes) -> tuple[bytes, str]:
        column = columns.get(cell, "last_name" if cell.startswith(b"Le") else "street")
        cells = {"first_name": b"Bo", "last_name": b"Diaz", "street": b"1 St"}
        cells[column] = cell
        record = b"MEMBAD%d,%s,%s,%s" % (
            n,
            cells["first_name"],
            cells["last_name"],
            cells["street"],
        )
        return record, LABELS[column]

    content, good_lines, errors = hostile_lines(good, bad)
    path = tmp_path / "members.csv"
    path.write_bytes(b"member_id,first_name,last_name,street\n" + content)

    out, err, error = run_failing("import_members", path)

    assert out == "Imported members.csv: 8 created, 0 updated, 0 unchanged, 7 failed\n"
    assert err.splitlines() == errors
    assert str(error) == "members.csv: 7 rows failed (see above)"
    stored = dict(EcmEligibilityInformation.objects.values_list("member_id", "patient__first_name"))
    assert stored == {f"MEMGOOD{n}": f"Ann{n}" for n in range(8)}
    assert errors[:3] == [
        "line 3: First name must not contain NUL characters",
        "line 5: Last name must not contain bytes that are not valid UTF-8 (0xED 0xA0 0x80)",
        "line 7: Street must not contain NUL characters",
    ]
    assert good_lines["3"] == 9  # the good row after a bad record of two lines

    before = snapshot()
    out, err, error = run_failing("import_members", path)

    assert out == "Imported members.csv: 0 created, 0 updated, 8 unchanged, 7 failed\n"
    assert err.splitlines() == errors
    assert snapshot() == before


def test_import_authorizations_reports_each_bad_row_and_lands_every_good_one(tmp_path):
    member = factories.ecm_patient(member_id="MEM0000000001")

    def good(n: int) -> bytes:
        return b"MEM0000000001,AUTHGOOD%d,Approved" % n

    def bad(n: int, cell: bytes) -> tuple[bytes, str]:
        column = "auth_no" if cell.startswith(b"Le") else "status"
        cells = {"auth_no": b"AUTHBAD%d" % n, "status": b"Approved"}
        cells[column] = cell
        return b"MEM0000000001,%s,%s" % (cells["auth_no"], cells["status"]), LABELS[column]

    content, _, errors = hostile_lines(good, bad)
    path = tmp_path / "auths.csv"
    path.write_bytes(b"member_id,auth_no,status\n" + content)

    out, err, _ = run_failing("import_authorizations", path)

    assert out == "Imported auths.csv: 8 created, 0 updated, 0 unchanged, 7 failed\n"
    assert err.splitlines() == errors
    assert sorted(EcmAuthorization.objects.values_list("auth_no", flat=True)) == [
        f"AUTHGOOD{n}" for n in range(8)
    ]
    assert set(EcmAuthorization.objects.values_list("patient", flat=True)) == {member.pk}

    before = list(EcmAuthorization.objects.order_by("id").values())
    out, err, _ = run_failing("import_authorizations", path)

    assert out == "Imported auths.csv: 0 created, 0 updated, 8 unchanged, 7 failed\n"
    assert err.splitlines() == errors
    assert list(EcmAuthorization.objects.order_by("id").values()) == before


def test_a_bad_row_in_every_chunk_hides_no_good_row(tmp_path):
    """5,000 rows, a NUL every 11th: the run goes to the end of the file; the good rows of
    every chunk land (and 4,545 of them is not 499)."""
    rows = [b"MEM%07d,Ann,%s" % (n, b"L\x00e" if n % 11 == 0 else b"Lee") for n in range(5000)]
    path = tmp_path / "members.csv"
    path.write_bytes(b"member_id,first_name,last_name\n" + b"\n".join(rows) + b"\n")

    out, err, _ = run_failing("import_members", path)

    assert out == "Imported members.csv: 4545 created, 0 updated, 0 unchanged, 455 failed\n"
    assert err.splitlines() == [
        f"line {n + 2}: Last name must not contain NUL characters" for n in range(0, 5000, 11)
    ]
    assert Patient.objects.count() == 4545
