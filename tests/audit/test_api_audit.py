"""Access audit of the API (HIPAA 164.312(b)): one event per request that touches patient
data or is refused, written with one INSERT, holding ids and never PHI."""

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken
from audit import services as audit_services
from audit.models import AccessEvent
from ecm_admin.request_context import client_ip, regex_to_template
from tests import factories

BASE = "/v1/admin/clinic/ecm"
pytestmark = pytest.mark.django_db


@pytest.fixture
def john():
    return factories.ecm_patient(
        patient__first_name="Johnathan", patient__last_name="Doeberg", member_id="MEMJOHN001"
    )


@pytest.fixture
def lcm():
    return factories.lcm_user()


def only_event() -> AccessEvent:
    events = list(AccessEvent.objects.all())
    assert len(events) == 1, [(e.action, e.route, e.status_code) for e in events]
    return events[0]


def assert_no_phi(event: AccessEvent, *values: str) -> None:
    row = " ".join(str(getattr(event, f.attname)) for f in AccessEvent._meta.concrete_fields)
    for value in values:
        assert value.lower() not in row.lower()


def test_list_records_every_id_on_the_page_and_no_search_term(admin_client, admin, john):
    others = [factories.ecm_patient(patient__first_name="Johnathan") for _ in range(2)]
    factories.ecm_patient(patient__first_name="Zed")
    response = admin_client.get(f"{BASE}/patients", {"search": "Johnathan", "per_page": 2})
    assert response.status_code == 200

    event = only_event()
    assert event.source == "api"
    assert event.action == "read_list"
    assert event.method == "GET"
    assert event.route == f"{BASE}/patients"
    assert event.status_code == 200
    assert event.user_id == admin.pk
    token = ApiToken.objects.get(user=admin)
    assert event.token_prefix == token.prefix
    assert event.request_id == response["X-Request-ID"]
    assert event.client_ip == "127.0.0.1"
    assert event.patient_ids == [p["id"] for p in response.json()["patients"]]
    assert set(event.patient_ids) <= {john.pk, *(p.pk for p in others)}
    assert len(event.patient_ids) == 2
    assert_no_phi(event, "Johnathan", "Doeberg", "MEMJOHN001", "search")


def test_filter_records_read_list(admin_client, john):
    response = admin_client.post(f"{BASE}/patients/filter", {"search": "Doeberg"}, format="json")
    assert response.status_code == 200
    event = only_event()
    assert (event.action, event.route, event.patient_ids) == (
        "read_list",
        f"{BASE}/patients/filter",
        [john.pk],
    )
    assert_no_phi(event, "Doeberg")


def test_detail_records_read_detail_with_the_route_template(admin_client, john):
    assert admin_client.get(f"{BASE}/patients/{john.pk}").status_code == 200
    event = only_event()
    assert event.action == "read_detail"
    assert event.route == f"{BASE}/patients/{{patient_id}}"
    assert event.patient_ids == [john.pk]


def test_a_refused_attempt_is_recorded_with_its_status(admin_client):
    assert admin_client.get(f"{BASE}/patients/4242").status_code == 404
    event = only_event()
    assert (event.action, event.status_code, event.patient_ids) == ("read_detail", 404, [4242])


def test_update_is_recorded_without_the_new_values(admin_client, john):
    body = {"patient": {"last_name": "Newname"}}
    assert admin_client.put(f"{BASE}/patients/{john.pk}", body, format="json").status_code == 200
    event = only_event()
    assert (event.action, event.method, event.patient_ids) == ("update", "PUT", [john.pk])
    assert_no_phi(event, "Newname", "Doeberg")

    bad = {"patient": {"email": "not an email"}}
    response = admin_client.patch(f"{BASE}/patients/{john.pk}", bad, format="json")
    assert response.status_code == 422
    last = AccessEvent.objects.order_by("-id").first()
    assert (last.action, last.status_code, last.patient_ids) == ("update", 422, [john.pk])


def test_care_team_routes_are_recorded(admin_client, john, lcm):
    patient_lcms = f"{BASE}/patients/{john.pk}/lead_care_managers"
    assign = {"patient_id": john.pk, "olcm_user_id": lcm.pk, "reason": "Doeberg moved"}
    other = factories.ecm_patient()
    bulk = {
        "assignments": [
            {"patient_id": other.pk, "ilcm_user_id": lcm.pk},
            {"patient_id": "x", "ilcm_user_id": lcm.pk},
        ]
    }
    calls = [
        (admin_client.get, patient_lcms, None, "read_detail", [john.pk]),
        (admin_client.post, f"{BASE}/lead_care_managers/assign", assign, "assign", [john.pk]),
        (admin_client.put, f"{BASE}/lead_care_managers/assign", assign, "assign", [john.pk]),
        (
            admin_client.delete,
            f"{BASE}/lead_care_managers/assign",
            {"patient_id": john.pk, "role": "olcm"},
            "unassign",
            [john.pk],
        ),
        (
            admin_client.post,
            f"{BASE}/lead_care_managers/bulk_assign",
            bulk,
            "bulk_assign",
            [other.pk],
        ),
    ]
    for method, url, body, action, ids in calls:
        before = AccessEvent.objects.count()
        response = method(url, body, format="json")
        assert response.status_code == 200, response.content
        event = AccessEvent.objects.order_by("-id").first()
        assert AccessEvent.objects.count() == before + 1
        assert (event.action, event.patient_ids, event.status_code) == (action, ids, 200)
        assert_no_phi(event, "Doeberg")


def test_a_read_without_patient_data_is_not_recorded(admin_client):
    assert admin_client.get(f"{BASE}/lead_care_managers").status_code == 200
    assert not AccessEvent.objects.exists()


def test_missing_and_bad_tokens_are_recorded_as_auth_failed(anon_client, admin):
    assert anon_client.get(f"{BASE}/patients").status_code == 401
    event = only_event()
    assert (event.action, event.status_code, event.user_id, event.token_prefix) == (
        "auth_failed",
        401,
        None,
        "",
    )

    bogus = "ecm_" + "A" * 43
    anon_client.credentials(HTTP_X_USER_TOKEN=bogus)
    assert anon_client.get(f"{BASE}/patients").status_code == 401
    event = AccessEvent.objects.order_by("-id").first()
    assert event.action == "auth_failed"
    assert event.token_prefix == bogus[:12]

    revoked = factories.ApiTokenFactory(user=admin)
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=revoked.created_at)
    anon_client.credentials(HTTP_X_USER_TOKEN=revoked.raw)
    assert anon_client.get(f"{BASE}/patients").status_code == 401
    event = AccessEvent.objects.order_by("-id").first()
    assert (event.user_id, event.token_prefix) == (admin.pk, revoked.prefix)


def test_a_password_pasted_as_token_is_not_recorded(anon_client):
    anon_client.credentials(HTTP_X_USER_TOKEN="hunter2-my-password")
    assert anon_client.get(f"{BASE}/patients").status_code == 401
    assert only_event().token_prefix == ""


def test_non_admin_is_recorded_as_denied(viewer_client, john):
    assert viewer_client.get(f"{BASE}/patients/{john.pk}").status_code == 403
    event = only_event()
    assert (event.action, event.status_code, event.user_id) == (
        "denied",
        403,
        viewer_client.user.pk,
    )
    assert event.patient_ids == []


def test_the_audit_costs_one_insert_per_request(admin_client, john):
    url = f"{BASE}/patients/{john.pk}"
    admin_client.get(url)  # last_used_at is fresh afterwards
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(url)
    audit_queries = [q["sql"] for q in queries if "audit_accessevent" in q["sql"]]
    assert len(audit_queries) == 1
    assert audit_queries[0].lstrip().upper().startswith("INSERT")


def test_a_read_whose_audit_cannot_be_written_is_not_answered(admin_client, john, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(audit_services, "event_record", broken)
    response = admin_client.get(f"{BASE}/patients/{john.pk}")
    assert response.status_code == 503
    assert b"Doeberg" not in response.content
    assert response["Retry-After"]


def test_the_user_id_outlives_the_user(admin_client, admin, john):
    admin_client.get(f"{BASE}/patients/{john.pk}")
    admin_id = admin.pk
    admin.delete()  # no cascade, no SET NULL (which the PostgreSQL trigger would refuse)
    event = only_event()
    assert event.user_id == admin_id
    assert AccessEvent.objects.filter(user_id=admin_id).exists()


# --- the client address ---------------------------------------------------------------------


class FakeRequest:
    def __init__(self, remote="10.0.0.9", forwarded=None):
        self.META = {"REMOTE_ADDR": remote}
        if forwarded is not None:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded


def test_client_ip_ignores_forwarded_for_without_trusted_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(FakeRequest(forwarded="6.6.6.6")) == "10.0.0.9"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the client forged 6.6.6.6
        (2, "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"),
        (2, "1.2.3.4", "1.2.3.4"),  # fewer entries than proxies: the leftmost
        (1, "not-an-address", "10.0.0.9"),
        (1, "", "10.0.0.9"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_takes_the_nth_entry_from_the_right(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(FakeRequest(forwarded=forwarded)) == expected


def test_the_recorded_client_is_the_forwarded_one_behind_a_proxy(admin_client, john, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    admin_client.get(f"{BASE}/patients/{john.pk}", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert only_event().client_ip == "203.0.113.7"


@pytest.mark.parametrize(
    ("route", "template"),
    [
        (
            "v1/admin/clinic/ecm/^patients/(?P<patient_id>[^/]+)/?$",
            "v1/admin/clinic/ecm/patients/{patient_id}",
        ),
        (
            "admin/patients/patient/<path:object_id>/change/",
            "admin/patients/patient/{object_id}/change/",
        ),
        ("^healthz/?$", "healthz"),
    ],
)
def test_route_templates(route, template):
    assert regex_to_template(route) == template
