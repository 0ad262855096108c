"""``POST /lead_care_managers/auto_assign`` (API.md §7, "Plans"): the fill, its inputs, its
limits and the preview, end to end. (The planner's rules alone: ``test_planner.py``.)"""

import pytest

from audit.models import AccessEvent
from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from patients.choices import MemberRecordStatus as Status
from patients.models import Activity
from tests import factories
from tests.care_team.planning import AUTO_ASSIGN_URL, care_team, lcm, patient

pytestmark = pytest.mark.django_db

PLAN_KEYS = {"dry_run", "moves", "unplaced", "remaining_count", "before", "after", "applied"}
MOVE_KEYS = {"patient_id", "role", "from_user_id", "to_user_id", "weight", "why"}
NO_CAPACITY = "No accepting Lead Care Manager has capacity"


def plan(client, **body):
    response = client.post(AUTO_ASSIGN_URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def targets(body) -> list[tuple[int, str, int]]:
    return [(move["patient_id"], move["role"], move["to_user_id"]) for move in body["moves"]]


@pytest.fixture
def world(db):
    """Jane (empty) and Bob (a medium patient as oLCM: 2 points), capacity 10 each; three
    counted patients without an oLCM (high, medium, low) and a terminated one."""
    jane = lcm("Jane", 10, last_name="Coordinator")
    bob = lcm("Bob", 10, last_name="Manager")
    held = patient("medium", olcm=bob)
    high, medium, low = patient("high"), patient("medium"), patient("low")
    patient("high", Status.TERMINATED)  # not counted: never planned
    return {"jane": jane, "bob": bob, "held": held, "high": high, "medium": medium, "low": low}


# --- authentication, permission ---------------------------------------------------------


def test_without_a_token_401_and_without_the_admin_role_403(anon_client, viewer_client, world):
    body = {"role": "olcm", "dry_run": False}
    response = anon_client.post(AUTO_ASSIGN_URL, body, format="json")
    assert response.status_code == 401
    assert response.json() == {"errors": ["Authentication required"]}
    response = viewer_client.post(AUTO_ASSIGN_URL, body, format="json")
    assert response.status_code == 403
    assert response.json() == {"errors": ["Admin access required"]}
    assert not LcmAssignmentHistory.objects.exists()
    assert care_team(world["high"].pk) == (None, None)


# --- the preview ------------------------------------------------------------------------


def test_dry_run_is_the_default_shows_the_plan_and_writes_nothing(admin_client, world):
    body = plan(admin_client, role="olcm")

    assert set(body) == PLAN_KEYS
    assert body["dry_run"] is True and body["applied"] is None
    jane, bob = world["jane"].pk, world["bob"].pk
    # high (3): Jane .30 < Bob .50; medium (2): Bob .40 < Jane .50; low (1): Jane .40 < .50.
    assert body["moves"] == [
        {
            "patient_id": world["high"].pk,
            "role": "olcm",
            "from_user_id": None,
            "to_user_id": jane,
            "weight": 3,
            "why": "least utilized accepting oLCM (0.00 → 0.30)",
        },
        {
            "patient_id": world["medium"].pk,
            "role": "olcm",
            "from_user_id": None,
            "to_user_id": bob,
            "weight": 2,
            "why": "least utilized accepting oLCM (0.20 → 0.40)",
        },
        {
            "patient_id": world["low"].pk,
            "role": "olcm",
            "from_user_id": None,
            "to_user_id": jane,
            "weight": 1,
            "why": "least utilized accepting oLCM (0.30 → 0.40)",
        },
    ]
    assert (body["unplaced"], body["remaining_count"]) == ([], 0)
    assert body["before"] == {
        "utilization_spread": 0.2,
        "lead_care_managers": [
            {"id": jane, "weighted_load": 0, "utilization": 0.0},
            {"id": bob, "weighted_load": 2, "utilization": 0.2},
        ],
    }
    assert body["after"] == {
        "utilization_spread": 0.0,
        "lead_care_managers": [
            {"id": jane, "weighted_load": 4, "utilization": 0.4},
            {"id": bob, "weighted_load": 4, "utilization": 0.4},
        ],
    }
    assert CaseLoad.objects.count() == 1  # Bob's patient's, untouched
    assert not LcmAssignmentHistory.objects.exists() and not Activity.objects.exists()
    event = AccessEvent.objects.order_by("-id").first()
    assert (event.action, event.status_code) == ("read_list", 200)
    assert sorted(event.patient_ids) == sorted(world[k].pk for k in ("high", "medium", "low"))
    # Asked explicitly: the same.
    assert plan(admin_client, role="olcm", dry_run=True) == body


def test_a_plan_names_every_active_lcm_before_and_after(admin_client, world):
    away = lcm("Away", 5, accepting=False)
    lcm("Gone", 5, is_active=False)
    body = plan(admin_client, role="ilcm")
    ids = [entry["id"] for entry in body["before"]["lead_care_managers"]]
    assert ids == sorted([world["jane"].pk, world["bob"].pk, away.pk])
    assert [entry["id"] for entry in body["after"]["lead_care_managers"]] == ids
    assert all(move["to_user_id"] != away.pk for move in body["moves"])


# --- the fill's rules, through the route --------------------------------------------------


def test_ties_go_to_the_lower_load_then_the_lower_id(admin_client, db):
    amy, ben = lcm("Amy", 10), lcm("Ben", 10)
    first = patient("low")
    assert targets(plan(admin_client, role="olcm")) == [(first.pk, "olcm", amy.pk)]
    # Amy 3/20 and Ben 1/10: both .20 after one more point; Ben's load is lower.
    LeadCareManagerProfile.objects.filter(user=amy).update(capacity=20)
    for _ in range(3):
        patient("low", olcm=amy)
    patient("low", olcm=ben)
    assert targets(plan(admin_client, role="olcm")) == [(first.pk, "olcm", ben.pk)]


def test_never_past_capacity_the_rest_unplaced(admin_client, db):
    small = lcm("Small", 4)
    lcm("Away", 100, accepting=False)  # on leave: never chosen
    lcm("Zero", 0)  # no capacity: never chosen
    first, second, low = patient("high"), patient("high"), patient("low")

    body = plan(admin_client, role="olcm")

    # 3 points, then 1: 4 of 4; the second high patient has nowhere to go.
    assert targets(body) == [(first.pk, "olcm", small.pk), (low.pk, "olcm", small.pk)]
    assert body["unplaced"] == [{"patient_id": second.pk, "role": "olcm", "errors": [NO_CAPACITY]}]
    assert body["remaining_count"] == 0


def test_not_accepting_never_receives_even_when_named(admin_client, world):
    LeadCareManagerProfile.objects.filter(user=world["jane"]).update(accepting_patients=False)
    body = plan(admin_client, role="olcm", lcm_user_ids=[world["jane"].pk])
    assert body["moves"] == []
    assert [u["patient_id"] for u in body["unplaced"]] == [
        world["high"].pk,
        world["medium"].pk,
        world["low"].pk,
    ]


def test_both_roles_are_never_the_same_person(admin_client, db):
    first, second = lcm("First", 20), lcm("Second", 20)
    held = patient("low", ilcm=first)  # only the oLCM is missing: not the iLCM again
    fresh = [patient("medium") for _ in range(3)]

    body = plan(admin_client, role="both", dry_run=False)

    assert body["applied"]["successful_count"] == 4
    assert care_team(held.pk) == (second.pk, first.pk)
    for created in fresh:
        olcm, ilcm = care_team(created.pk)
        assert olcm and ilcm and olcm != ilcm


def test_alone_an_lcm_is_not_made_both_roles(admin_client, db, settings):
    only = lcm("Only", 20)
    waiting = patient("medium")
    body = plan(admin_client, role="both")
    assert targets(body) == [(waiting.pk, "olcm", only.pk)]
    assert body["unplaced"] == [{"patient_id": waiting.pk, "role": "ilcm", "errors": [NO_CAPACITY]}]
    settings.CARE_TEAM_DISTINCT_ROLES = False
    body = plan(admin_client, role="both")
    assert targets(body) == [(waiting.pk, "olcm", only.pk), (waiting.pk, "ilcm", only.pk)]


def test_only_the_named_lcms_receive(admin_client, world):
    body = plan(admin_client, role="olcm", lcm_user_ids=[world["bob"].pk])
    assert {move["to_user_id"] for move in body["moves"]} == {world["bob"].pk}
    assert len(body["moves"]) == 3


def test_unknown_lcm_user_ids_are_422(admin_client, world, admin):
    gone = lcm("Gone", 10, is_active=False)
    ids = [world["bob"].pk, gone.pk, admin.pk, 999_999]
    response = admin_client.post(
        AUTO_ASSIGN_URL, {"role": "olcm", "lcm_user_ids": ids, "dry_run": False}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            f"lcm_user_ids {pk} is not an active Lead Care Manager"
            for pk in (gone.pk, admin.pk, 999_999)
        ]
    }
    assert not LcmAssignmentHistory.objects.exists()


def test_filters_narrow_the_patients_considered(admin_client, world):
    body = plan(admin_client, role="olcm", filters={"acuity_level": "high"})
    assert targets(body) == [(world["high"].pk, "olcm", world["jane"].pk)]
    body = plan(admin_client, role="olcm", filters={"acuity_level": "low", "status": "new_member"})
    assert targets(body) == [(world["low"].pk, "olcm", world["jane"].pk)]
    # A filter that selects only patients that do not count: nothing to place.
    body = plan(admin_client, role="olcm", filters={"status": "terminated_member"})
    assert (body["moves"], body["remaining_count"]) == ([], 0)
    # Empty or null filters: every patient.
    assert len(plan(admin_client, role="olcm", filters={})["moves"]) == 3
    assert len(plan(admin_client, role="olcm", filters=None)["moves"]) == 3


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, ["role is required"]),
        ({"role": "all"}, ["role must be one of: olcm, ilcm, both"]),
        ({"role": "olcm", "mode": "shuffle"}, ["mode must be one of: fill, rebalance"]),
        ({"role": "olcm", "dry_run": "no"}, ["dry_run must be true or false"]),
        ({"role": "olcm", "limit": 0}, ["limit must be an integer from 1 to 1000"]),
        ({"role": "olcm", "limit": 1001}, ["limit must be an integer from 1 to 1000"]),
        ({"role": "olcm", "max_moves": 0}, ["max_moves must be an integer from 1 to 1000"]),
        ({"role": "olcm", "max_moves": 1001}, ["max_moves must be an integer from 1 to 1000"]),
        ({"role": "olcm", "tolerance": -0.1}, ["tolerance must be a number from 0 to 100"]),
        ({"role": "olcm", "tolerance": "0.1"}, ["tolerance must be a number from 0 to 100"]),
        ({"role": "olcm", "reason": "x" * 1001}, ["reason must be at most 1000 characters"]),
        ({"role": "olcm", "colour": "red"}, ["Unknown key: colour"]),
        ({"role": "olcm", "lcm_user_ids": 5}, ["lcm_user_ids must be an array of ids"]),
        ({"role": "olcm", "filters": []}, ["filters must be a JSON object"]),
        ({"role": "olcm", "filters": {"colour": "red"}}, ["Unknown key in filters: colour"]),
        (
            {"role": "olcm", "filters": {"status": ["new_member"]}},
            ["filters.status must be a string or an integer"],
        ),
        (
            {"role": "olcm", "filters": {"acuity_level": "critical"}},
            ["acuity_level must be one of: low, medium, high"],
        ),
        (
            {"role": "olcm", "filters": {"olcm_user_id": "x"}},
            ["olcm_user_id must be a positive integer"],
        ),
    ],
)
def test_bad_bodies_are_422_and_write_nothing(admin_client, world, body, errors):
    response = admin_client.post(AUTO_ASSIGN_URL, {"dry_run": False, **body}, format="json")
    assert response.status_code == 422, response.content
    assert response.json() == {"errors": errors}
    assert not LcmAssignmentHistory.objects.exists()


def test_a_body_that_is_not_json_is_400(admin_client, db):
    response = admin_client.post(AUTO_ASSIGN_URL, "{role", content_type="application/json")
    assert response.status_code == 400


# --- limit and remaining_count ------------------------------------------------------------


@pytest.fixture
def waiting(db):
    """Eight patients without a care team, two of each acuity (unknown: none), created in an
    order that mixes them; a terminated and an inactive one (not counted); one LCM with room
    for everything."""
    lcm("Roomy", 1000)
    order = ["low", "", "medium", "high", "", "medium", "high", "low"]
    created = [patient(acuity) for acuity in order]
    patient("high", Status.TERMINATED)
    patient("high", Status.INACTIVE)
    names = ["low1", "unk1", "med1", "high1", "unk2", "med2", "high2", "low2"]
    return dict(zip(names, created, strict=True))


def moved(body) -> list[int]:
    return [move["patient_id"] for move in body["moves"]]


@pytest.mark.parametrize(
    "filters",
    [
        None,  # every patient: the waiting count is read from the workload counts
        {"status": "new_member"},  # a filtered list: the waiting patients are counted
    ],
)
def test_limit_takes_the_heaviest_and_counts_the_rest(admin_client, waiting, filters):
    w = waiting
    body = plan(admin_client, role="olcm", limit=3, filters=filters)
    # High, high, then the first by id among medium and unknown (the same weight, 2).
    assert moved(body) == [w["high1"].pk, w["high2"].pk, w["unk1"].pk]
    assert body["remaining_count"] == 5
    body = plan(admin_client, role="olcm", limit=5, filters=filters)
    assert moved(body) == [w[k].pk for k in ("high1", "high2", "unk1", "med1", "unk2")]
    assert body["remaining_count"] == 3
    body = plan(admin_client, role="olcm", limit=8, filters=filters)
    assert body["remaining_count"] == 0 and len(body["moves"]) == 8
    body = plan(admin_client, role="olcm", filters=filters)  # default: 1,000
    assert body["remaining_count"] == 0 and len(body["moves"]) == 8


@pytest.mark.parametrize("filters", [None, {"status": "new_member"}])
def test_limit_follows_acuity_weights(admin_client, waiting, settings, filters):
    w = waiting
    # Unknown weighs as much as high; medium as little as low.
    settings.ACUITY_WEIGHTS = {"low": 1, "medium": 1, "high": 3, "unknown": 3}
    body = plan(admin_client, role="ilcm", limit=5, filters=filters)
    assert moved(body) == [w[k].pk for k in ("unk1", "high1", "unk2", "high2", "low1")]
    assert [move["weight"] for move in body["moves"]] == [3, 3, 3, 3, 1]
    assert body["remaining_count"] == 3


@pytest.mark.parametrize("filters", [None, {"status": "new_member"}])
def test_remaining_count_is_of_those_still_missing_the_role(admin_client, waiting, filters):
    w = waiting
    roomy = factories.User.objects.get(first_name="Roomy")
    other = lcm("Other", 1000)
    # Two already have an oLCM (one of them an iLCM too); one has only an iLCM.
    CaseLoad.objects.create(patient=w["high1"], olcm=roomy)
    CaseLoad.objects.create(patient=w["unk1"], olcm=roomy, ilcm=other)
    CaseLoad.objects.create(patient=w["med1"], ilcm=other)

    body = plan(admin_client, role="olcm", limit=2, filters=filters)
    assert moved(body) == [w["high2"].pk, w["med1"].pk]
    assert body["remaining_count"] == 4  # unk2, med2, low1, low2
    body = plan(admin_client, role="ilcm", limit=2, filters=filters)
    assert moved(body) == [w["high1"].pk, w["high2"].pk]
    assert body["remaining_count"] == 4  # unk2, med2, low1, low2 (not unk1, med1)


def test_limit_with_both_roles_counts_patients(admin_client, waiting):
    lcm("Second", 1000)
    body = plan(admin_client, role="both", limit=3)
    assert len(body["moves"]) == 6  # two roles for each of three patients
    assert body["remaining_count"] == 5
    body = plan(admin_client, role="both", limit=3, filters={"acuity_level": "low"})
    assert len(body["moves"]) == 4 and body["remaining_count"] == 0


def test_remaining_count_after_an_applied_batch(admin_client, waiting):
    first = plan(admin_client, role="olcm", limit=3, dry_run=False)
    assert first["applied"]["successful_count"] == 3 and first["remaining_count"] == 5
    second = plan(admin_client, role="olcm", limit=3)
    assert second["remaining_count"] == 2
    assert moved(second) == [waiting[k].pk for k in ("med1", "unk2", "med2")]
