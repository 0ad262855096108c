"""The patient list of the Django admin: the authorization worklist filters ("Authorization
expiring within", "Active authorization"), by the same rule as the API's, as a staff user made
with ``create_user --staff`` and the admin role."""

import datetime as dt
from unittest import mock

import pytest
from django.urls import reverse

from patients.filtersets import PatientFilterSet
from patients.selectors import ecm_patients
from tests import factories
from tests.admin import sign_in

CHANGELIST = reverse("admin:patients_patient_changelist")
TODAY = dt.date(2028, 2, 28)  # a leap year: 30 days on is 29 March


@pytest.fixture
def staff(client, db):
    return sign_in(client)


@pytest.fixture(autouse=True)
def today():
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY):
        yield


def with_authorization(start: int | None, end: int | None, *, status="Approved", ecm=True):
    patient = factories.ecm_patient() if ecm else factories.PatientFactory()
    factories.AuthorizationFactory(
        patient=patient,
        status=status,
        start_date=None if start is None else TODAY + dt.timedelta(days=start),
        expiration_date=None if end is None else TODAY + dt.timedelta(days=end),
    )
    return patient


def listed(client, **params) -> set[int]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return {patient.pk for patient in response.context["cl"].result_list}


def api(**filters) -> set[int]:
    filterset = PatientFilterSet(data=filters, queryset=ecm_patients())
    return set(filterset.filtered().values_list("pk", flat=True))


@pytest.fixture
def patients():
    return {
        "week": with_authorization(-30, 7),
        "month": with_authorization(-30, 30),
        "five weeks": with_authorization(-30, 35),
        "quarter": with_authorization(-30, 90),
        "lapsed": with_authorization(-30, -1),
        "pending": with_authorization(-30, 7, status="PENDING"),
        "open": with_authorization(-30, None),
        "later": with_authorization(5, 20),
        "not ecm": with_authorization(-30, 7, ecm=False),
    }


def test_the_filters_are_offered(client, staff):
    response = client.get(CHANGELIST)
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert specs["authorization expiring within"].lookup_choices == [
        ("7", "7 days"),
        ("30", "30 days"),
        ("60", "60 days"),
        ("90", "90 days"),
    ]
    assert specs["active authorization"].lookup_choices == [
        ("true", "Missing"),
        ("false", "Has one"),
    ]
    html = response.content.decode()
    assert "By authorization expiring within" in html
    assert "By active authorization" in html


def test_expiring_within_matches_the_api(client, staff, patients):
    names = {patient.pk: name for name, patient in patients.items()}
    for days, expected in [
        ("7", {"week"}),
        ("30", {"week", "month", "later"}),
        ("60", {"week", "month", "five weeks", "later"}),
        ("90", {"week", "month", "five weeks", "quarter", "later"}),
    ]:
        shown = listed(client, authorization_expiring_within_days=days)
        assert {names[pk] for pk in shown} == expected, days
        assert shown == api(authorization_expiring_within_days=days)


def test_active_authorization_matches_the_api(client, staff, patients):
    names = {patient.pk: name for name, patient in patients.items()}
    missing = listed(client, missing_active_authorization="true")
    assert {names[pk] for pk in missing} == {"lapsed", "pending", "later"}
    assert missing == api(missing_active_authorization="true")
    has = listed(client, missing_active_authorization="false")
    assert {names[pk] for pk in has} == {"week", "month", "five weeks", "quarter", "open"}
    assert has == api(missing_active_authorization="false")


def test_the_filters_combine_with_search_and_each_other(client, staff, patients):
    week = patients["week"]
    week.first_name = "Zelda"
    week.save()
    assert listed(client, q="zelda", authorization_expiring_within_days="30") == {week.pk}
    assert listed(client, q="zelda", missing_active_authorization="true") == set()
    assert listed(
        client, authorization_expiring_within_days="30", missing_active_authorization="true"
    ) == {patients["later"].pk}


@pytest.mark.parametrize(
    "params",
    [
        {"authorization_expiring_within_days": "366"},
        {"authorization_expiring_within_days": "soon"},
        {"missing_active_authorization": "maybe"},
    ],
)
def test_a_bad_value_is_not_a_server_error(client, staff, params):
    response = client.get(CHANGELIST, params)
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_a_staff_user_without_the_admin_role_sees_no_patients(client, db):
    sign_in(client, roles="ecm")
    response = client.get(CHANGELIST, {"authorization_expiring_within_days": "30"})
    assert response.status_code == 403
