"""``POST /lead_care_managers/auto_assign`` applied, and its rebalance (API.md §7, "Plans"):
what is written, how it is recorded, and what a plan does when the care team changed."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AccessEvent
from care_team.models import CaseLoad, LcmAssignmentHistory
from care_team.planning import plans
from care_team.services import CARE_TEAM_CHANGED, care_team_assign
from patients.models import Activity, EcmEligibilityInformation
from tests import factories
from tests.care_team.planning import AUTO_ASSIGN_URL, care_team, lcm, patient

pytestmark = pytest.mark.django_db


def plan(client, **body):
    response = client.post(AUTO_ASSIGN_URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def assigned_days_ago(patient_, days: int, role: str = "olcm") -> None:
    CaseLoad.objects.filter(patient=patient_).update(
        **{f"{role}_assigned_at": timezone.now() - dt.timedelta(days=days)}
    )


@pytest.fixture
def world(db):
    """Jane (empty) and Bob (a medium patient as oLCM), capacity 10 each; three counted
    patients without an oLCM."""
    jane = lcm("Jane", 10, last_name="Coordinator")
    bob = lcm("Bob", 10, last_name="Manager")
    held = patient("medium", olcm=bob)
    high, medium, low = patient("high"), patient("medium"), patient("low")
    return {"jane": jane, "bob": bob, "held": held, "high": high, "medium": medium, "low": low}


# --- applying ----------------------------------------------------------------------------


def test_applied_plan_writes_history_activity_and_audit_as_a_manual_assignment(
    admin_client, admin, world
):
    body = plan(admin_client, role="olcm", dry_run=False, reason="Q3 fill")

    assert body["dry_run"] is False
    jane, bob = world["jane"], world["bob"]
    order = [world["high"].pk, world["medium"].pk, world["low"].pk]
    assert body["applied"] == {
        "successful_count": 3,
        "failed_count": 0,
        "results": [{"patient_id": pk, "status": "success"} for pk in order],
    }
    assert care_team(world["high"].pk) == (jane.pk, None)
    assert care_team(world["medium"].pk) == (bob.pk, None)
    assert care_team(world["low"].pk) == (jane.pk, None)
    case_load = CaseLoad.objects.get(patient=world["high"])
    assert case_load.olcm_assigned_at is not None and case_load.ilcm_assigned_at is None
    entry = LcmAssignmentHistory.objects.get(patient=world["high"])
    assert (entry.role, entry.previous_user_id, entry.new_user_id) == ("olcm", None, jane.pk)
    assert (entry.reason, entry.acted_by_id, entry.acted_by_name) == (
        "Q3 fill",
        admin.pk,
        "Ada Admin",
    )
    activity = Activity.objects.get(patient=world["high"])
    manual = factories.ecm_patient()
    care_team_assign(patient_id=manual.pk, olcm_user_id=jane.pk, actor=admin, reason="Q3 fill")
    expected = Activity.objects.get(patient=manual)
    assert (activity.kind, activity.description, activity.actor_id, activity.actor_name) == (
        expected.kind,
        expected.description,
        expected.actor_id,
        expected.actor_name,
    )
    assert activity.description == "oLCM assigned: Jane Coordinator. Reason: Q3 fill"
    assert activity.metadata == expected.metadata
    event = AccessEvent.objects.filter(route__contains="auto_assign").get()
    assert (event.action, event.user_id, event.status_code) == ("bulk_assign", admin.pk, 200)
    assert sorted(event.patient_ids) == sorted(order)
    # Nothing is missing any more: the next plan has nothing to do.
    again = plan(admin_client, role="olcm", dry_run=False)
    assert again["moves"] == [] and again["applied"] == {
        "successful_count": 0,
        "failed_count": 0,
        "results": [],
    }


def test_applied_without_a_reason_records_none(admin_client, world):
    plan(admin_client, role="olcm", dry_run=False, filters={"acuity_level": "low"})
    entry = LcmAssignmentHistory.objects.get()
    assert (entry.patient_id, entry.reason) == (world["low"].pk, "")


def test_a_patient_changed_after_planning_is_skipped_and_reported(admin_client, world, monkeypatch):
    """Another writer assigns the high patient between the plan and its application."""
    planned = plans.plan_auto_assign
    other = lcm("Other", 10, accepting=False)  # not in the plan

    def plan_then_someone_assigns(**kwargs):
        result = planned(**kwargs)
        care_team_assign(patient_id=world["high"].pk, olcm_user_id=other.pk, actor=None)
        return result

    monkeypatch.setattr(plans, "plan_auto_assign", plan_then_someone_assigns)

    body = plan(admin_client, role="olcm", dry_run=False, reason="fill")

    assert body["applied"] == {
        "successful_count": 2,
        "failed_count": 1,
        "results": [
            {"patient_id": world["high"].pk, "status": "failed", "errors": [CARE_TEAM_CHANGED]},
            {"patient_id": world["medium"].pk, "status": "success"},
            {"patient_id": world["low"].pk, "status": "success"},
        ],
    }
    assert care_team(world["high"].pk) == (other.pk, None)  # the other writer's, kept
    assert care_team(world["medium"].pk) == (world["bob"].pk, None)
    assert care_team(world["low"].pk) == (world["jane"].pk, None)
    assert not LcmAssignmentHistory.objects.filter(patient=world["high"], reason="fill").exists()


def test_a_removal_after_planning_is_a_change_too(admin_client, db, monkeypatch):
    """A rebalance move whose patient lost its oLCM meanwhile is not applied."""
    busy, idle = lcm("Busy", 10), lcm("Idle", 10)
    moving = patient("medium", olcm=busy)
    staying = [patient("medium", olcm=busy) for _ in range(3)]
    assigned_days_ago(moving, 200)
    planned = plans.plan_auto_assign

    def plan_then_someone_removes(**kwargs):
        result = planned(**kwargs)
        CaseLoad.objects.filter(patient=moving).update(olcm=None)
        return result

    monkeypatch.setattr(plans, "plan_auto_assign", plan_then_someone_removes)
    body = plan(admin_client, role="olcm", mode="rebalance", dry_run=False)

    assert [(m["patient_id"], m["from_user_id"], m["to_user_id"]) for m in body["moves"]] == [
        (moving.pk, busy.pk, idle.pk)
    ]
    assert body["applied"]["results"] == [
        {"patient_id": moving.pk, "status": "failed", "errors": [CARE_TEAM_CHANGED]}
    ]
    assert care_team(moving.pk) == (None, None)
    assert all(care_team(p.pk) == (busy.pk, None) for p in staying)


# --- rebalance ---------------------------------------------------------------------------


@pytest.fixture
def crowded(db):
    """Busy (8 of 10: four medium patients as oLCM, assigned 400, 200, 100 and 10 days ago),
    Mid (4 of 10, long ago) and Idle (empty)."""
    busy, mid, idle = lcm("Busy", 10), lcm("Mid", 10), lcm("Idle", 10)
    held = {}
    for days in (400, 200, 100, 10):
        held[days] = patient("medium", olcm=busy)
        assigned_days_ago(held[days], days)
    mids = [patient("medium", olcm=mid) for _ in range(2)]
    for each in mids:
        assigned_days_ago(each, 500)
    return {"busy": busy, "mid": mid, "idle": idle, "held": held, "mids": mids}


def rebalanced(body) -> list[tuple[int, int, int]]:
    return [(m["patient_id"], m["from_user_id"], m["to_user_id"]) for m in body["moves"]]


def test_rebalance_moves_the_most_recent_past_the_cooldown_above_to_below_the_mean(
    admin_client, crowded, settings
):
    settings.REASSIGN_COOLDOWN_DAYS = 90
    busy, idle, held = crowded["busy"].pk, crowded["idle"].pk, crowded["held"]

    body = plan(admin_client, role="olcm", mode="rebalance")

    # Mean .40: Busy (.80) gives, Idle (.00) receives, Mid (at the mean) neither. The patient
    # of 10 days is in the cooldown; 100 days is the most recent past it, then 200 days.
    assert rebalanced(body) == [(held[100].pk, busy, idle), (held[200].pk, busy, idle)]
    assert body["moves"][0]["weight"] == 2
    assert body["moves"][0]["why"] == (
        "rebalance oLCM from 0.80 to the least utilized (0.00 → 0.20); most recently assigned first"
    )
    assert (body["before"]["utilization_spread"], body["after"]["utilization_spread"]) == (
        0.8,
        0.0,
    )
    assert body["applied"] is None and not LcmAssignmentHistory.objects.exists()


def test_rebalance_respects_the_cooldown_setting(admin_client, crowded, settings):
    settings.REASSIGN_COOLDOWN_DAYS = 150
    held = crowded["held"]
    body = plan(admin_client, role="olcm", mode="rebalance")
    assert [m["patient_id"] for m in body["moves"]] == [held[200].pk, held[400].pk]
    settings.REASSIGN_COOLDOWN_DAYS = 1000
    assert plan(admin_client, role="olcm", mode="rebalance")["moves"] == []


def test_rebalance_stops_within_tolerance_and_at_max_moves(admin_client, crowded):
    held = crowded["held"]
    body = plan(admin_client, role="olcm", mode="rebalance", tolerance=0.5)
    assert [m["patient_id"] for m in body["moves"]] == [held[100].pk]  # .60/.40/.20: .40
    assert body["after"]["utilization_spread"] == 0.4
    body = plan(admin_client, role="olcm", mode="rebalance", max_moves=1)
    assert [m["patient_id"] for m in body["moves"]] == [held[100].pk]
    body = plan(admin_client, role="olcm", mode="rebalance", tolerance=0.8)
    assert body["moves"] == []  # the spread is already within it


def test_null_options_are_the_defaults(admin_client, crowded):
    default = plan(admin_client, role="olcm", mode="rebalance")
    nulls = {
        "tolerance": None,
        "max_moves": None,
        "limit": None,
        "lcm_user_ids": None,
        "filters": None,
        "reason": None,
    }
    assert plan(admin_client, role="olcm", mode="rebalance", **nulls) == default
    assert len(default["moves"]) == 2
    assert plan(admin_client, role="olcm", mode="rebalance", tolerance=0) == default
    fill = plan(admin_client, role="olcm")
    assert plan(admin_client, role="olcm", mode=None) == fill


def test_rebalance_takes_only_filtered_patients_and_gives_only_to_the_named(admin_client, crowded):
    busy, mid, idle, held = crowded["busy"], crowded["mid"], crowded["idle"], crowded["held"]
    light = held[200]
    EcmEligibilityInformation.objects.filter(patient=light).update(acuity_level="low")
    body = plan(admin_client, role="olcm", mode="rebalance", filters={"acuity_level": "low"})
    assert rebalanced(body) == [(light.pk, busy.pk, idle.pk)]
    assert body["moves"][0]["weight"] == 1
    # Mid is not below the mean (.37): named alone, nobody receives.
    assert plan(admin_client, role="olcm", mode="rebalance", lcm_user_ids=[mid.pk])["moves"] == []
    body = plan(admin_client, role="olcm", mode="rebalance", lcm_user_ids=[idle.pk])
    assert {m["to_user_id"] for m in body["moves"]} == {idle.pk}


def test_rebalance_applied_records_the_move(admin_client, admin, crowded):
    busy, idle, held = crowded["busy"], crowded["idle"], crowded["held"]
    body = plan(admin_client, role="olcm", mode="rebalance", dry_run=False, reason="balance")

    assert body["applied"]["successful_count"] == 2
    assert care_team(held[100].pk) == (idle.pk, None)
    assert care_team(held[200].pk) == (idle.pk, None)
    entry = LcmAssignmentHistory.objects.get(patient=held[100])
    assert (entry.previous_user_id, entry.new_user_id, entry.reason, entry.acted_by_id) == (
        busy.pk,
        idle.pk,
        "balance",
        admin.pk,
    )
    # The move starts a new relationship: within the cooldown now, so it stays put.
    assert CaseLoad.objects.get(patient=held[100]).olcm_assigned_at > timezone.now() - dt.timedelta(
        minutes=5
    )
    assert plan(admin_client, role="olcm", mode="rebalance")["moves"] == []


def test_rebalance_also_fills_the_waiting_first(admin_client, crowded):
    waiting = patient("low")
    body = plan(admin_client, role="olcm", mode="rebalance")
    first = body["moves"][0]
    assert (first["patient_id"], first["from_user_id"], first["to_user_id"]) == (
        waiting.pk,
        None,
        crowded["idle"].pk,
    )
    assert all(m["from_user_id"] == crowded["busy"].pk for m in body["moves"][1:])


def test_rebalance_never_makes_the_fill_s_lcm_both_roles(admin_client, db):
    """A fill of the iLCM in the same plan counts: the rebalance of the oLCM does not give
    the patient the same person again."""
    dee, xav = lcm("Dee", 10), lcm("Xav", 10)
    away = lcm("Away", 100, accepting=False)
    moving = patient("medium", olcm=dee)  # no iLCM; oLCM long ago
    assigned_days_ago(moving, 200)
    for _ in range(3):
        assigned_days_ago(patient("medium", olcm=dee, ilcm=away), 1)  # in the cooldown

    body = plan(admin_client, role="both", mode="rebalance", dry_run=False)

    # The fill gives the iLCM to Xav (not Dee, the oLCM); Dee is then above the mean and Xav
    # below it, but Xav is already the patient's iLCM: the oLCM stays with Dee.
    assert rebalanced(body) == [(moving.pk, None, xav.pk)]
    assert body["moves"][0]["role"] == "ilcm"
    assert care_team(moving.pk) == (dee.pk, xav.pk)


def test_rebalance_of_both_roles_never_makes_one_person_both(admin_client, db):
    """The oLCM the rebalance moved counts when the iLCM is rebalanced next."""
    dee, eve, xav = lcm("Dee", 10), lcm("Eve", 10), lcm("Xav", 10)
    shared = patient("medium", olcm=dee, ilcm=eve)
    assigned_days_ago(shared, 200)
    assigned_days_ago(shared, 200, role="ilcm")
    for _ in range(3):
        patient("medium", olcm=dee, ilcm=eve)  # assigned just now: in the cooldown

    body = plan(admin_client, role="both", mode="rebalance", dry_run=False)

    # oLCM: Dee (.80) gives the patient to Xav (.00), not to Eve (its iLCM). iLCM: Eve (.80)
    # would give it to Xav (.20), who is now its oLCM; Dee (.60) is above the mean (.53).
    assert rebalanced(body) == [(shared.pk, dee.pk, xav.pk)]
    assert body["moves"][0]["role"] == "olcm"
    assert care_team(shared.pk) == (xav.pk, eve.pk)
