"""``GET /lead_care_managers/{id}/patients``: the LCM's caseload now (from the case loads) or
``as_of`` an instant (from the assignment history, by the rules of the patient's care team
``as_of``)."""

import datetime as dt

import pytest
from django.db import connection

from audit.models import AccessEvent
from care_team.models import CaseLoad
from tests import factories
from tests.care_team.conftest import BASE, LCMS_URL, patient_lcms_url

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 1, 10, 12, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)


def caseload_url(user_id) -> str:
    return f"{LCMS_URL}/{user_id}/patients"


def at(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def caseload(client, user, **query) -> dict:
    response = client.get(caseload_url(user.pk), {"per_page": 100, **query})
    assert response.status_code == 200, response.json()
    return response.json()


def held(body) -> list[tuple[int, list[str]]]:
    return [(item["id"], item["roles"]) for item in body["patients"]]


@pytest.fixture
def jane(db):
    return factories.lcm_user(first_name="Jane", last_name="Coordinator")


@pytest.fixture
def bob(db):
    return factories.lcm_user(first_name="Bob", last_name="Manager")


# --- now -------------------------------------------------------------------------------------


@pytest.fixture
def now_world(jane, bob):
    patients = [factories.ecm_patient() for _ in range(4)]
    CaseLoad.objects.create(patient=patients[0], olcm=jane)
    CaseLoad.objects.create(patient=patients[1], olcm=bob, ilcm=jane)
    CaseLoad.objects.create(patient=patients[2], olcm=jane, ilcm=jane)
    CaseLoad.objects.create(patient=patients[3], olcm=bob)
    return patients


def test_the_caseload_lists_the_patients_as_the_patient_list_does_with_the_roles(
    admin_client, jane, now_world
):
    body = caseload(admin_client, jane)

    p = now_world
    assert held(body) == [(p[0].pk, ["olcm"]), (p[1].pk, ["ilcm"]), (p[2].pk, ["olcm", "ilcm"])]
    assert body["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 3,
        "per_page": 100,
    }
    event = AccessEvent.objects.order_by("-id").first()
    assert (event.action, sorted(event.patient_ids)) == ("read_list", [x.pk for x in p[:3]])
    listed = {
        item["id"]: item
        for item in admin_client.get(f"{BASE}/patients", {"per_page": 100}).json()["patients"]
    }
    for item in body["patients"]:
        assert {k: v for k, v in item.items() if k != "roles"} == listed[item["id"]]


def test_role_narrows_and_paging_counts_exactly(admin_client, jane, bob, now_world):
    p = now_world
    assert held(caseload(admin_client, jane, role="olcm")) == [
        (p[0].pk, ["olcm"]),
        (p[2].pk, ["olcm"]),
    ]
    assert held(caseload(admin_client, jane, role="ILCM")) == [
        (p[1].pk, ["ilcm"]),
        (p[2].pk, ["ilcm"]),
    ]
    second = caseload(admin_client, jane, per_page=2, page=2)
    assert held(second) == [(p[2].pk, ["olcm", "ilcm"])]
    assert second["pagination"] == {
        "current_page": 2,
        "total_pages": 2,
        "total_count": 3,
        "per_page": 2,
    }
    past = caseload(admin_client, jane, per_page=2, page=5)
    assert past["patients"] == [] and past["pagination"]["total_count"] == 3
    assert held(caseload(admin_client, bob)) == [(p[1].pk, ["olcm"]), (p[3].pk, ["olcm"])]
    nobody = caseload(admin_client, factories.lcm_user())
    assert nobody == {
        "patients": [],
        "pagination": {"current_page": 1, "total_pages": 0, "total_count": 0, "per_page": 100},
    }


def test_a_user_who_is_not_an_active_lcm_is_404(admin_client, jane):
    provider = factories.provider_user()
    inactive = factories.lcm_user(is_active=False)
    for user_id in (999999, provider.pk, inactive.pk):
        response = admin_client.get(caseload_url(user_id))
        assert (response.status_code, response.json()) == (
            404,
            {"errors": ["Lead Care Manager not found"]},
        )
    for query, error in (
        ({"role": "provider"}, "role must be one of: olcm, ilcm"),
        ({"as_of": "yesterday"}, "as_of must be a date (YYYY-MM-DD) or an ISO 8601 timestamp"),
        ({"per_page": "0"}, "per_page must be a positive integer"),
    ):
        response = admin_client.get(caseload_url(jane.pk), query)
        assert (response.status_code, response.json()) == (422, {"errors": [error]})
    assert admin_client.get(caseload_url("x")).status_code == 422


def test_tokens_without_the_admin_role_are_refused(viewer_client, anon_client, jane):
    assert viewer_client.get(caseload_url(jane.pk)).status_code == 403
    assert anon_client.get(caseload_url(jane.pk)).status_code == 401


# --- as of an instant ----------------------------------------------------------------------


def history(patient, role, previous, new, when):
    return factories.LcmAssignmentHistoryFactory(
        patient=patient, role=role, previous_user=previous, new_user=new, created_at=when
    )


@pytest.fixture
def past(jane, bob):
    """Four patients whose care teams changed around T0 (case loads made ten days before):

    - ``moved``: oLCM nobody → Jane at T0, Jane → Bob at T0 + 5 days;
    - ``removed``: iLCM nobody → Jane at T0, removed at T0 + 2 days;
    - ``unrecorded``: oLCM Jane since T0 + 3 days, with no history at all (rule 3);
    - ``late``: oLCM nobody → Jane at T0, but its case load was made at T0 + 20 days.
    """
    made = T0 - 10 * DAY
    moved, removed, unrecorded, late = (factories.ecm_patient() for _ in range(4))
    CaseLoad.objects.create(patient=moved, olcm=bob, olcm_assigned_at=T0 + 5 * DAY, created_at=made)
    history(moved, "olcm", None, jane, T0)
    history(moved, "olcm", jane, bob, T0 + 5 * DAY)
    CaseLoad.objects.create(patient=removed, created_at=made)
    history(removed, "ilcm", None, jane, T0)
    history(removed, "ilcm", jane, None, T0 + 2 * DAY)
    CaseLoad.objects.create(
        patient=unrecorded, olcm=jane, olcm_assigned_at=T0 + 3 * DAY, created_at=made
    )
    CaseLoad.objects.create(patient=late, olcm=jane, olcm_assigned_at=T0, created_at=T0 + 20 * DAY)
    history(late, "olcm", None, jane, T0)
    return {"moved": moved, "removed": removed, "unrecorded": unrecorded, "late": late}


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Before the first entry: nothing recorded yet, so nobody held anything.
        (T0 - US, []),
        # Exactly at a change: the change counts.
        (T0, [("moved", ["olcm"]), ("removed", ["ilcm"])]),
        (T0 + 2 * DAY - US, [("moved", ["olcm"]), ("removed", ["ilcm"])]),
        # After a removal: no longer held.
        (T0 + 2 * DAY, [("moved", ["olcm"])]),
        # Rule 3: set at T0 + 3 days with no history: held from then.
        (T0 + 3 * DAY, [("moved", ["olcm"]), ("unrecorded", ["olcm"])]),
        # Moved on to Bob exactly then.
        (T0 + 5 * DAY, [("unrecorded", ["olcm"])]),
        # The late case load counts from when it was made.
        (T0 + 20 * DAY, [("unrecorded", ["olcm"]), ("late", ["olcm"])]),
    ],
)
def test_as_of_follows_the_history_at_its_boundaries(admin_client, jane, past, instant, expected):
    body = caseload(admin_client, jane, as_of=at(instant))
    wanted = sorted((past[name].pk, roles) for name, roles in expected)
    assert held(body) == wanted
    assert body["pagination"]["total_count"] == len(wanted)


def test_as_of_agrees_with_each_patients_care_team_as_of(admin_client, jane, bob, past):
    """One definition of "holder at": the caseload as of an instant is exactly the patients
    whose care team as of that instant names the LCM."""
    from care_team import history, selectors

    changes = [T0 + days * DAY for days in (0, 2, 3, 5, 20)]
    instants = [change + delta for change in changes for delta in (-US, dt.timedelta(), DAY)]
    for instant in instants:
        teams = {
            patient.pk: history.care_team_at(selectors.patient_care_team(patient.pk), instant)
            for patient in past.values()
        }
        for user in (jane, bob):
            expected = []
            for patient_id, team in sorted(teams.items()):
                roles = [
                    role
                    for role in ("olcm", "ilcm")
                    if team["c.id"] is not None and team[f"c.{role}_id"] == user.pk
                ]
                if roles:
                    expected.append((patient_id, roles))
            assert held(caseload(admin_client, user, as_of=at(instant))) == expected, instant
    # The route the patient's care team is read by is that function.
    team = admin_client.get(patient_lcms_url(past["moved"].pk), {"as_of": at(T0)}).json()
    assert team["case_load"]["olcm"]["user_id"] == jane.pk


def test_a_date_means_the_end_of_that_day(admin_client, jane, past):
    assert held(caseload(admin_client, jane, as_of="2025-01-09")) == []
    assert held(caseload(admin_client, jane, as_of="2025-01-10")) == [
        (past["moved"].pk, ["olcm"]),
        (past["removed"].pk, ["ilcm"]),
    ]
    assert held(caseload(admin_client, jane, as_of="2025-01-10", role="olcm")) == [
        (past["moved"].pk, ["olcm"])
    ]


def test_as_of_pages_and_counts(admin_client, jane, past):
    body = caseload(admin_client, jane, as_of=at(T0), per_page=1, page=2)
    assert held(body) == [(past["removed"].pk, ["ilcm"])]
    assert body["pagination"]["total_count"] == 2 and body["pagination"]["total_pages"] == 2


def test_as_of_after_real_assignments(admin_client, jane, bob):
    """Through the API: assigned, then moved; the caseload at each moment."""
    from care_team.services import care_team_assign

    patient = factories.ecm_patient()
    care_team_assign(patient_id=patient.pk, olcm_user_id=jane.pk, actor=None)
    between = CaseLoad.objects.get(patient=patient).olcm_assigned_at
    care_team_assign(patient_id=patient.pk, olcm_user_id=bob.pk, ilcm_user_id=jane.pk, actor=None)
    assert held(caseload(admin_client, jane, as_of=at(between))) == [(patient.pk, ["olcm"])]
    assert held(caseload(admin_client, jane)) == [(patient.pk, ["ilcm"])]
    assert held(caseload(admin_client, bob, as_of=at(between))) == []


@pytest.mark.postgres
def test_the_caseload_reads_its_indexes_not_the_case_loads(jane):
    """The count and the page of a holder's patients read (holder, patient) indexes, never
    the whole table. (With statistics of real data, and the visibility map set by vacuum, the
    index alone: an index-only scan; these test tables are empty and never vacuumed.)"""
    from care_team.selectors import caseload_statements

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for roles in (["olcm"], ["ilcm"], ["olcm", "ilcm"]):
            for sql in caseload_statements(roles):
                params = {"user": jane.pk, "limit": 25, "offset": 0}
                cursor.execute("EXPLAIN " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "Seq Scan on care_team_caseload" not in plan, plan
                for role in roles:
                    assert f"caseload_{role}_patient" in plan, plan


def test_an_instant_not_in_the_past_is_the_caseload_as_it_is(admin_client, jane, past):
    """As a patient's care team as of such an instant: a holder whose start the records do
    not give (no history, no assignment time) is held now, though at no instant in the past."""
    unknown = factories.ecm_patient()
    CaseLoad.objects.create(patient=unknown, ilcm=jane, created_at=T0 - 10 * DAY)
    now = caseload(admin_client, jane)
    assert (unknown.pk, ["ilcm"]) in held(now)
    assert caseload(admin_client, jane, as_of="2999-12-31") == now
    assert (unknown.pk, ["ilcm"]) not in held(caseload(admin_client, jane, as_of=at(T0 + DAY)))
