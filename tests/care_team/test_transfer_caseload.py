"""``manage.py transfer_caseload``: the transfer route's plan for every patient an LCM holds, a
preview unless ``--apply``; applying writes as a manual assignment does."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AccessEvent
from care_team.management.commands import plan_caseloads
from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from care_team.planning import transfer
from care_team.services import CARE_TEAM_CHANGED, care_team_assign
from patients.choices import MemberRecordStatus
from patients.models import Activity
from tests import factories
from tests.care_team.test_plan_caseloads import read_results

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("transfer_caseload", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def lcm(capacity: int | None = 10, *, accepting: bool = True, **fields):
    user = factories.lcm_user(**fields)
    LeadCareManagerProfile.objects.create(
        user=user, capacity=capacity, accepting_patients=accepting
    )
    return user


def patient(acuity: str = "medium", status=MemberRecordStatus.NEW, **care_team):
    created = factories.ecm_patient(acuity_level=acuity, member_record_status=status)
    CaseLoad.objects.create(patient=created, **care_team)
    return created


def care_teams() -> dict[int, tuple[int | None, int | None]]:
    return {c.patient_id: (c.olcm_id, c.ilcm_id) for c in CaseLoad.objects.all()}


@pytest.fixture
def world(db):
    """Sam (leaving) holds a high patient as oLCM (iLCM Jane), a medium one as oLCM and a low
    one as iLCM (oLCM Bob); Jane and Bob, capacity 10, hold nothing else."""
    sam = lcm(10, first_name="Sam", last_name="Leaving", email="sam@example.org")
    jane = lcm(10, first_name="Jane", last_name="Coordinator", email="jane@example.org")
    bob = lcm(10, first_name="Bob", last_name="Manager", email="bob@example.org")
    return {
        "sam": sam,
        "jane": jane,
        "bob": bob,
        "high": patient("high", olcm=sam, ilcm=jane),
        "medium": patient("medium", olcm=sam),
        "low": patient("low", olcm=bob, ilcm=sam),
    }


def test_preview_prints_the_plan_writes_its_results_and_nothing_else(world, tmp_path):
    results = tmp_path / "plan.csv"
    before = care_teams()

    stdout, _ = run(
        "--from", "SAM@example.org", "--role", "olcm", "--reason", "Leaving",
        "--results", str(results),
    )  # fmt: skip

    # Loads before: Sam 6, Jane 3, Bob 1 (of 10); spread over the accepting: .50; after:
    # Sam 1, Jane 5, Bob 4.
    assert stdout.strip() == "2 moves, 0 unplaced, spread 0.50 → 0.40 (preview: nothing written)"
    assert care_teams() == before
    assert not LcmAssignmentHistory.objects.exists()
    rows = read_results(results)
    sam, jane, bob = world["sam"].pk, world["jane"].pk, world["bob"].pk
    assert [(r["patient_id"], r["from_user_id"], r["to_user_id"], r["status"]) for r in rows] == [
        (str(world["high"].pk), str(sam), str(bob), "planned"),
        (str(world["medium"].pk), str(sam), str(jane), "planned"),
    ]
    assert rows[0]["why"] == "transfer to the least utilized accepting oLCM (0.10 → 0.40)"
    event = AccessEvent.objects.filter(source="cmd:transfer_caseload").get()
    assert (event.action, event.status_code) == ("read_list", 0)
    assert sorted(event.patient_ids) == sorted([world["high"].pk, world["medium"].pk])


def test_apply_moves_every_role_and_writes_as_a_manual_assignment(world, admin):
    stdout, _ = run(
        "--from", "sam@example.org", "--role", "both", "--reason", "Leaving",
        "--apply", "--actor-email", admin.email,
    )  # fmt: skip

    assert stdout.strip().endswith("(applied: 3 succeeded, 0 failed)")
    assert all(world["sam"].pk not in team for team in care_teams().values())
    assert all(olcm != ilcm for olcm, ilcm in care_teams().values())
    entry = LcmAssignmentHistory.objects.get(patient=world["low"])
    assert (entry.role, entry.previous_user_id, entry.reason, entry.acted_by_id) == (
        "ilcm",
        world["sam"].pk,
        "Leaving",
        admin.pk,
    )
    assert (
        Activity.objects.filter(patient=world["low"]).get().description.endswith("Reason: Leaving")
    )
    event = AccessEvent.objects.filter(source="cmd:transfer_caseload").get()
    assert (event.action, event.user_id) == ("bulk_assign", admin.pk)
    assert sorted(event.patient_ids) == sorted(world[k].pk for k in ("high", "medium", "low"))


def test_to_one_lcm_and_what_cannot_move_fails_the_run(world, tmp_path):
    results = tmp_path / "applied.csv"
    with pytest.raises(CommandError, match="1 of the LCM's roles could not be moved"):
        run(
            "--from", "sam@example.org", "--to", "bob@example.org", "--role", "both",
            "--reason", "Cover", "--apply", "--results", str(results),
        )  # fmt: skip
    bob = world["bob"].pk
    assert care_teams()[world["high"].pk] == (bob, world["jane"].pk)
    assert care_teams()[world["medium"].pk] == (bob, None)
    assert care_teams()[world["low"].pk] == (bob, world["sam"].pk)  # Bob is its oLCM
    unplaced = read_results(results)[-1]
    assert (unplaced["patient_id"], unplaced["status"], unplaced["errors"]) == (
        str(world["low"].pk),
        "unplaced",
        f"user {bob} is already this patient's oLCM",
    )
    assert AccessEvent.objects.filter(source="cmd:transfer_caseload").get().status_code == 1


def test_many_patients_in_several_chunks(db, monkeypatch, tmp_path):
    monkeypatch.setattr(plan_caseloads, "CHUNK", 4)
    sam = lcm(100, email="sam@example.org")
    receivers = [lcm(100) for _ in range(3)]
    held = [patient(("low", "medium", "high")[n % 3], olcm=sam) for n in range(11)]
    held.append(patient("high", status=MemberRecordStatus.TERMINATED, olcm=sam))
    results = tmp_path / "applied.csv"

    stdout, _ = run(
        "--from", "sam@example.org", "--role", "olcm", "--reason", "r", "--apply",
        "--results", str(results),
    )  # fmt: skip

    assert "12 moves, 0 unplaced" in stdout and "(applied: 12 succeeded, 0 failed)" in stdout
    assert {r["status"] for r in read_results(results)} == {"success"}
    assert {care_teams()[p.pk][0] for p in held} <= {user.pk for user in receivers}
    assert LcmAssignmentHistory.objects.filter(reason="r").count() == 12


def test_a_patient_changed_after_planning_is_skipped_and_fails_the_run(world, monkeypatch):
    planned = transfer.plan_transfer
    other = lcm(10, accepting=False)

    def plan_then_someone_assigns(**kwargs):
        plan = planned(**kwargs)
        care_team_assign(patient_id=world["medium"].pk, olcm_user_id=other.pk, actor=None)
        return plan

    monkeypatch.setattr(transfer, "plan_transfer", plan_then_someone_assigns)
    stderr = StringIO()
    with pytest.raises(CommandError, match="1 of 2 moves failed"):
        call_command(
            "transfer_caseload", "--from", "sam@example.org", "--role", "olcm",
            "--reason", "r", "--apply", stdout=StringIO(), stderr=stderr,
        )  # fmt: skip
    assert stderr.getvalue().strip() == f"patient {world['medium'].pk}: {CARE_TEAM_CHANGED}"
    assert care_teams()[world["medium"].pk] == (other.pk, None)
    assert care_teams()[world["high"].pk][0] == world["bob"].pk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "nobody@example.org"], "--from nobody@example.org: not an active Lead"),
        (["--to", "nobody@example.org"], "--to nobody@example.org: not an active Lead"),
        (["--to", "sam@example.org"], "--to must be another Lead Care Manager than --from"),
        (["--reason", "  "], "--reason is required"),
        (["--reason", "x" * 1001], "--reason must be at most 1000 characters"),
        (["--role", "all"], "invalid choice"),
        (["--apply", "--dry-run"], "not allowed with argument"),
        (["--actor-email", "nobody@example.org"], "no active user with that email"),
    ],
)
def test_bad_options_are_refused_before_anything_is_planned(world, args, message):
    arguments = {"--from": "sam@example.org", "--role": "olcm", "--reason": "r"}
    flags = []
    pending = list(args)
    while pending:
        key = pending.pop(0)
        if pending and not pending[0].startswith("--"):
            arguments[key] = pending.pop(0)
        else:
            flags.append(key)
    argv = [item for pair in arguments.items() for item in pair] + flags
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*argv)
    assert not LcmAssignmentHistory.objects.exists()


def test_the_options_are_required():
    with pytest.raises(CommandError, match="the following arguments are required"):
        run("--role", "olcm")


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_the_progress(world, monkeypatch, tmp_path):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    base = ["--from", "sam@example.org", "--role", "olcm", "--reason", "r"]
    run(*base, "--results", str(tmp_path / "plan.csv"))
    assert "Writing results [" in terminal.getvalue() and "100% 2/2" in terminal.getvalue()
    run(*base, "--apply")
    assert "Applying [" in terminal.getvalue()
