"""``manage.py authorization_worklist``: the worklist as CSV, streamed a chunk at a time."""

import csv
import datetime as dt
import io
import os
import stat
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError

from audit.models import AccessEvent
from care_team.models import CaseLoad
from patients import worklist
from patients.management.commands import authorization_worklist
from tests import factories

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 15)
HEADER = ["member_id", "name", "olcm", "latest_authorization", "latest_authorization_end_date"]


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


@pytest.fixture(autouse=True)
def today():
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY):
        yield


def patient(first_name: str, member_id: str, *auths, olcm=None):
    record = factories.ecm_patient(
        member_id=member_id, patient__first_name=first_name, patient__last_name="Doe"
    )
    for auth_no, status, start, end in auths:
        factories.AuthorizationFactory(
            patient=record,
            auth_no=auth_no,
            status=status,
            start_date=None if start is None else day(start),
            expiration_date=None if end is None else day(end),
        )
    if olcm is not None:
        CaseLoad.objects.create(patient=record, olcm=olcm)
    return record


def run(*args: str) -> tuple[list[list[str]], str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("authorization_worklist", *args, stdout=out, stderr=err)
    return list(csv.reader(io.StringIO(out.getvalue()))), out.getvalue(), err.getvalue()


@pytest.fixture
def people():
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    return {
        "soon": patient(
            "Ann",
            "MEM-1",
            ("A-1", "Approved", -300, -100),
            ("A-2", "APPROVED", -99, 10),
            ("A-3", "pending", 11, 200),
            olcm=jane,
        ),
        "lapsed": patient("Bob", "MEM-2", ("B-1", "approved", -200, -1)),
        "none": patient("Cy", "MEM-3", ("C-1", "denied", -10, 10)),
        "covered": patient("Di", "MEM-4", ("D-1", "Approved", -10, 100)),
        "open": patient("Ed", "MEM-5", ("E-1", "Approved", -10, 5), ("E-2", "Approved", 6, None)),
    }


def test_expiring_patients_go_to_stdout_and_the_summary_to_stderr(people):
    rows, _, err = run("--expiring-within-days", "30")
    assert rows == [HEADER, ["MEM-1", "Ann Doe", "Jane Coordinator", "A-2", day(10).isoformat()]]
    assert err.strip() == ("Wrote 1 patients (latest approved authorization ending within 30 days)")


def test_missing_active_lists_the_latest_approved_authorization(people):
    rows, _, err = run("--missing-active")
    assert rows == [
        HEADER,
        ["MEM-2", "Bob Doe", "", "B-1", day(-1).isoformat()],
        ["MEM-3", "Cy Doe", "", "", ""],
    ]
    assert "Wrote 2 patients (no approved authorization covering today)" in err


def test_both_options_list_the_patients_matching_either(people):
    rows, _, err = run("--expiring-within-days", "100", "--missing-active")
    assert [row[0] for row in rows[1:]] == ["MEM-1", "MEM-2", "MEM-3", "MEM-4"]
    assert "Wrote 4 patients" in err
    assert "ending within 100 days or no approved authorization covering today" in err


def test_an_open_ended_latest_authorization_has_no_end_date(people):
    latest = worklist.latest_approved([people["open"].pk])
    assert latest[people["open"].pk].auth_no == "E-2"
    rows, _, _ = run("--expiring-within-days", "365")
    assert "MEM-5" not in [row[0] for row in rows]


def test_the_latest_approved_authorization_ties_go_to_the_later_start_then_the_higher_id():
    record = patient(
        "Tie",
        "MEM-9",
        ("T-1", "Approved", -100, 10),
        ("T-2", "Approved", -50, 10),
        ("T-3", "Approved", -50, 10),
        ("T-4", "Approved", None, 10),
    )
    assert worklist.latest_approved([record.pk])[record.pk].auth_no == "T-3"


def test_output_file_is_owner_only_and_the_summary_goes_to_stdout(people, tmp_path):
    target = tmp_path / "worklist.csv"
    _, out, err = run("--missing-active", "--output", str(target))
    assert out == f"Wrote 2 patients (no approved authorization covering today) to {target}\n"
    assert err == ""
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    written = list(csv.reader(target.open(encoding="utf-8")))
    assert [row[0] for row in written] == ["member_id", "MEM-2", "MEM-3"]
    assert os.listdir(tmp_path) == ["worklist.csv"]


def test_a_failure_leaves_the_earlier_file_as_it_was(people, tmp_path):
    target = tmp_path / "worklist.csv"
    target.write_text("the earlier worklist\n")
    with (
        mock.patch.object(authorization_worklist, "CHUNK", 1),
        mock.patch.object(
            worklist,
            "latest_approved",
            side_effect=[{}, OperationalError("connection lost")],
        ),
        pytest.raises(CommandError, match="database failed after 1 patients"),
    ):
        run("--missing-active", "--output", str(target))
    assert target.read_text() == "the earlier worklist\n"
    assert os.listdir(tmp_path) == ["worklist.csv"]


def test_an_unwritable_output_is_an_error(people, tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        run("--missing-active", "--output", str(tmp_path / "missing" / "worklist.csv"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Give --expiring-within-days N, --missing-active, or both"),
        (("--expiring-within-days", "366"), "must be a whole number from 0 to 365"),
        (("--expiring-within-days", "-1"), "must be a whole number from 0 to 365"),
        (("--expiring-within-days", "soon"), "must be a whole number from 0 to 365"),
    ],
)
def test_wrong_options_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_every_patient_is_streamed_a_chunk_at_a_time_and_audited(people):
    many = [patient(f"P{n}", f"MEM-X{n}", (f"X-{n}", "Approved", -5, 3)) for n in range(5)]
    with mock.patch.object(authorization_worklist, "CHUNK", 2):
        rows, _, err = run("--expiring-within-days", "30")
    expected = [people["soon"].pk, *(p.pk for p in many)]
    assert [row[0] for row in rows[1:]] == ["MEM-1", *(f"MEM-X{n}" for n in range(5))]
    assert "Wrote 6 patients" in err
    events = AccessEvent.objects.filter(source="cmd:authorization_worklist").order_by("id")
    chunks = [event.patient_ids for event in events if event.patient_ids]
    assert chunks == [expected[0:2], expected[2:4], expected[4:6]]
    last = events.last()
    assert (last.action, last.status_code, last.patient_ids) == ("read_list", 0, [])


def test_text_a_spreadsheet_would_run_is_neutralised():
    patient("=HYPERLINK(1)", "MEM-F", ("F-1", "Approved", -5, 5))
    rows, _, _ = run("--expiring-within-days", "5")
    assert rows[1][1] == "'=HYPERLINK(1) Doe"


def test_a_progress_bar_is_drawn_on_a_terminal(people):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    with mock.patch("sys.stderr", terminal):
        run("--missing-active")
    assert "Writing the worklist [" in terminal.getvalue()
    assert "2/2" in terminal.getvalue()
