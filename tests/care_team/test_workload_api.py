"""``GET /lead_care_managers/workload`` and ``PATCH /lead_care_managers/{id}`` (API.md §7,
"Capacity and workload"), end to end."""

import pytest

from care_team.models import LeadCareManagerProfile
from patients.choices import MemberRecordStatus as Status
from tests import factories
from tests.care_team.planning import WORKLOAD_URL, lcm, lcm_url, patient

pytestmark = pytest.mark.django_db

ITEM_KEYS = {
    "id",
    "name",
    "email",
    "capacity",
    "accepting_patients",
    "weighted_load",
    "utilization",
    "available_capacity",
    "olcm",
    "ilcm",
}
SUMMARY_KEYS = {
    "lead_care_managers",
    "accepting",
    "total_capacity",
    "total_weighted_load",
    "patients_missing_olcm",
    "patients_missing_ilcm",
    "utilization_spread",
}
NONE = {"low": 0, "medium": 0, "high": 0, "unknown": 0, "total": 0}
NOT_FOUND = {"errors": ["Lead Care Manager not found"]}


def counts(**by_acuity) -> dict:
    return {**NONE, **by_acuity, "total": sum(by_acuity.values())}


@pytest.fixture
def team(db):
    """Jane (capacity 10, over it), Bob (the default capacity, both roles of one patient),
    Carl (capacity 0), Dana (not accepting); an inactive LCM and a non-LCM with patients."""
    jane = lcm("Jane", 10, last_name="Coordinator")
    bob = lcm("Bob", last_name="Manager")
    carl = lcm("Carl", 0, last_name="Zero")
    dana = lcm("Dana", 3, accepting=False, last_name="Leave")
    gone = lcm("Gus", 10, is_active=False)
    stranger = factories.UserFactory(roles=["coordinator"], first_name="Stan")
    patients = {
        "high": patient("high", olcm=jane),
        "medium": patient("medium", Status.CONTINUING, olcm=jane),
        "low": patient("low", Status.PENDING, olcm=jane),
        "unknown": patient("", olcm=jane),
        "ilcm": patient("high", ilcm=jane),  # no oLCM
        "terminated": patient("high", Status.TERMINATED, olcm=jane),  # not counted
        "inactive": patient("medium", Status.INACTIVE, olcm=jane, ilcm=bob),  # not counted
        "both": patient("medium", olcm=bob, ilcm=bob),
        "carl": patient("low", olcm=carl),
        "alone": patient("medium"),  # no case load at all
        "gone": patient("low", olcm=gone, ilcm=stranger),  # held, by nobody listed
    }
    return {"jane": jane, "bob": bob, "carl": carl, "dana": dana, **patients}


def items_by_name(body) -> dict:
    return {item["name"]: item for item in body["lead_care_managers"]}


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"].split()[0] for item in response.json()["lead_care_managers"]]


# --- authentication and permission ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"), [("get", WORKLOAD_URL), ("patch", lcm_url(1)), ("patch", lcm_url("x"))]
)
def test_without_a_token_401_and_without_the_admin_role_403(
    anon_client, viewer_client, method, url
):
    body = {"lead_care_manager": {"capacity": 1}}
    response = getattr(anon_client, method)(url, body, format="json")
    assert response.status_code == 401
    assert response.json() == {"errors": ["Authentication required"]}
    response = getattr(viewer_client, method)(url, body, format="json")
    assert response.status_code == 403
    assert response.json() == {"errors": ["Admin access required"]}
    assert not LeadCareManagerProfile.objects.exists()


# --- GET workload ------------------------------------------------------------------------


def test_every_item_and_summary_key_counts_by_role_and_acuity(admin_client, team):
    response = admin_client.get(WORKLOAD_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"lead_care_managers", "summary", "pagination"}
    assert all(set(item) == ITEM_KEYS for item in body["lead_care_managers"])
    assert set(body["summary"]) == SUMMARY_KEYS
    items = items_by_name(body)
    # Only active users with ``ecm``: not Gus (inactive), Stan or the admin.
    assert set(items) == {"Jane Coordinator", "Bob Manager", "Carl Zero", "Dana Leave"}
    jane = team["jane"]
    assert items["Jane Coordinator"] == {
        "id": jane.pk,
        "name": "Jane Coordinator",
        "email": "jane@example.org",
        "capacity": 10,
        "accepting_patients": True,
        # oLCM: high 3 + medium 2 + low 1 + unknown 2; iLCM: high 3. Terminated and inactive
        # patients do not count.
        "weighted_load": 11,
        "utilization": 1.1,
        "available_capacity": -1,  # over capacity: negative
        "olcm": counts(low=1, medium=1, high=1, unknown=1),
        "ilcm": counts(high=1),
    }
    bob = items["Bob Manager"]
    # Both roles of one medium patient: two jobs, counted twice; the default capacity.
    assert (bob["olcm"], bob["ilcm"]) == (counts(medium=1), counts(medium=1))
    assert (bob["capacity"], bob["weighted_load"], bob["available_capacity"]) == (60, 4, 56)
    assert bob["utilization"] == 0.07  # 4 / 60, 2 decimals
    carl = items["Carl Zero"]
    assert (carl["capacity"], carl["weighted_load"], carl["utilization"]) == (0, 1, None)
    assert carl["available_capacity"] == -1
    dana = items["Dana Leave"]
    assert (dana["accepting_patients"], dana["utilization"], dana["olcm"]) == (False, 0.0, NONE)
    assert body["summary"] == {
        "lead_care_managers": 4,
        "accepting": 3,
        "total_capacity": 70,  # of those accepting: 10 + 60 + 0
        "total_weighted_load": 16,
        # Counted patients without the role: "ilcm" and "alone" / all but "ilcm", "both" and
        # "gone" (held by someone not listed is held).
        "patients_missing_olcm": 2,
        "patients_missing_ilcm": 6,
        # Over the accepting LCMs with a capacity: Jane 1.10 - Bob 0.0667 (not Carl, not Dana).
        "utilization_spread": 1.03,
    }
    assert body["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 4,
        "per_page": 25,
    }


def test_weighted_load_follows_acuity_weights(admin_client, team, settings):
    settings.ACUITY_WEIGHTS = {"low": 1, "medium": 5, "high": 10, "unknown": 0}

    items = items_by_name(admin_client.get(WORKLOAD_URL).json())

    # oLCM 10 + 5 + 1 + 0, iLCM 10.
    assert items["Jane Coordinator"]["weighted_load"] == 26
    assert items["Jane Coordinator"]["utilization"] == 2.6
    assert items["Bob Manager"]["weighted_load"] == 10
    assert items["Bob Manager"]["utilization"] == 0.17  # 10 / 60


def test_utilization_has_two_decimals(admin_client, db):
    lcm("Tess", 3)
    patient("medium", olcm=factories.User.objects.get(first_name="Tess"))
    (item,) = admin_client.get(WORKLOAD_URL).json()["lead_care_managers"]
    assert item["utilization"] == 0.67  # 2 / 3


def test_default_order_is_utilization_descending_without_one_last(admin_client, team):
    assert names(admin_client.get(WORKLOAD_URL)) == ["Jane", "Bob", "Dana", "Carl"]
    ascending = admin_client.get(WORKLOAD_URL, {"sort_dir": "asc"})
    assert names(ascending) == ["Dana", "Bob", "Jane", "Carl"]  # no utilization: last still


@pytest.mark.parametrize(
    ("sort_by", "sort_dir", "expected"),
    [
        ("name", None, ["Bob", "Carl", "Dana", "Jane"]),
        ("name", "DESC", ["Jane", "Dana", "Carl", "Bob"]),
        ("weighted_load", None, ["Dana", "Carl", "Bob", "Jane"]),
        ("weighted_load", "desc", ["Jane", "Bob", "Carl", "Dana"]),
        # Jane and Carl both at -1: the lower id first, in the direction asked.
        ("available_capacity", None, ["Jane", "Carl", "Dana", "Bob"]),
        ("available_capacity", "desc", ["Bob", "Dana", "Carl", "Jane"]),
        ("utilization", "desc", ["Jane", "Bob", "Dana", "Carl"]),
        (" Name ", None, ["Bob", "Carl", "Dana", "Jane"]),
    ],
)
def test_sort_by_and_sort_dir(admin_client, team, sort_by, sort_dir, expected):
    query = {"sort_by": sort_by, **({"sort_dir": sort_dir} if sort_dir else {})}
    assert names(admin_client.get(WORKLOAD_URL, query)) == expected


def test_search_narrows_the_list_and_its_summary(admin_client, team):
    for term in ("jan", "COORD", "jane coordinator", "jane@example"):
        body = admin_client.get(WORKLOAD_URL, {"search": term}).json()
        assert [item["name"] for item in body["lead_care_managers"]] == ["Jane Coordinator"]
    summary = body["summary"]
    assert (summary["lead_care_managers"], summary["total_weighted_load"]) == (1, 11)
    assert summary["utilization_spread"] == 0.0  # one LCM: no spread
    # The patients missing a role are the same whoever is listed.
    assert (summary["patients_missing_olcm"], summary["patients_missing_ilcm"]) == (2, 6)
    nobody = admin_client.get(WORKLOAD_URL, {"search": "zzz"}).json()
    assert nobody["lead_care_managers"] == []
    assert nobody["summary"]["utilization_spread"] is None
    assert nobody["pagination"]["total_count"] == 0


def test_paging_with_exact_totals(admin_client, team):
    page = admin_client.get(WORKLOAD_URL, {"per_page": 3, "page": 2}).json()
    assert [item["name"] for item in page["lead_care_managers"]] == ["Carl Zero"]
    assert page["pagination"] == {
        "current_page": 2,
        "total_pages": 2,
        "total_count": 4,
        "per_page": 3,
    }
    assert page["summary"]["lead_care_managers"] == 4  # the summary is of every LCM listed
    past = admin_client.get(WORKLOAD_URL, {"per_page": 3, "page": 3}).json()
    assert past["lead_care_managers"] == [] and past["pagination"]["total_count"] == 4
    capped = admin_client.get(WORKLOAD_URL, {"per_page": 500}).json()
    assert capped["pagination"]["per_page"] == 100


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"sort_by": "load"}, "sort_by"),
        ({"sort_by": ""}, None),
        ({"sort_dir": "up"}, "sort_dir"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"per_page": "-1"}, "per_page"),
        ({"per_page": "1.5"}, "per_page"),
        ({"search": "x" * 1000}, "search"),
    ],
)
def test_bad_parameters_are_422(admin_client, team, query, field):
    response = admin_client.get(WORKLOAD_URL, query)
    if field is None:  # blank: the default
        assert response.status_code == 200
        return
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error.startswith(field)


def test_a_bad_sort_lists_the_accepted_values(admin_client, db):
    response = admin_client.get(WORKLOAD_URL, {"sort_by": "load"})
    assert response.json() == {
        "errors": ["sort_by must be one of: utilization, name, weighted_load, available_capacity"]
    }


def test_the_spread_is_over_accepting_lcms_with_a_capacity(admin_client, db):
    assert admin_client.get(WORKLOAD_URL).json()["summary"] == {
        "lead_care_managers": 0,
        "accepting": 0,
        "total_capacity": 0,
        "total_weighted_load": 0,
        "patients_missing_olcm": 0,
        "patients_missing_ilcm": 0,
        "utilization_spread": None,
    }
    full, empty = lcm("Full", 4), lcm("Empty", 4)
    away = lcm("Away", 4, accepting=False)
    patient("medium", olcm=full, ilcm=away)
    patient("medium", olcm=full, ilcm=away)
    lcm("Nothing", 0)
    summary = admin_client.get(WORKLOAD_URL).json()["summary"]
    assert summary["utilization_spread"] == 1.0  # Full 1.00 - Empty 0.00; Away's 1.00 aside
    LeadCareManagerProfile.objects.filter(user=empty).update(accepting_patients=False)
    assert admin_client.get(WORKLOAD_URL).json()["summary"]["utilization_spread"] == 0.0


# --- PATCH /lead_care_managers/{id} -------------------------------------------------------


def patch(client, user_id, settings_body, **kwargs):
    return client.patch(
        lcm_url(user_id), {"lead_care_manager": settings_body}, format="json", **kwargs
    )


def test_patch_capacity_answers_the_workload_item(admin_client, team):
    jane = team["jane"]
    response = patch(admin_client, jane.pk, {"capacity": 22})

    assert response.status_code == 200
    item = response.json()
    assert set(item) == ITEM_KEYS
    assert (item["id"], item["capacity"], item["accepting_patients"]) == (jane.pk, 22, True)
    assert (item["weighted_load"], item["utilization"], item["available_capacity"]) == (
        11,
        0.5,
        11,
    )
    assert item["olcm"] == counts(low=1, medium=1, high=1, unknown=1)
    listed = items_by_name(admin_client.get(WORKLOAD_URL).json())["Jane Coordinator"]
    assert listed == item


def test_patch_accepting_alone_keeps_the_capacity(admin_client, team):
    jane = team["jane"]
    item = patch(admin_client, jane.pk, {"accepting_patients": False}).json()
    assert (item["capacity"], item["accepting_patients"]) == (10, False)
    item = patch(admin_client, jane.pk, {"accepting_patients": True, "capacity": 0}).json()
    assert (item["capacity"], item["accepting_patients"], item["utilization"]) == (0, True, None)


def test_patch_a_user_without_a_profile_creates_it(admin_client, team):
    bob = team["bob"]
    item = patch(admin_client, bob.pk, {"accepting_patients": False}).json()
    assert (item["capacity"], item["accepting_patients"]) == (60, False)
    profile = LeadCareManagerProfile.objects.get(user=bob)
    assert (profile.capacity, profile.accepting_patients) == (None, False)


def test_patch_nothing_changes_nothing(admin_client, team):
    item = patch(admin_client, team["bob"].pk, {}).json()
    assert (item["capacity"], item["accepting_patients"]) == (60, True)
    assert not LeadCareManagerProfile.objects.filter(user=team["bob"]).exists()


def test_null_capacity_is_the_default_capacity(admin_client, team, settings):
    settings.LCM_DEFAULT_CAPACITY = 44
    jane = team["jane"]
    item = patch(admin_client, jane.pk, {"capacity": None}).json()
    assert (item["capacity"], item["available_capacity"], item["utilization"]) == (44, 33, 0.25)
    assert LeadCareManagerProfile.objects.get(user=jane).capacity is None


def test_patch_works_with_a_trailing_slash(admin_client, team):
    response = admin_client.patch(
        lcm_url(team["jane"].pk) + "/", {"lead_care_manager": {"capacity": 5}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["capacity"] == 5


def test_not_a_lead_care_manager_is_404(admin_client, admin, team):
    gone = factories.User.objects.get(first_name="Gus")
    stranger = factories.User.objects.get(first_name="Stan")
    for user_id in (admin.pk, gone.pk, stranger.pk, 999_999):
        response = patch(admin_client, user_id, {"capacity": 5})
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert not LeadCareManagerProfile.objects.filter(capacity=5).exists()
    assert LeadCareManagerProfile.objects.get(user=gone).capacity == 10


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"lead_care_manager": {"capacity": -1}},
            "capacity must be an integer from 0 to 1000000, or null",
        ),
        (
            {"lead_care_manager": {"capacity": "10"}},
            "capacity must be an integer from 0 to 1000000, or null",
        ),
        (
            {"lead_care_manager": {"capacity": 1.5}},
            "capacity must be an integer from 0 to 1000000, or null",
        ),
        (
            {"lead_care_manager": {"capacity": True}},
            "capacity must be an integer from 0 to 1000000, or null",
        ),
        (
            {"lead_care_manager": {"capacity": 10**9}},
            "capacity must be an integer from 0 to 1000000, or null",
        ),
        (
            {"lead_care_manager": {"accepting_patients": "no"}},
            "accepting_patients must be true or false",
        ),
        (
            {"lead_care_manager": {"accepting_patients": None}},
            "accepting_patients must be true or false",
        ),
        (
            {"lead_care_manager": {"accepting_patients": 0}},
            "accepting_patients must be true or false",
        ),
        (
            {"lead_care_manager": {"capacity": 5, "colour": "red"}},
            "Unknown key in lead_care_manager: colour",
        ),
        ({"lead_care_manager": {"capacity": 5}, "capacity": 5}, "Unknown key: capacity"),
        ({"lead_care_manager": [5]}, "lead_care_manager must be a JSON object"),
        ({"lead_care_manager": None}, "lead_care_manager must be a JSON object"),
        ({"capacity": 5}, "lead_care_manager is required"),
        ({}, "lead_care_manager is required"),
    ],
)
def test_bad_bodies_are_422_and_write_nothing(admin_client, team, body, error):
    jane = team["jane"]
    response = admin_client.patch(lcm_url(jane.pk), body, format="json")
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert error in errors
    profile = LeadCareManagerProfile.objects.get(user=jane)
    assert (profile.capacity, profile.accepting_patients) == (10, True)


def test_a_bad_id_is_422_and_a_bad_body_is_400(admin_client, team):
    response = patch(admin_client, "abc", {"capacity": 5})
    assert response.status_code == 422
    assert response.json() == {"errors": ["id must be an integer"]}
    response = admin_client.patch(
        lcm_url(team["jane"].pk), "{not json", content_type="application/json"
    )
    assert response.status_code == 400
