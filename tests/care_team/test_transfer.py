"""``POST /lead_care_managers/{id}/transfer``: the patients of one LCM moved to a named LCM or
spread by the fill rule; a preview unless ``dry_run`` is false; applied as a manual
assignment is written."""

import pytest

from audit.models import AccessEvent
from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from care_team.planning import transfer
from care_team.services import CARE_TEAM_CHANGED, care_team_assign
from patients.choices import MemberRecordStatus
from patients.models import Activity
from tests import factories
from tests.care_team.conftest import LCMS_URL

pytestmark = pytest.mark.django_db

PLAN_KEYS = {"dry_run", "moves", "unplaced", "remaining_count", "before", "after", "applied"}


def transfer_url(user_id) -> str:
    return f"{LCMS_URL}/{user_id}/transfer"


def lcm(capacity: int | None = 10, *, accepting: bool = True, **fields):
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


def care_teams() -> dict[int, tuple[int | None, int | None]]:
    return {c.patient_id: (c.olcm_id, c.ilcm_id) for c in CaseLoad.objects.all()}


def moves(body) -> list[tuple[int, str, int | None, int]]:
    return [(m["patient_id"], m["role"], m["from_user_id"], m["to_user_id"]) for m in body["moves"]]


@pytest.fixture
def world(db):
    """Sam (leaving) holds: a high patient as oLCM (iLCM Jane), a medium one as oLCM, a low one
    as iLCM (oLCM Bob) and a terminated one as oLCM. Jane and Bob have capacity 10 and hold
    nothing else; Sam's capacity is 10 too."""
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
        "terminated": patient("high", status=MemberRecordStatus.TERMINATED, olcm=sam),
    }


def test_preview_of_a_spread_is_the_default_and_writes_nothing(admin_client, world):
    sam, jane, bob = world["sam"], world["jane"], world["bob"]
    before = care_teams()

    response = admin_client.post(
        transfer_url(sam.pk), {"role": "olcm", "reason": "Leaving"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == PLAN_KEYS
    assert body["dry_run"] is True and body["applied"] is None
    # high (3): Jane is its iLCM, so Bob (1 → 4 of 10); medium (2): Jane .50 < Bob .60;
    # terminated: weighs 0, to the least utilized after the move (Bob .40 < Jane .50).
    assert moves(body) == [
        (world["high"].pk, "olcm", sam.pk, bob.pk),
        (world["medium"].pk, "olcm", sam.pk, jane.pk),
        (world["terminated"].pk, "olcm", sam.pk, bob.pk),
    ]
    assert [m["weight"] for m in body["moves"]] == [3, 2, 0]
    assert body["moves"][0]["why"] == "transfer to the least utilized accepting oLCM (0.10 → 0.40)"
    assert body["unplaced"] == [] and body["remaining_count"] == 0
    loads = {item["id"]: item["weighted_load"] for item in body["before"]["lead_care_managers"]}
    assert loads == {sam.pk: 6, jane.pk: 3, bob.pk: 1}
    after = {item["id"]: item for item in body["after"]["lead_care_managers"]}
    assert {pk: item["weighted_load"] for pk, item in after.items()} == {
        sam.pk: 1,
        jane.pk: 5,
        bob.pk: 4,
    }
    assert after[jane.pk]["utilization"] == 0.5
    assert care_teams() == before
    assert not LcmAssignmentHistory.objects.exists() and not Activity.objects.exists()
    event = AccessEvent.objects.order_by("-id").first()
    assert event.action == "read_list"
    assert sorted(event.patient_ids) == sorted(
        world[k].pk for k in ("high", "medium", "terminated")
    )


def test_apply_writes_as_a_manual_assignment_and_audits_the_patients(admin_client, world):
    sam = world["sam"]
    body = {"role": "both", "reason": "Leaving the program", "dry_run": False}

    response = admin_client.post(transfer_url(sam.pk), body, format="json")

    assert response.status_code == 200, response.json()
    answer = response.json()
    assert answer["dry_run"] is False
    assert answer["applied"]["successful_count"] == 4
    assert answer["applied"]["failed_count"] == 0
    assert {r["status"] for r in answer["applied"]["results"]} == {"success"}
    teams = care_teams()
    assert all(sam.pk not in team for team in teams.values())
    assert all(team[0] != team[1] for team in teams.values())
    entry = LcmAssignmentHistory.objects.get(patient=world["medium"])
    assert (entry.role, entry.previous_user_id, entry.reason) == ("olcm", sam.pk, answer_reason())
    assert (entry.acted_by_id, entry.acted_by_name) == (admin_client.user.pk, "Ada Admin")
    activity = Activity.objects.get(patient=world["medium"])
    manual = patient("medium", olcm=sam)
    care_team_assign(
        patient_id=manual.pk,
        olcm_user_id=entry.new_user_id,
        actor=admin_client.user,
        reason=answer_reason(),
    )
    expected = Activity.objects.get(patient=manual)
    assert (activity.kind, activity.description, activity.metadata) == (
        expected.kind,
        expected.description,
        expected.metadata,
    )
    event = AccessEvent.objects.filter(action="bulk_assign").get()
    assert sorted(event.patient_ids) == sorted(
        world[k].pk for k in ("high", "medium", "low", "terminated")
    )


def answer_reason() -> str:
    return "Leaving the program"


def test_a_named_lcm_takes_everything_even_past_capacity_but_never_both_roles(admin_client, world):
    sam, bob = world["sam"], world["bob"]
    response = admin_client.post(
        transfer_url(sam.pk),
        {"role": "both", "to_user_id": bob.pk, "reason": "Cover", "dry_run": False},
        format="json",
    )
    body = response.json()
    assert response.status_code == 200, body
    assert moves(body) == [
        (world["high"].pk, "olcm", sam.pk, bob.pk),
        (world["medium"].pk, "olcm", sam.pk, bob.pk),
        (world["terminated"].pk, "olcm", sam.pk, bob.pk),
    ]
    # The low patient's oLCM is Bob already: he cannot be its iLCM too.
    assert body["unplaced"] == [
        {
            "patient_id": world["low"].pk,
            "role": "ilcm",
            "errors": [f"user {bob.pk} is already this patient's oLCM"],
        }
    ]
    teams = care_teams()
    assert teams[world["high"].pk] == (bob.pk, world["jane"].pk)
    assert teams[world["low"].pk] == (bob.pk, sam.pk)
    # 1 + 3 + 2 = 6 of 10: within capacity; a smaller one is passed, and says so.
    LeadCareManagerProfile.objects.filter(user=world["jane"]).update(capacity=1)
    other = patient("high", olcm=sam)
    response = admin_client.post(
        transfer_url(sam.pk),
        {"role": "olcm", "to_user_id": world["jane"].pk, "reason": "Cover"},
        format="json",
    )
    assert moves(response.json()) == [(other.pk, "olcm", sam.pk, world["jane"].pk)]
    assert response.json()["moves"][0]["why"].endswith(", past capacity")


def test_a_spread_never_passes_capacity_and_skips_lcms_not_accepting(admin_client, db):
    sam = lcm(100)
    small = lcm(3)
    lcm(100, accepting=False)  # on leave: never chosen
    held = [patient("high", olcm=sam), patient("medium", olcm=sam)]

    body = admin_client.post(
        transfer_url(sam.pk), {"role": "olcm", "reason": "r"}, format="json"
    ).json()

    assert moves(body) == [(held[0].pk, "olcm", sam.pk, small.pk)]
    assert body["unplaced"] == [
        {
            "patient_id": held[1].pk,
            "role": "olcm",
            "errors": ["No accepting Lead Care Manager has capacity"],
        }
    ]


def test_the_source_never_receives_even_when_least_utilized(admin_client, db):
    sam, other = lcm(1000), lcm(10)
    held = patient("low", olcm=sam)
    body = admin_client.post(
        transfer_url(sam.pk), {"role": "olcm", "reason": "r"}, format="json"
    ).json()
    assert moves(body) == [(held.pk, "olcm", sam.pk, other.pk)]


def test_only_the_roles_asked_for_move(admin_client, world):
    sam = world["sam"]
    body = admin_client.post(
        transfer_url(sam.pk), {"role": "ilcm", "reason": "r"}, format="json"
    ).json()
    # Only the low patient's iLCM, to Jane: Bob is its oLCM.
    assert moves(body) == [(world["low"].pk, "ilcm", sam.pk, world["jane"].pk)]


def test_limit_leaves_the_rest_for_a_later_call(admin_client, world):
    body = admin_client.post(
        transfer_url(world["sam"].pk), {"role": "both", "reason": "r", "limit": 2}, format="json"
    ).json()
    assert [m["patient_id"] for m in body["moves"]] == [world["high"].pk, world["medium"].pk]
    assert body["remaining_count"] == 2


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"role": "olcm"}, ["reason is required"]),
        ({"role": "olcm", "reason": ""}, ["reason is required"]),
        ({"role": "olcm", "reason": " \n\u00a0"}, ["reason is required"]),
        ({"role": "olcm", "reason": None}, ["reason is required"]),
        ({"reason": "r"}, ["role is required"]),
        ({"role": "all", "reason": "r"}, ["role must be one of: olcm, ilcm, both"]),
        (
            {"role": "olcm", "reason": "r", "limit": 1001},
            ["limit must be an integer from 1 to 1000"],
        ),
        ({"role": "olcm", "reason": "x" * 1001}, ["reason must be at most 1000 characters"]),
        ({"role": "olcm", "reason": "r", "extra": 1}, None),
    ],
)
def test_invalid_bodies_are_422(admin_client, world, body, errors):
    response = admin_client.post(transfer_url(world["sam"].pk), body, format="json")
    assert response.status_code == 422
    if errors is not None:
        assert response.json() == {"errors": errors}
    assert not LcmAssignmentHistory.objects.exists()


def test_to_user_id_must_be_another_active_lcm(admin_client, world):
    sam = world["sam"]
    provider = factories.provider_user()
    inactive = lcm(10, is_active=False)
    cases = [
        (sam.pk, "to_user_id must be another Lead Care Manager than the source"),
        (provider.pk, f"to_user_id {provider.pk} is not an active Lead Care Manager"),
        (inactive.pk, f"to_user_id {inactive.pk} is not an active Lead Care Manager"),
        (999999, "to_user_id 999999 is not an active Lead Care Manager"),
    ]
    for target, error in cases:
        response = admin_client.post(
            transfer_url(sam.pk),
            {"role": "olcm", "reason": "r", "to_user_id": target, "dry_run": False},
            format="json",
        )
        assert (response.status_code, response.json()) == (422, {"errors": [error]})
    assert not LcmAssignmentHistory.objects.exists()


def test_a_source_that_is_not_an_active_lcm_is_404(admin_client, world):
    provider = factories.provider_user()
    inactive = lcm(10, is_active=False)
    for user_id in (999999, provider.pk, inactive.pk, admin_client.user.pk):
        response = admin_client.post(
            transfer_url(user_id), {"role": "olcm", "reason": "r"}, format="json"
        )
        assert (response.status_code, response.json()) == (
            404,
            {"errors": ["Lead Care Manager not found"]},
        )
    response = admin_client.post(transfer_url("abc"), {"role": "olcm", "reason": "r"})
    assert response.status_code == 422


def test_tokens_without_the_admin_role_are_refused(viewer_client, anon_client, world):
    url = transfer_url(world["sam"].pk)
    body = {"role": "olcm", "reason": "r", "dry_run": False}
    assert viewer_client.post(url, body, format="json").status_code == 403
    assert anon_client.post(url, body, format="json").status_code == 401
    assert not LcmAssignmentHistory.objects.exists()


def test_a_patient_whose_other_role_changed_since_the_plan_is_skipped(
    admin_client, world, monkeypatch
):
    """Between the plan and its writing someone makes Bob (the high patient's planned oLCM)
    its iLCM: applying would make him both; the patient is skipped and reported."""
    planned = transfer.plan_transfer

    def plan_then_someone_assigns(**kwargs):
        plan = planned(**kwargs)
        care_team_assign(patient_id=world["high"].pk, ilcm_user_id=world["bob"].pk, actor=None)
        return plan

    monkeypatch.setattr(transfer, "plan_transfer", plan_then_someone_assigns)
    body = admin_client.post(
        transfer_url(world["sam"].pk),
        {"role": "olcm", "reason": "r", "dry_run": False},
        format="json",
    ).json()

    assert body["applied"]["failed_count"] == 1
    assert body["applied"]["results"][0] == {
        "patient_id": world["high"].pk,
        "status": "failed",
        "errors": [CARE_TEAM_CHANGED],
    }
    assert care_teams()[world["high"].pk] == (world["sam"].pk, world["bob"].pk)
    assert care_teams()[world["medium"].pk] == (world["jane"].pk, None)


def test_trailing_slash(admin_client, world):
    response = admin_client.post(
        transfer_url(world["sam"].pk) + "/", {"role": "olcm", "reason": "r"}, format="json"
    )
    assert response.status_code == 200
