"""Optimistic concurrency on ``PUT``/``PATCH /patients/{id}``: ``ETag`` and ``If-Match``."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from ecm_admin.exceptions import PRECONDITION_FAILED
from patients.etags import parse_if_match
from patients.models import Patient
from tests import factories

BASE = "/v1/admin/clinic/ecm"
STALE = {
    "errors": ["Precondition failed: the patient was changed by someone else; reload and retry"]
}


@pytest.fixture
def patient(db):
    return factories.ecm_patient(patient__first_name="Ida", patient__last_name="Etag")


def url(patient) -> str:
    return f"{BASE}/patients/{patient.pk}"


def etag_of(client, patient) -> str:
    response = client.get(url(patient))
    assert response.status_code == 200
    return response["ETag"]


def test_detail_has_a_strong_etag_that_is_stable(admin_client, patient):
    first = etag_of(admin_client, patient)
    assert first.startswith('"') and first.endswith('"') and len(first) > 10
    assert etag_of(admin_client, patient) == first


def test_etag_changes_with_anything_the_detail_shows(admin_client, patient):
    seen = {etag_of(admin_client, patient)}
    factories.ActivityFactory(patient=patient)
    seen.add(etag_of(admin_client, patient))
    factories.CaseLoadFactory(patient=patient, olcm=factories.lcm_user())
    seen.add(etag_of(admin_client, patient))
    factories.AuthorizationFactory(patient=patient)
    seen.add(etag_of(admin_client, patient))
    factories.StatusHistoryFactory(patient=patient)
    seen.add(etag_of(admin_client, patient))
    Patient.objects.filter(pk=patient.pk).update(phone="+18055550199")
    seen.add(etag_of(admin_client, patient))
    assert len(seen) == 6


def test_put_with_the_current_etag_succeeds_and_returns_the_new_one(admin_client, patient):
    tag = etag_of(admin_client, patient)
    response = admin_client.put(
        url(patient), {"patient": {"first_name": "Ada"}}, format="json", HTTP_IF_MATCH=tag
    )
    assert response.status_code == 200
    assert response.json()["patient"]["first_name"] == "Ada"
    assert response["ETag"] != tag
    assert response["ETag"] == etag_of(admin_client, patient)


def test_put_with_a_stale_etag_is_412_and_writes_nothing(admin_client, patient):
    tag = etag_of(admin_client, patient)
    changed = admin_client.patch(url(patient), {"patient": {"first_name": "Bea"}}, format="json")
    assert changed.status_code == 200
    assert changed["ETag"] != tag
    before = admin_client.get(url(patient)).json()
    response = admin_client.put(
        url(patient),
        {"patient": {"first_name": "Cy", "ecm_eligibility_information": {"acuity_level": "low"}}},
        format="json",
        HTTP_IF_MATCH=tag,
    )
    assert response.status_code == 412
    assert response.json() == STALE
    assert admin_client.get(url(patient)).json() == before
    patient.refresh_from_db()
    assert patient.first_name == "Bea"


def test_if_match_star_and_lists(admin_client, patient):
    tag = etag_of(admin_client, patient)
    body = {"patient": {"last_name": "Star"}}
    assert admin_client.put(url(patient), body, format="json", HTTP_IF_MATCH="*").status_code == 200
    tag = etag_of(admin_client, patient)
    listed = f'"nope", {tag}'
    body = {"patient": {"last_name": "Listed"}}
    assert (
        admin_client.put(url(patient), body, format="json", HTTP_IF_MATCH=listed).status_code == 200
    )


def test_a_weak_tag_never_matches(admin_client, patient):
    """If-Match uses the strong comparison (RFC 9110): W/"<the current tag>" is refused, and
    nothing is written; a strong tag beside it still matches."""
    tag = etag_of(admin_client, patient)
    body = {"patient": {"last_name": "Weak"}}
    response = admin_client.put(url(patient), body, format="json", HTTP_IF_MATCH=f"W/{tag}")
    assert response.status_code == 412
    assert response.json() == {"errors": [PRECONDITION_FAILED]}
    patient.refresh_from_db()
    assert patient.last_name != "Weak"
    assert etag_of(admin_client, patient) == tag
    both = f"W/{tag}, {tag}"
    assert (
        admin_client.put(url(patient), body, format="json", HTTP_IF_MATCH=both).status_code == 200
    )


def test_put_without_if_match_still_works(admin_client, patient):
    response = admin_client.put(url(patient), {"patient": {"last_name": "Free"}}, format="json")
    assert response.status_code == 200
    assert response["ETag"]


def test_validation_and_404_come_before_the_precondition(admin_client, patient):
    bad = {"patient": {"email": "nope"}}
    assert (
        admin_client.put(url(patient), bad, format="json", HTTP_IF_MATCH='"x"').status_code == 422
    )
    missing = f"{BASE}/patients/987654"
    body = {"patient": {"last_name": "X"}}
    assert admin_client.put(missing, body, format="json", HTTP_IF_MATCH='"x"').status_code == 404


def test_parse_if_match():
    assert parse_if_match(None) is None
    assert parse_if_match("  ") is None
    assert parse_if_match("*") == ["*"]
    assert parse_if_match('"a", W/"b" ,') == ['"a"', 'W/"b"']


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_puts_with_the_same_etag_cannot_both_succeed(admin_token):
    patient = factories.ecm_patient()
    client = APIClient()
    client.credentials(HTTP_X_USER_TOKEN=admin_token.raw)
    tag = client.get(url(patient))["ETag"]
    barrier = threading.Barrier(4)
    statuses = []

    def worker(n):
        own = APIClient()
        own.credentials(HTTP_X_USER_TOKEN=admin_token.raw)
        try:
            barrier.wait(timeout=10)
            response = own.put(
                url(patient),
                {"patient": {"last_name": f"Writer{n}"}},
                format="json",
                HTTP_IF_MATCH=tag,
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 412, 412, 412]
    patient.refresh_from_db()
    assert patient.last_name.startswith("Writer")
