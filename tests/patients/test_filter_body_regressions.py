"""Regressions found by the contract fuzzing (.ci/schemathesis.sh) on POST /patients/filter."""

import pytest

from tests import factories

URL = "/v1/admin/clinic/ecm/patients/filter"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("filters", [False, 0, "", [], "status"])
def test_filters_that_are_not_an_object_are_422(admin_client, filters):
    # `body.get("filters") or {}` used to take every falsy value for "no filters".
    response = admin_client.post(URL, {"filters": filters}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["filters must be a JSON object"]}


@pytest.mark.parametrize("body", [{}, {"filters": None}, {"filters": {}}])
def test_absent_null_or_empty_filters_mean_no_filters(admin_client, body):
    patient = factories.ecm_patient()
    response = admin_client.post(URL, body, format="json")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["patients"]] == [patient.id]
