"""The authorization worklist filters of ``GET /patients`` and ``POST /patients/filter``:
``authorization_expiring_within_days`` and ``missing_active_authorization``.

"Today" is frozen by patching ``timezone.localdate`` (the service's date, ``TIME_ZONE``), so
the date arithmetic is checked across month and year ends and leap days.
"""

import datetime as dt
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

from care_team.models import CaseLoad
from patients.choices import MemberRecordStatus
from tests import factories

pytestmark = pytest.mark.django_db

API = "/v1/admin/clinic/ecm"
LIST = f"{API}/patients"
FILTER = f"{API}/patients/filter"
TODAY = dt.date(2026, 3, 15)
EXPIRING = "authorization_expiring_within_days"
MISSING = "missing_active_authorization"
DAYS_ERROR = f"{EXPIRING} must be a whole number from 0 to 365"
MISSING_ERROR = f"{MISSING} must be one of: true, false"


def day(offset: int, on: dt.date = TODAY) -> dt.date:
    return on + dt.timedelta(days=offset)


@pytest.fixture
def today():
    """Freeze the service's date at ``TODAY`` (a test may set ``frozen.return_value``)."""
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY) as frozen:
        yield frozen


def patient(name: str, *auths, **eligibility):
    """An ECM patient named ``name`` (first name) with these authorizations:
    ``(status, start, end)`` each, dates as offsets from TODAY, dates or None."""
    first, _, last = name.partition(" ")
    record = factories.ecm_patient(
        patient__first_name=first, patient__last_name=last or "Test", **eligibility
    )
    for status, start, end in auths:
        factories.AuthorizationFactory(
            patient=record,
            status=status,
            start_date=day(start) if isinstance(start, int) else start,
            expiration_date=day(end) if isinstance(end, int) else end,
        )
    return record


def listed(client, **params) -> list[int]:
    response = client.get(LIST, {"per_page": 100, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    ids = [item["id"] for item in body["patients"]]
    assert body["pagination"]["total_count"] == len(ids)
    return ids


def filtered(client, filters: dict, **body) -> list[int]:
    response = client.post(FILTER, {"per_page": 100, "filters": filters, **body}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    ids = [item["id"] for item in data["patients"]]
    assert data["pagination"]["total_count"] == len(ids)
    return ids


# --- expiring within N days ------------------------------------------------------------------


def test_expiring_reads_the_latest_approved_authorization(admin_client, today):
    ends_soon = patient("Ends Soon", ("Approved", -100, 10))
    renewed = patient("Renewed", ("Approved", -100, 10), ("Approved", 11, 200))
    open_ended = patient("Open Ended", ("Approved", -100, 10), ("Approved", -50, None))
    ended = patient("Ended", ("Approved", -200, -1))
    pending_only = patient("Pending", ("pending", -100, 10))
    later_pending = patient("Later Pending", ("Approved", -100, 20), ("pending", 21, 300))
    patient("Nothing")
    far = patient("Far", ("Approved", -100, 31))

    assert listed(admin_client, **{EXPIRING: 30}) == [ends_soon.pk, later_pending.pk]
    assert filtered(admin_client, {EXPIRING: 30}) == [ends_soon.pk, later_pending.pk]
    assert listed(admin_client, **{EXPIRING: 31}) == [ends_soon.pk, later_pending.pk, far.pk]
    # Renewed (latest ends in 200 days), open-ended, ended, pending: never expiring.
    assert renewed.pk in listed(admin_client, **{EXPIRING: 200})
    assert {open_ended.pk, ended.pk, pending_only.pk}.isdisjoint(
        listed(admin_client, **{EXPIRING: 365})
    )


@pytest.mark.parametrize(
    ("on", "days", "end", "expected"),
    [
        # Zero days: ends today.
        (dt.date(2026, 3, 15), 0, dt.date(2026, 3, 15), True),
        (dt.date(2026, 3, 15), 0, dt.date(2026, 3, 14), False),
        (dt.date(2026, 3, 15), 0, dt.date(2026, 3, 16), False),
        # Across a month end (30 and 31 days).
        (dt.date(2026, 4, 30), 1, dt.date(2026, 5, 1), True),
        (dt.date(2026, 1, 31), 28, dt.date(2026, 2, 28), True),
        (dt.date(2026, 1, 31), 28, dt.date(2026, 3, 1), False),
        (dt.date(2026, 1, 31), 29, dt.date(2026, 3, 1), True),
        # Across a year end.
        (dt.date(2025, 12, 31), 1, dt.date(2026, 1, 1), True),
        (dt.date(2025, 12, 1), 30, dt.date(2025, 12, 31), True),
        (dt.date(2025, 12, 1), 30, dt.date(2026, 1, 1), False),
        # Leap years: February has 29 days in 2028, 28 in 2027.
        (dt.date(2028, 1, 31), 29, dt.date(2028, 2, 29), True),
        (dt.date(2028, 1, 31), 29, dt.date(2028, 3, 1), False),
        (dt.date(2027, 1, 31), 29, dt.date(2027, 3, 1), True),
        (dt.date(2028, 2, 28), 1, dt.date(2028, 2, 29), True),
        (dt.date(2028, 2, 29), 1, dt.date(2028, 3, 1), True),
        (dt.date(2028, 2, 29), 0, dt.date(2028, 2, 29), True),
        (dt.date(2028, 2, 29), 365, dt.date(2029, 2, 28), True),
        (dt.date(2028, 2, 29), 365, dt.date(2029, 3, 1), False),
        (dt.date(2027, 3, 1), 365, dt.date(2028, 2, 29), True),
        (dt.date(2027, 3, 1), 365, dt.date(2028, 3, 1), False),
    ],
)
def test_the_window_is_counted_in_calendar_days(admin_client, today, on, days, end, expected):
    today.return_value = on
    record = patient("Window", ("Approved", on - dt.timedelta(days=400), end))
    assert listed(admin_client, **{EXPIRING: days}) == ([record.pk] if expected else [])
    assert filtered(admin_client, {EXPIRING: days}) == ([record.pk] if expected else [])


# --- missing an active authorization ---------------------------------------------------------


def test_active_means_an_approved_authorization_covering_today(admin_client, today):
    covered = {
        "starts today": patient("Starts Today", ("Approved", 0, 100)),
        "ends today": patient("Ends Today", ("Approved", -100, 0)),
        "open start": patient("Open Start", ("Approved", None, 5)),
        "open end": patient("Open End", ("Approved", -5, None)),
        "open both": patient("Open Both", ("Approved", None, None)),
        "one of several": patient(
            "Several", ("denied", -10, 10), ("Approved", -300, -200), ("APPROVED", -1, 1)
        ),
    }
    missing = {
        "ended yesterday": patient("Ended Yesterday", ("Approved", -100, -1)),
        "starts tomorrow": patient("Starts Tomorrow", ("Approved", 1, 100)),
        "open start, ended": patient("Open Start Ended", ("Approved", None, -1)),
        "open end, not started": patient("Open End Later", ("Approved", 1, None)),
        "pending": patient("Pending", ("pending", -10, 10)),
        "nothing": patient("Nothing"),
    }
    want_missing = sorted(p.pk for p in missing.values())
    want_covered = sorted(p.pk for p in covered.values())
    assert listed(admin_client, **{MISSING: "true"}) == want_missing
    assert listed(admin_client, **{MISSING: "false"}) == want_covered
    assert filtered(admin_client, {MISSING: True}) == want_missing
    assert filtered(admin_client, {MISSING: False}) == want_covered
    assert filtered(admin_client, {MISSING: "true"}) == want_missing


@pytest.mark.parametrize("status", ["Approved", "APPROVED", "approved", "aPpRoVeD"])
def test_approved_is_compared_case_insensitively(admin_client, today, status):
    record = patient("Cased", (status, -10, 10))
    assert listed(admin_client, **{EXPIRING: 10}) == [record.pk]
    assert listed(admin_client, **{MISSING: "false"}) == [record.pk]
    assert listed(admin_client, **{MISSING: "true"}) == []


@pytest.mark.parametrize("status", ["Approved ", "pre-approved", "approval", ""])
def test_other_statuses_never_count(admin_client, today, status):
    record = patient("Other", (status, -10, 10))
    assert listed(admin_client, **{EXPIRING: 10}) == []
    assert listed(admin_client, **{MISSING: "true"}) == [record.pk]


def test_today_is_the_services_date_in_its_time_zone(admin_client):
    """03:00 UTC on 16 March is still 15 March in Los Angeles."""
    record = patient("Zoned", ("Approved", -10, 0))  # ends 15 March
    instant = dt.datetime(2026, 3, 16, 3, 0, tzinfo=dt.UTC)
    with mock.patch("django.utils.timezone.now", return_value=instant):
        assert timezone.localdate() == dt.date(2026, 3, 16)
        assert listed(admin_client, **{EXPIRING: 0}) == []
        with override_settings(TIME_ZONE="America/Los_Angeles"):
            assert listed(admin_client, **{EXPIRING: 0}) == [record.pk]


def test_patients_without_eligibility_are_never_listed(admin_client, today):
    other = factories.PatientFactory()
    factories.AuthorizationFactory(patient=other, start_date=day(-5), expiration_date=day(5))
    assert listed(admin_client, **{EXPIRING: 30}) == []
    assert listed(admin_client, **{MISSING: "false"}) == []


# --- with every other filter, search and sort -------------------------------------------------


def test_combined_with_search_filters_sort_and_pages(admin_client, today):
    lcm = factories.lcm_user()
    maria = patient(
        "Maria Garcia",
        ("Approved", -100, 5),
        member_record_status=MemberRecordStatus.NEW,
        ecm_benefit_auth_end_date=dt.date(2027, 1, 1),
    )
    mario = patient(
        "Mario Garcia", ("Approved", -100, 20), member_record_status=MemberRecordStatus.CONTINUING
    )
    mark = patient(
        "Mark Garcia",
        ("Approved", -100, 10),
        member_record_status=MemberRecordStatus.NEW,
        ecm_benefit_auth_end_date=dt.date(2026, 6, 1),
    )
    patient("Marta Lopez", ("Approved", -100, 300))
    lapsed = patient("Marisol Garcia", ("Approved", -100, -3))
    CaseLoad.objects.create(patient=mario, olcm=lcm)

    expiring = {EXPIRING: 30}
    assert listed(admin_client, search="garcia", **expiring) == [maria.pk, mario.pk, mark.pk]
    assert listed(admin_client, search="mar", status="new_member", **expiring) == [
        maria.pk,
        mark.pk,
    ]
    assert listed(admin_client, olcm_user_id=lcm.pk, **expiring) == [mario.pk]
    assert listed(admin_client, missing_lcm="olcm", **expiring) == [maria.pk, mark.pk]
    assert listed(admin_client, authorization_status="approved", **expiring) == [
        maria.pk,
        mario.pk,
        mark.pk,
    ]
    # Sorted by name descending: last name, then first name.
    assert listed(admin_client, sort_by="name", sort_dir="DESC", **expiring) == [
        mark.pk,
        mario.pk,
        maria.pk,
    ]
    assert filtered(
        admin_client,
        {EXPIRING: "30", "status": "new_member"},
        search="GARC",
        sort_by="ecm_benefit_auth_end_date",
    ) == [mark.pk, maria.pk]
    # Both worklist filters at once: expiring soon and covering today.
    assert listed(admin_client, **{EXPIRING: 30, MISSING: "false"}) == [
        maria.pk,
        mario.pk,
        mark.pk,
    ]
    assert listed(admin_client, search="garcia", **{MISSING: "true"}) == [lapsed.pk]

    # Pages: exact total_count, deterministic order.
    response = admin_client.get(LIST, {EXPIRING: 30, "per_page": 2, "page": 2})
    body = response.json()
    assert [item["id"] for item in body["patients"]] == [mark.pk]
    assert body["pagination"] == {
        "current_page": 2,
        "total_pages": 2,
        "total_count": 3,
        "per_page": 2,
    }


def test_blank_values_mean_no_filter(admin_client, today):
    records = [patient("One", ("Approved", -1, 1)).pk, patient("Two").pk]
    assert listed(admin_client, **{EXPIRING: "", MISSING: ""}) == records
    assert filtered(admin_client, {EXPIRING: None, MISSING: None}) == records
    assert filtered(admin_client, {EXPIRING: ""}) == records


# --- refused values ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "366", "1000", "abc", "1.5", "1e2", "30 days"])
def test_a_bad_number_of_days_is_422(admin_client, value):
    response = admin_client.get(LIST, {EXPIRING: value})
    assert response.status_code == 422
    assert response.json() == {"errors": [DAYS_ERROR]}
    response = admin_client.post(FILTER, {"filters": {EXPIRING: value}}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": [DAYS_ERROR]}


@pytest.mark.parametrize("value", [-1, 366, 2.5])
def test_a_bad_json_number_of_days_is_422(admin_client, value):
    response = admin_client.post(FILTER, {"filters": {EXPIRING: value}}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": [DAYS_ERROR]}


@pytest.mark.parametrize("value", ["yes", "1", "True", "maybe"])
def test_a_bad_missing_value_is_422(admin_client, value):
    response = admin_client.get(LIST, {MISSING: value})
    assert response.status_code == 422
    assert response.json() == {"errors": [MISSING_ERROR]}


@pytest.mark.parametrize(
    ("filters", "error"),
    [
        ({MISSING: 1}, MISSING_ERROR),
        ({MISSING: "no"}, MISSING_ERROR),
        ({MISSING: [True]}, f"filters.{MISSING} must be a boolean"),
        ({MISSING: {"value": True}}, f"filters.{MISSING} must be a boolean"),
        ({EXPIRING: True}, f"filters.{EXPIRING} must be a string or an integer"),
        ({EXPIRING: [30]}, f"filters.{EXPIRING} must be a string or an integer"),
    ],
)
def test_bad_filter_body_values_are_422(admin_client, filters, error):
    response = admin_client.post(FILTER, {"filters": filters}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": [error]}


def test_every_bad_filter_is_named(admin_client):
    response = admin_client.get(LIST, {EXPIRING: "400", MISSING: "perhaps", "status": "x"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert len(errors) == 3
    assert {DAYS_ERROR, MISSING_ERROR} < set(errors)
    assert any(error.startswith("status must be one of: ") for error in errors)


def test_auto_assign_takes_the_worklist_filters_too(admin_client, today):
    patient("Waiting", ("Approved", -1, 1))
    factories.lcm_user()
    response = admin_client.post(
        f"{API}/lead_care_managers/auto_assign",
        {"role": "olcm", "filters": {MISSING: False, EXPIRING: 30}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["moves"]) == 1
    response = admin_client.post(
        f"{API}/lead_care_managers/auto_assign",
        {"role": "olcm", "filters": {MISSING: "sometimes"}},
        format="json",
    )
    assert response.status_code == 422


def test_the_worklist_filters_need_the_admin_role(viewer_client, anon_client):
    assert viewer_client.get(LIST, {EXPIRING: 30}).status_code == 403
    assert anon_client.get(LIST, {MISSING: "true"}).status_code == 401
