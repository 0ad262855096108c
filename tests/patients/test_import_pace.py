"""``import_members --rows-per-second N``: an import beside live traffic pauses between chunks
so that it writes at most N rows a second on average; a Ctrl-C while it pauses stops it like
any interruption, keeping the chunks written."""

from unittest import mock

import pytest
from django.core.management import CommandError

from ecm_admin.progress import Pace
from patients import importers
from patients.models import Patient
from tests.patients.test_import_members import HEADER, member, records, run, write_csv

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_the_pace_sleeps_until_the_rows_done_are_due():
    clock = Clock()
    pace = Pace(1000, clock=clock, sleep=clock.sleep)

    pace(500)  # due at 0.5 s
    clock.now += 0.2  # the next chunk took 0.2 s
    pace(500)  # due at 1.0 s, it is 0.7 s
    clock.now += 2.0  # a slow chunk: already behind, no pause
    pace(1000)

    assert clock.slept == [0.5, 0.3]
    assert pace.rows == 2000


def test_a_rate_must_be_positive():
    with pytest.raises(ValueError):
        Pace(0)


def test_the_command_paces_the_import_and_lands_every_row(tmp_path):
    rows = [member(f"MEM{n:010d}") for n in range(1, 6)]
    path = write_csv(tmp_path / "members.csv", rows)

    with mock.patch("ecm_admin.progress.time.sleep") as sleep:
        out, _ = run("import_members", path, "--rows-per-second", "1")

    assert "5 created" in out
    assert Patient.objects.count() == 5
    (pause,) = sleep.call_args_list  # one chunk of 5 rows, due 5 s after the start
    assert 4 < pause.args[0] <= 5


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "many", "²"])
def test_a_rate_that_is_not_a_whole_number_of_rows_is_refused(tmp_path, value):
    path = write_csv(tmp_path / "members.csv", [member()])

    with pytest.raises(CommandError, match="must be a whole number of rows, at least 1"):
        run("import_members", path, f"--rows-per-second={value}")

    assert not Patient.objects.exists()


def test_a_ctrl_c_while_pausing_stops_after_the_chunks_written():
    rows = [(line, member(f"MEM{line:010d}")) for line in range(2, 8)]
    calls = []

    def pause(done: int) -> None:
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(importers.ImportInterrupted) as info:
        importers.import_members(
            header=HEADER, records=records(rows), chunk_size=4, on_progress=pause
        )

    assert calls == [4]
    assert info.value.first_line == 6
    assert str(info.value).startswith("import stopped at line 6 (KeyboardInterrupt")
    assert info.value.report.created == 4
    assert Patient.objects.count() == 4
