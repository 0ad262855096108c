"""``manage.py plan_caseloads``: the auto-assign planner for any number of patients, a preview
unless ``--apply``; applying writes as a manual assignment does."""

import csv
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection

from audit.models import AccessEvent
from care_team.management.commands import plan_caseloads as command
from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from care_team.planning import plans
from care_team.planning.workload import acuity_weights, counted_patients, workloads
from care_team.services import CARE_TEAM_CHANGED, care_team_assign
from patients.choices import MemberRecordStatus
from patients.models import Activity
from tests import factories

pytestmark = pytest.mark.django_db

WAITING = (
    "None of the {} waiting roles could be placed: no accepting Lead Care Manager has capacity"
)


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("plan_caseloads", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def lcm(capacity: int | None, *, accepting: bool = True, **fields):
    user = factories.lcm_user(**fields)
    LeadCareManagerProfile.objects.create(
        user=user, capacity=capacity, accepting_patients=accepting
    )
    return user


def patient(acuity: str = "medium", status=MemberRecordStatus.NEW, **care_team):
    created = factories.ecm_patient(acuity_level=acuity, member_record_status=status)
    if care_team:
        CaseLoad.objects.create(patient=created, **care_team)
    return created


def read_results(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def care_teams() -> dict[int, tuple[int | None, int | None]]:
    return {c.patient_id: (c.olcm_id, c.ilcm_id) for c in CaseLoad.objects.all()}


def last_event() -> AccessEvent:
    return AccessEvent.objects.order_by("-id").first()


@pytest.fixture
def world(db):
    """Jane (empty) and Bob (a medium patient as oLCM: 2 points), capacity 10 each; three
    counted patients without an oLCM (high, medium, low) and a terminated one."""
    jane = lcm(10, first_name="Jane", last_name="Coordinator", email="jane@example.org")
    bob = lcm(10, first_name="Bob", last_name="Manager", email="bob@example.org")
    held = patient("medium", olcm=bob)
    high, medium, low = patient("high"), patient("medium"), patient("low")
    patient("high", status=MemberRecordStatus.TERMINATED)  # not counted: never planned
    return {"jane": jane, "bob": bob, "held": held, "high": high, "medium": medium, "low": low}


def test_preview_prints_the_plan_and_writes_nothing(world, tmp_path):
    results = tmp_path / "plan.csv"
    before = care_teams()

    stdout, _ = run("--role", "olcm", "--results", str(results))

    # high (3): Jane .30 < Bob .50; medium (2): Bob .40 < Jane .50; low (1): Jane .40 < .50.
    assert stdout.strip() == "3 moves, 0 unplaced, spread 0.20 → 0.00 (preview: nothing written)"
    assert care_teams() == before
    assert not LcmAssignmentHistory.objects.exists() and not Activity.objects.exists()
    jane, bob = world["jane"].pk, world["bob"].pk
    rows = read_results(results)
    assert [(r["patient_id"], r["role"], r["to_user_id"], r["status"]) for r in rows] == [
        (str(world["high"].pk), "olcm", str(jane), "planned"),
        (str(world["medium"].pk), "olcm", str(bob), "planned"),
        (str(world["low"].pk), "olcm", str(jane), "planned"),
    ]
    member_id = world["high"].ecm_eligibility_information.member_id
    assert rows[0] == {
        "patient_id": str(world["high"].pk),
        "member_id": member_id,
        "role": "olcm",
        "from_user_id": "",
        "to_user_id": str(jane),
        "weight": "3",
        "why": "least utilized accepting oLCM (0.00 → 0.30)",
        "status": "planned",
        "errors": "",
    }
    event = last_event()
    assert (event.source, event.action, event.status_code) == ("cmd:plan_caseloads", "read_list", 0)
    assert sorted(event.patient_ids) == sorted(world[k].pk for k in ("high", "medium", "low"))


def test_dry_run_is_the_preview_and_contradicts_apply(world):
    stdout, _ = run("--role", "olcm", "--dry-run")
    assert stdout.strip().endswith("(preview: nothing written)")
    assert not LcmAssignmentHistory.objects.exists()
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("--role", "olcm", "--apply", "--dry-run")


def test_apply_writes_history_activity_and_audit_as_a_manual_assignment(world, admin):
    stdout, _ = run(
        "--role", "olcm", "--apply", "--reason", "Q3 fill", "--actor-email", admin.email
    )

    assert stdout.strip() == (
        "3 moves, 0 unplaced, spread 0.20 → 0.00 (applied: 3 succeeded, 0 failed)"
    )
    jane, bob = world["jane"], world["bob"]
    teams = care_teams()
    assert teams[world["high"].pk] == (jane.pk, None)
    assert teams[world["medium"].pk] == (bob.pk, None)
    assert teams[world["low"].pk] == (jane.pk, None)
    history = LcmAssignmentHistory.objects.filter(patient=world["high"]).get()
    assert (history.role, history.previous_user_id, history.new_user_id) == ("olcm", None, jane.pk)
    assert (history.reason, history.acted_by_id, history.acted_by_name) == (
        "Q3 fill",
        admin.pk,
        "Ada Admin",
    )
    activity = Activity.objects.filter(patient=world["high"]).get()
    # As a manual assignment of the same change with the same reason describes it.
    manual = factories.ecm_patient()
    care_team_assign(patient_id=manual.pk, olcm_user_id=jane.pk, actor=admin, reason="Q3 fill")
    expected = Activity.objects.filter(patient=manual).get()
    assert (activity.kind, activity.description, activity.actor_id, activity.actor_name) == (
        expected.kind,
        expected.description,
        expected.actor_id,
        expected.actor_name,
    )
    assert activity.description == "oLCM assigned: Jane Coordinator. Reason: Q3 fill"
    assert activity.metadata == {**expected.metadata}
    event = AccessEvent.objects.filter(source="cmd:plan_caseloads").get()
    assert (event.action, event.user_id, event.status_code) == ("bulk_assign", admin.pk, 0)
    assert sorted(event.patient_ids) == sorted(world[k].pk for k in ("high", "medium", "low"))


def test_without_an_actor_the_changes_are_the_planners(world):
    run("--role", "olcm", "--apply")
    assert {h.acted_by_name for h in LcmAssignmentHistory.objects.all()} == {"Care-team planning"}
    assert {h.acted_by_id for h in LcmAssignmentHistory.objects.all()} == {None}


def test_apply_results_and_the_workload_after(world, tmp_path):
    results = tmp_path / "applied.csv"
    run("--role", "olcm", "--apply", "--results", str(results))
    assert [r["status"] for r in read_results(results)] == ["success"] * 3
    rows = plans.lead_care_manager_rows()
    loads = workloads(((r.id, r.capacity, r.accepting) for r in rows), counted_patients())
    assert {pk: load.weighted_load(acuity_weights()) for pk, load in loads.items()} == {
        world["jane"].pk: 4,
        world["bob"].pk: 4,
    }
    # Nothing is missing any more: a second run plans nothing and succeeds.
    stdout, _ = run("--role", "olcm", "--apply")
    assert (
        stdout.strip() == "0 moves, 0 unplaced, spread 0.00 → 0.00 (applied: 0 succeeded, 0 failed)"
    )


def test_capacity_is_respected_and_the_rest_is_unplaced(db, tmp_path):
    small = lcm(4)
    lcm(5, accepting=False)  # on leave: never chosen
    waiting = [patient("high"), patient("high"), patient("low")]
    results = tmp_path / "plan.csv"

    stdout, _ = run("--role", "olcm", "--apply", "--results", str(results))

    # 3 points, then 1: 4 of 4; the second high patient has nowhere to go. (The spread is
    # over the accepting LCMs: one.)
    assert stdout.strip() == (
        "2 moves, 1 unplaced, spread 0.00 → 0.00 (applied: 2 succeeded, 0 failed)"
    )
    assert care_teams() == {waiting[0].pk: (small.pk, None), waiting[2].pk: (small.pk, None)}
    unplaced = read_results(results)[-1]
    assert (unplaced["patient_id"], unplaced["role"], unplaced["status"], unplaced["errors"]) == (
        str(waiting[1].pk),
        "olcm",
        "unplaced",
        "No accepting Lead Care Manager has capacity",
    )
    assert unplaced["member_id"] == waiting[1].ecm_eligibility_information.member_id


def test_nothing_placeable_while_patients_wait_exits_non_zero(db):
    lcm(0)
    lcm(10, accepting=False)
    patient("low")
    patient("medium")
    with pytest.raises(CommandError, match=WAITING.format(2)):
        run("--role", "olcm")
    assert last_event().status_code == 1
    with pytest.raises(CommandError, match=WAITING.format(2)):
        run("--role", "olcm", "--apply")
    assert not CaseLoad.objects.exists()


def test_both_roles_are_never_the_same_person(db):
    first, second = lcm(20), lcm(20)
    held = patient("low", ilcm=first)  # only the oLCM is missing: not the iLCM again
    fresh = [patient("medium") for _ in range(3)]

    run("--role", "both", "--apply")

    teams = care_teams()
    assert teams[held.pk] == (second.pk, first.pk)
    for created in fresh:
        olcm, ilcm = teams[created.pk]
        assert olcm and ilcm and olcm != ilcm


def test_only_the_named_lcms_receive(world):
    stdout, _ = run("--role", "olcm", "--lcm", "BOB@example.org", "--apply")
    assert set(care_teams().values()) == {(world["bob"].pk, None)}
    assert stdout.startswith("3 moves")
    with pytest.raises(
        CommandError, match=re.escape("--lcm nobody@example.org: not an active Lead Care")
    ):
        run("--role", "olcm", "--lcm", "nobody@example.org")


def test_limit_leaves_the_lightest_for_a_later_run(world):
    stdout, _ = run("--role", "olcm", "--limit", "2")
    assert stdout.startswith("2 moves, 0 unplaced, 1 patients left for a later run (--limit)")


def test_a_patient_changed_after_planning_is_skipped_and_reported(world, monkeypatch, tmp_path):
    """Another writer assigns the high patient between the plan and its application."""
    planned = plans.plan_auto_assign
    other = lcm(10, accepting=False, email="other@example.org")  # not in the plan

    def plan_then_someone_assigns(**kwargs):
        plan = planned(**kwargs)
        care_team_assign(patient_id=world["high"].pk, olcm_user_id=other.pk, actor=None)
        return plan

    monkeypatch.setattr(plans, "plan_auto_assign", plan_then_someone_assigns)
    results = tmp_path / "applied.csv"

    with pytest.raises(CommandError, match="1 of 3 moves failed"):
        run("--role", "olcm", "--apply", "--results", str(results))

    assert care_teams()[world["high"].pk] == (other.pk, None)  # the other writer's, kept
    assert care_teams()[world["medium"].pk] == (world["bob"].pk, None)
    rows = {r["patient_id"]: r for r in read_results(results)}
    assert (rows[str(world["high"].pk)]["status"], rows[str(world["high"].pk)]["errors"]) == (
        "failed",
        CARE_TEAM_CHANGED,
    )
    assert rows[str(world["low"].pk)]["status"] == "success"
    event = last_event()
    assert (event.status_code, sorted(event.patient_ids)) == (
        1,
        sorted([world["medium"].pk, world["low"].pk]),
    )


def test_failures_are_printed_and_summed(world, monkeypatch):
    planned = plans.plan_auto_assign

    def plan_then_everything_changes(**kwargs):
        plan = planned(**kwargs)
        for key in ("high", "medium", "low"):
            care_team_assign(patient_id=world[key].pk, olcm_user_id=world["bob"].pk, actor=None)
        return plan

    monkeypatch.setattr(plans, "plan_auto_assign", plan_then_everything_changes)
    monkeypatch.setattr(command, "MAX_REPORTED_FAILURES", 2)
    stdout = StringIO()
    stderr = StringIO()
    with pytest.raises(CommandError, match="3 of 3 moves failed"):
        call_command("plan_caseloads", "--role", "olcm", "--apply", stdout=stdout, stderr=stderr)
    assert stdout.getvalue().strip().endswith("(applied: 0 succeeded, 3 failed)")
    assert stderr.getvalue().splitlines() == [
        f"patient {world['high'].pk}: {CARE_TEAM_CHANGED}",
        f"patient {world['medium'].pk}: {CARE_TEAM_CHANGED}",
        "... and 1 more patients whose moves failed (see --results)",
    ]


def test_many_patients_in_several_chunks(db, monkeypatch, tmp_path):
    monkeypatch.setattr(command, "CHUNK", 4)
    lcms = [lcm(100) for _ in range(3)]
    waiting = [patient(("low", "medium", "high", "")[n % 4]) for n in range(11)]
    results = tmp_path / "applied.csv"

    stdout, _ = run("--role", "both", "--apply", "--results", str(results), "--reason", "r")

    assert "22 moves, 0 unplaced" in stdout and "(applied: 22 succeeded, 0 failed)" in stdout
    rows = read_results(results)
    assert len(rows) == 22 and {r["status"] for r in rows} == {"success"}
    teams = care_teams()
    assert all(None not in teams[p.pk] and len(set(teams[p.pk])) == 2 for p in waiting)
    assert LcmAssignmentHistory.objects.filter(reason="r").count() == 22
    assert {user.pk for user in lcms} >= {pk for team in teams.values() for pk in team}


def test_rebalance_moves_recent_assignments_from_above_to_below_the_mean(db, settings):
    import datetime as dt

    from django.utils import timezone

    settings.REASSIGN_COOLDOWN_DAYS = 90
    busy, idle = lcm(10), lcm(10)
    long_ago = timezone.now() - dt.timedelta(days=400)
    held = [patient("medium", olcm=busy) for _ in range(4)]
    CaseLoad.objects.update(olcm_assigned_at=long_ago)
    recent = held[2]
    CaseLoad.objects.filter(patient=recent).update(
        olcm_assigned_at=long_ago + dt.timedelta(days=200)
    )

    stdout, _ = run("--role", "olcm", "--mode", "rebalance", "--apply", "--max-moves", "1")

    assert (
        stdout.strip() == "1 moves, 0 unplaced, spread 0.80 → 0.40 (applied: 1 succeeded, 0 failed)"
    )
    assert care_teams()[recent.pk] == (idle.pk, None)


def test_rebalance_moves_do_not_count_as_placing_the_waiting(db, tmp_path):
    import datetime as dt

    from django.utils import timezone

    busy, idle = lcm(4), lcm(2)
    for _ in range(4):
        patient("low", olcm=busy)  # 4 of 4
    CaseLoad.objects.update(olcm_assigned_at=timezone.now() - dt.timedelta(days=400))
    waiting = patient("high")  # 3 points: no room anywhere
    results = tmp_path / "plan.csv"

    with pytest.raises(CommandError, match=WAITING.format(1)):
        run("--role", "olcm", "--mode", "rebalance", "--results", str(results))

    rows = read_results(results)
    # One low patient moves (1.00/0.00 → 0.75/0.50; a second would not narrow the gap).
    assert [(r["from_user_id"], r["to_user_id"]) for r in rows[:-1]] == [
        (str(busy.pk), str(idle.pk))
    ]
    assert (rows[-1]["patient_id"], rows[-1]["status"]) == (str(waiting.pk), "unplaced")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "invalid positive integer value"),
        (["--max-moves", "x"], "invalid positive integer value"),
        (["--tolerance", "-1"], "invalid number of at least 0 value"),
        (["--role", "all"], "invalid choice"),
        (["--reason", "x" * 1001], "--reason must be at most 1000 characters"),
        (["--actor-email", "nobody@example.org"], "no active user with that email"),
    ],
)
def test_bad_options_are_refused_before_anything_is_planned(world, args, message):
    arguments = args if "--role" in args else ["--role", "olcm", *args]
    with pytest.raises(CommandError, match=message):
        run(*arguments)
    assert not LcmAssignmentHistory.objects.exists()


def test_results_file_that_cannot_be_written(world, tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        run("--role", "olcm", "--results", str(tmp_path / "missing" / "out.csv"))


def test_a_database_error_stops_the_apply_and_says_what_was_not_written(db, monkeypatch, tmp_path):
    monkeypatch.setattr(command, "CHUNK", 2)
    lcm(100)
    waiting = [patient("medium") for _ in range(6)]  # three chunks of two
    apply_plan = plans.apply_plan

    def second_chunk_fails(plan, **kwargs):
        if plan.moves[0].patient_id == waiting[2].pk:
            raise DatabaseError("connection lost")
        return apply_plan(plan, **kwargs)

    monkeypatch.setattr(plans, "apply_plan", second_chunk_fails)
    results = tmp_path / "applied.csv"

    with pytest.raises(DatabaseError, match="connection lost"):
        run("--role", "olcm", "--apply", "--results", str(results))

    statuses = [(r["patient_id"], r["status"], r["errors"]) for r in read_results(results)]
    assert statuses == [
        (str(waiting[0].pk), "success", ""),
        (str(waiting[1].pk), "success", ""),
        (str(waiting[2].pk), "failed", command.NOT_WRITTEN),
        (str(waiting[3].pk), "failed", command.NOT_WRITTEN),
        (str(waiting[4].pk), "failed", command.NOT_STARTED),
        (str(waiting[5].pk), "failed", command.NOT_STARTED),
    ]
    assert set(care_teams()) == {waiting[0].pk, waiting[1].pk}
    event = last_event()
    assert (event.status_code, sorted(event.patient_ids)) == (1, [waiting[0].pk, waiting[1].pk])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_writers_apply_chunks_at_once_and_the_counts_are_merged(monkeypatch, tmp_path):
    """Outside a transaction, as in production: chunks go to two writer threads."""
    import threading

    # The tables of earlier tests like this one were emptied by TRUNCATE, which the triggers
    # keeping the counts do not see: count again from the rows.
    with connection.cursor() as cursor:
        cursor.execute("SELECT care_team_workload_rebuild()")
    monkeypatch.setattr(command, "CHUNK", 3)
    lcms = [lcm(100) for _ in range(3)]
    waiting = [patient(("low", "medium", "high")[n % 3]) for n in range(14)]
    threads: set[str] = set()
    apply_plan = plans.apply_plan

    def recording(plan, **kwargs):
        threads.add(threading.current_thread().name)
        return apply_plan(plan, **kwargs)

    monkeypatch.setattr(plans, "apply_plan", recording)

    stdout, _ = run("--role", "both", "--apply", "--results", str(tmp_path / "r.csv"))

    assert "(applied: 28 succeeded, 0 failed)" in stdout
    assert len(threads) == 2 and all(name.startswith("plan-caseloads") for name in threads)
    teams = care_teams()
    assert all(len({*teams[p.pk]} - {None}) == 2 for p in waiting)
    assert {pk for team in teams.values() for pk in team} <= {user.pk for user in lcms}
    assert counted_patients() == counted_patients(stored=False)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) - count(DISTINCT (user_id, role, acuity)) FROM care_team_workloadcount"
        )
        assert cursor.fetchone()[0] == 0  # one row per group: the deltas were merged


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_the_progress_and_a_pipe_does_not(world, monkeypatch, tmp_path):
    piped = StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    run("--role", "olcm", "--results", str(tmp_path / "plan.csv"))
    assert piped.getvalue() == ""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    run("--role", "olcm", "--results", str(tmp_path / "plan.csv"))
    assert "Writing results [" in terminal.getvalue() and "100% 3/3" in terminal.getvalue()
    run("--role", "olcm", "--apply")
    assert "Applying [" in terminal.getvalue()
