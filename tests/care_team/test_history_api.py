"""A patient's assignment history and its care team ``as_of`` an instant (API.md §7,
"History"), end to end."""

import datetime as dt

import pytest

from care_team.models import CaseLoad, LcmAssignmentHistory
from tests import factories
from tests.care_team.conftest import ASSIGN_URL, patient_lcms_url
from tests.care_team.planning import history_url

pytestmark = pytest.mark.django_db

ENTRY_KEYS = {"id", "role", "previous_user", "new_user", "acted_by", "reason", "created_at"}
T0 = dt.datetime(2025, 1, 5, 15, 0, tzinfo=dt.UTC)  # provider
T1 = dt.datetime(2025, 1, 10, 9, 0, tzinfo=dt.UTC)  # oLCM Jane
T2 = dt.datetime(2025, 2, 1, 12, 0, tzinfo=dt.UTC)  # iLCM Bob
T3 = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)  # oLCM Jane → Bob
T4 = dt.datetime(2025, 4, 1, 0, 0, tzinfo=dt.UTC)  # iLCM Bob removed


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def write(client, method: str, body: dict) -> None:
    response = getattr(client, method)(ASSIGN_URL, body, format="json")
    assert response.status_code == 200, response.content


@pytest.fixture
def timeline(admin_client, patient, jane, bob, dr_smith):
    """The patient's care team written through the API, then each entry moved to its time
    (T0 … T4) with the case load's stamps to match."""
    pk = patient.pk
    write(
        admin_client,
        "post",
        {"patient_id": pk, "olcm_user_id": jane.pk, "provider_id": dr_smith.pk, "reason": "Intake"},
    )
    write(admin_client, "put", {"patient_id": pk, "ilcm_user_id": bob.pk})
    write(admin_client, "put", {"patient_id": pk, "olcm_user_id": bob.pk, "reason": "Jane away"})
    write(admin_client, "delete", {"patient_id": pk, "role": "ilcm", "reason": "Bob is oLCM"})
    entries = list(LcmAssignmentHistory.objects.filter(patient=patient).order_by("id"))
    # The first assign wrote the oLCM's entry, then the provider's: the provider is dated
    # first.
    entries[0], entries[1] = entries[1], entries[0]
    assert [(e.role, e.new_user_id) for e in entries] == [
        ("provider", dr_smith.pk),
        ("olcm", jane.pk),
        ("ilcm", bob.pk),
        ("olcm", bob.pk),
        ("ilcm", None),
    ]
    for entry, moment in zip(entries, (T0, T1, T2, T3, T4), strict=True):
        LcmAssignmentHistory.objects.filter(pk=entry.pk).update(created_at=moment)
    CaseLoad.objects.filter(patient=patient).update(
        created_at=T0, provider_assigned_at=T0, olcm_assigned_at=T3
    )
    return [entry.pk for entry in entries]


# --- authentication and permission ------------------------------------------------------


@pytest.mark.parametrize("url", [history_url(1), patient_lcms_url(1) + "?as_of=2025-01-01"])
def test_without_a_token_401_and_without_the_admin_role_403(anon_client, viewer_client, url):
    response = anon_client.get(url)
    assert response.status_code == 401
    assert response.json() == {"errors": ["Authentication required"]}
    response = viewer_client.get(url)
    assert response.status_code == 403
    assert response.json() == {"errors": ["Admin access required"]}


# --- GET /patients/{id}/lead_care_managers/history ---------------------------------------


def test_history_newest_first_in_the_contract_shape(
    admin_client, patient, timeline, jane, bob, dr_smith
):
    response = admin_client.get(history_url(patient.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"assignment_history", "pagination"}
    assert all(set(entry) == ENTRY_KEYS for entry in body["assignment_history"])
    provider, olcm_jane, ilcm_bob, olcm_bob, removal = timeline
    jane_ref = {"id": jane.pk, "name": "Jane Coordinator"}
    bob_ref = {"id": bob.pk, "name": "Bob Manager"}
    assert body["assignment_history"] == [
        {
            "id": removal,
            "role": "ilcm",
            "previous_user": bob_ref,
            "new_user": None,
            "acted_by": "Ada Admin",
            "reason": "Bob is oLCM",
            "created_at": "2025-04-01T00:00:00.000Z",
        },
        {
            "id": olcm_bob,
            "role": "olcm",
            "previous_user": jane_ref,
            "new_user": bob_ref,
            "acted_by": "Ada Admin",
            "reason": "Jane away",
            "created_at": "2025-03-01T08:30:00.000Z",
        },
        {
            "id": ilcm_bob,
            "role": "ilcm",
            "previous_user": None,
            "new_user": bob_ref,
            "acted_by": "Ada Admin",
            "reason": None,
            "created_at": "2025-02-01T12:00:00.000Z",
        },
        {
            "id": olcm_jane,
            "role": "olcm",
            "previous_user": None,
            "new_user": jane_ref,
            "acted_by": "Ada Admin",
            "reason": "Intake",
            "created_at": "2025-01-10T09:00:00.000Z",
        },
        {
            "id": provider,
            "role": "provider",
            "previous_user": None,
            "new_user": {"id": dr_smith.pk, "name": "Dr. Smith"},
            "acted_by": "Ada Admin",
            "reason": "Intake",
            "created_at": "2025-01-05T15:00:00.000Z",
        },
    ]
    assert body["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 5,
        "per_page": 25,
    }


def test_history_pages_with_exact_totals(admin_client, patient, timeline):
    provider, olcm_jane, ilcm_bob, _, _ = timeline
    page = admin_client.get(history_url(patient.pk), {"per_page": 2, "page": 2}).json()
    assert [entry["id"] for entry in page["assignment_history"]] == [ilcm_bob, olcm_jane]
    assert page["pagination"] == {
        "current_page": 2,
        "total_pages": 3,
        "total_count": 5,
        "per_page": 2,
    }
    last = admin_client.get(history_url(patient.pk), {"per_page": 2, "page": 3}).json()
    assert [entry["id"] for entry in last["assignment_history"]] == [provider]
    past = admin_client.get(history_url(patient.pk), {"per_page": 2, "page": 4}).json()
    assert past["assignment_history"] == [] and past["pagination"]["total_count"] == 5


def test_history_ties_are_newest_id_first_and_only_the_patients(admin_client, patient, jane):
    moment = dt.datetime(2025, 5, 5, tzinfo=dt.UTC)
    first, second = (
        factories.LcmAssignmentHistoryFactory(patient=patient, new_user=jane, created_at=moment)
        for _ in range(2)
    )
    factories.LcmAssignmentHistoryFactory(patient=factories.ecm_patient(), new_user=jane)
    body = admin_client.get(history_url(patient.pk)).json()
    assert [entry["id"] for entry in body["assignment_history"]] == [second.pk, first.pk]
    assert body["assignment_history"][0]["acted_by"] == "System"


def test_history_of_a_patient_without_any_is_empty(admin_client, patient):
    body = admin_client.get(history_url(patient.pk)).json()
    assert body == {
        "assignment_history": [],
        "pagination": {"current_page": 1, "total_pages": 0, "total_count": 0, "per_page": 25},
    }


def test_history_of_an_unknown_patient_is_404(admin_client, db):
    not_ecm = factories.PatientFactory()  # no ECM eligibility: never shown
    for pk in (999_999, not_ecm.pk):
        response = admin_client.get(history_url(pk))
        assert response.status_code == 404
        assert response.json() == {"errors": ["Patient not found"]}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"page": "0"}, "page must be a positive integer"),
        ({"page": "x"}, "page must be a positive integer"),
        ({"per_page": "-5"}, "per_page must be a positive integer"),
    ],
)
def test_history_bad_page_is_422(admin_client, patient, query, error):
    response = admin_client.get(history_url(patient.pk), query)
    assert response.status_code == 422
    assert response.json() == {"errors": [error]}


def test_history_bad_patient_id_is_422(admin_client, db):
    response = admin_client.get(history_url("abc"))
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith("patient_id")


# --- GET /patients/{id}/lead_care_managers?as_of= ----------------------------------------


def care_team_at(client, patient_id, as_of=None) -> dict:
    query = {} if as_of is None else {"as_of": as_of}
    response = client.get(patient_lcms_url(patient_id), query)
    assert response.status_code == 200, response.content
    return response.json()


def holders(body) -> tuple:
    """(provider id, (oLCM id, assigned_at), (iLCM id, assigned_at)) of a care team."""
    case_load = body["case_load"]
    if case_load is None:
        return None

    def held(lcm):
        return None if lcm is None else (lcm["user_id"], lcm["assigned_at"])

    return (case_load["provider_id"], held(case_load["olcm"]), held(case_load["ilcm"]))


def test_as_of_a_date_is_the_end_of_that_day_utc(
    admin_client, patient, timeline, jane, bob, dr_smith
):
    body = care_team_at(admin_client, patient.pk, "2025-02-28")
    case_load = CaseLoad.objects.get(patient=patient)
    assert body == {
        "patient_id": patient.pk,
        "patient_name": "John Doe",
        "case_load": {
            "id": case_load.pk,
            "provider_id": dr_smith.pk,
            "provider_name": "Dr. Smith",
            # Jane is oLCM no more; her name and email are read for the answer.
            "olcm": {
                "user_id": jane.pk,
                "name": "Jane Coordinator",
                "email": "jane@example.org",
                "assigned_at": stamp(T1),
            },
            "ilcm": {
                "user_id": bob.pk,
                "name": "Bob Manager",
                "email": "bob@example.org",
                "assigned_at": stamp(T2),
            },
        },
    }
    # The day of the change: its end is after 08:30.
    assert holders(care_team_at(admin_client, patient.pk, "2025-03-01")) == (
        dr_smith.pk,
        (bob.pk, stamp(T3)),
        (bob.pk, stamp(T2)),
    )


@pytest.mark.parametrize(
    ("as_of", "olcm"),
    [
        ("2025-03-01T08:30:00Z", "bob"),  # exactly at the change
        ("2025-03-01T08:30:00.000+00:00", "bob"),
        ("2025-03-01T08:30:00", "bob"),  # no time zone: UTC
        ("2025-03-01T08:29:59.999Z", "jane"),
        ("2025-03-01T08:29:59", "jane"),
        ("2025-03-01T09:29:59+01:00", "jane"),  # 08:29:59 UTC
        ("2025-03-01T09:30:00+01:00", "bob"),
        ("2025-03-01T03:30:00-05:00", "bob"),
    ],
)
def test_as_of_a_timestamp(admin_client, patient, timeline, jane, bob, as_of, olcm):
    expected = {"jane": (jane.pk, stamp(T1)), "bob": (bob.pk, stamp(T3))}[olcm]
    assert holders(care_team_at(admin_client, patient.pk, as_of))[1] == expected


def test_as_of_the_exact_instant_of_a_write(admin_client, patient, jane):
    write(admin_client, "post", {"patient_id": patient.pk, "olcm_user_id": jane.pk})
    written = LcmAssignmentHistory.objects.get().created_at
    body = care_team_at(admin_client, patient.pk, written.isoformat())
    assert holders(body) == (None, (jane.pk, stamp(written)), None)
    assert body == care_team_at(admin_client, patient.pk)
    before = (written - dt.timedelta(microseconds=1)).isoformat()
    assert care_team_at(admin_client, patient.pk, before)["case_load"] is None


def test_as_of_with_an_unencoded_plus(admin_client, patient, timeline, bob):
    response = admin_client.get(patient_lcms_url(patient.pk) + "?as_of=2025-03-01T09:30:00+01:00")
    assert holders(response.json())[1] == (bob.pk, stamp(T3))


def test_as_of_before_any_role_was_set(admin_client, patient, timeline, dr_smith):
    # The case load existed (the provider's), no LCM yet: null, never the later holders.
    for as_of in ("2025-01-06", "2025-01-10T08:59:59Z"):
        assert holders(care_team_at(admin_client, patient.pk, as_of)) == (
            dr_smith.pk,
            None,
            None,
        )
    # Before the case load was made: none.
    body = care_team_at(admin_client, patient.pk, "2025-01-04")
    assert body == {"patient_id": patient.pk, "patient_name": "John Doe", "case_load": None}


def test_as_of_after_a_removal_is_null(admin_client, patient, timeline, bob, dr_smith):
    for as_of in ("2025-04-01T00:00:00Z", "2025-06-01", "2999-01-01"):
        assert holders(care_team_at(admin_client, patient.pk, as_of)) == (
            dr_smith.pk,
            (bob.pk, stamp(T3)),
            None,
        )
    assert holders(care_team_at(admin_client, patient.pk, "2025-03-31T23:59:59Z"))[2] == (
        bob.pk,
        stamp(T2),
    )


def test_now_and_far_ahead_agree(admin_client, patient, timeline):
    now = care_team_at(admin_client, patient.pk)
    assert care_team_at(admin_client, patient.pk, "2999-12-31") == now


def test_a_care_team_older_than_its_history(admin_client, patient, jane, bob):
    """A care team set before the history began (imported): the present holder from when
    the role was set; a role whose start is unknown, or whose holder then is not recorded,
    is null."""
    set_at = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    CaseLoad.objects.create(
        patient=patient,
        created_at=set_at,
        olcm=jane,
        olcm_assigned_at=set_at,
        ilcm=bob,
        ilcm_assigned_at=None,  # not known
    )
    assert holders(care_team_at(admin_client, patient.pk, "2024-12-31")) == (
        None,
        (jane.pk, stamp(set_at)),
        None,
    )
    assert holders(care_team_at(admin_client, patient.pk, "2024-06-01T00:00:00Z"))[1] == (
        jane.pk,
        stamp(set_at),
    )
    assert holders(care_team_at(admin_client, patient.pk, "2024-05-31T23:59:59Z")) is None
    # Not in the past: the care team as it is, Bob included though since when is not known.
    assert care_team_at(admin_client, patient.pk, "2999-12-31") == care_team_at(
        admin_client, patient.pk
    )

    # Then the first recorded change: Jane → Bob. Before it, Jane held the role, but since
    # when is not recorded: null, not a guess.
    moved_at = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    factories.LcmAssignmentHistoryFactory(
        patient=patient, role="olcm", previous_user=jane, new_user=bob, created_at=moved_at
    )
    CaseLoad.objects.filter(patient=patient).update(olcm=bob, olcm_assigned_at=moved_at)
    assert holders(care_team_at(admin_client, patient.pk, "2024-12-31"))[1] is None
    assert holders(care_team_at(admin_client, patient.pk, "2025-02-01"))[1] == (
        bob.pk,
        stamp(moved_at),
    )


def test_as_of_for_a_patient_without_a_case_load_or_unknown(admin_client, patient):
    body = care_team_at(admin_client, patient.pk, "2025-01-01")
    assert body == {"patient_id": patient.pk, "patient_name": "John Doe", "case_load": None}
    response = admin_client.get(patient_lcms_url(999_999), {"as_of": "2025-01-01"})
    assert response.status_code == 404
    assert response.json() == {"errors": ["Patient not found"]}


@pytest.mark.parametrize(
    "as_of", ["2025-13-01", "yesterday", "2025-03-01T25:00:00Z", "2025-3-1", "12", "2025-02-30"]
)
def test_a_bad_as_of_is_422(admin_client, patient, as_of):
    response = admin_client.get(patient_lcms_url(patient.pk), {"as_of": as_of})
    assert response.status_code == 422
    assert response.json() == {
        "errors": ["as_of must be a date (YYYY-MM-DD) or an ISO 8601 timestamp"]
    }
