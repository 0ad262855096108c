"""The Django admin's Workload page: every Lead Care Manager's load by role and acuity, weighted
load, capacity and utilization, with capacity and availability edited in the rows through the
service of ``PATCH /lead_care_managers/{id}``."""

import re
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from care_team.models import LeadCareManagerProfile
from care_team.planning import capacity
from patients.choices import AcuityLevel, MemberRecordStatus
from tests import factories
from tests.admin import sign_in

pytestmark = pytest.mark.django_db

WORKLOAD = reverse("admin:care_team_leadcaremanagerworkload_changelist")
INDEX = reverse("admin:index")


@pytest.fixture
def staff(client, db):
    """Staff with the admin role, not a superuser (``create_user --staff``)."""
    return sign_in(client)


def case_load(*, olcm=None, ilcm=None, acuity=AcuityLevel.MEDIUM, status=MemberRecordStatus.NEW):
    patient = factories.ecm_patient(acuity_level=acuity, member_record_status=status)
    return factories.CaseLoadFactory(patient=patient, olcm=olcm, ilcm=ilcm)


def row_of(response, user) -> dict:
    """The page's row for ``user``."""
    (line,) = [line for line in response.context["table"] if line["entry"].row.id == user.pk]
    return line


def form_data(response, changes: dict | None = None) -> dict:
    """What the browser posts back from the page, with ``changes`` as
    ``{user id: {"capacity": "80", "accepting_patients": False}}``."""
    changes = changes or {}
    formset = response.context["formset"]
    data = {
        f"{formset.prefix}-{name}": value for name, value in formset.management_form.initial.items()
    }
    for form in formset.forms:
        user_id = form.initial["user_id"]
        values = {
            "capacity": "" if form.initial["capacity"] is None else str(form.initial["capacity"]),
            "accepting_patients": form.initial["accepting_patients"],
        }
        values.update(changes.get(user_id, {}))
        data[form.add_prefix("user_id")] = str(user_id)
        data[form.add_initial_prefix("capacity")] = (
            "" if form.initial["capacity"] is None else str(form.initial["capacity"])
        )
        data[form.add_initial_prefix("accepting_patients")] = str(
            form.initial["accepting_patients"]
        )
        data[form.add_prefix("capacity")] = values["capacity"]
        if values["accepting_patients"]:
            data[form.add_prefix("accepting_patients")] = "on"
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- what the page shows -------------------------------------------------------------------


def test_the_index_and_the_sidebar_link_to_the_page(client, staff):
    html = client.get(INDEX).content.decode()
    assert f'href="{WORKLOAD}"' in html
    assert "Lead Care Manager workload" in html
    sidebar = client.get(reverse("admin:patients_patient_changelist")).content.decode()
    assert f'href="{WORKLOAD}"' in sidebar


def test_each_lcm_with_load_by_role_and_acuity_capacity_and_utilization(client, staff):
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    bob = factories.lcm_user(first_name="Bob", last_name="Manager")
    LeadCareManagerProfile.objects.create(user=bob, capacity=4, accepting_patients=False)
    case_load(olcm=jane, acuity=AcuityLevel.HIGH)
    case_load(olcm=jane, ilcm=bob, acuity=AcuityLevel.HIGH)
    case_load(olcm=jane, acuity=AcuityLevel.LOW)
    case_load(ilcm=jane, acuity="")
    case_load(olcm=bob, ilcm=jane, acuity=AcuityLevel.MEDIUM)
    case_load(olcm=jane, status=MemberRecordStatus.TERMINATED)  # not counted

    response = client.get(WORKLOAD)

    assert response.status_code == 200
    jane_row, bob_row = row_of(response, jane), row_of(response, bob)
    # low, medium, high, unknown
    assert (jane_row["olcm"], jane_row["ilcm"]) == ([1, 0, 2, 0], [0, 1, 0, 1])
    assert (jane_row["entry"].load, jane_row["entry"].row.capacity) == (11, 60)
    assert (jane_row["available"], jane_row["bar"]) == (
        49,
        {"value": 0.18, "width": 18, "level": "ok"},
    )
    assert (bob_row["olcm"], bob_row["ilcm"]) == ([0, 1, 0, 0], [0, 0, 1, 0])
    assert (bob_row["entry"].load, bob_row["available"]) == (5, -1)
    assert bob_row["bar"] == {"value": 1.25, "width": 100, "level": "over"}
    # Highest utilization first, as the workload route orders them.
    assert [line["entry"].row.id for line in response.context["table"]] == [bob.pk, jane.pk]
    assert response.context["summary"]["patients_missing_olcm"] == 1
    html = response.content.decode()
    assert "Jane Coordinator" in html and "1.25" in html
    assert 'class="utilization-bar utilization-over"' in html
    assert re.search(rf'<tr id="lcm-{bob.pk}" class="row1 not-accepting">', html)


def test_the_page_agrees_with_the_workload_route(client, staff, admin_client):
    lcms = [factories.lcm_user() for _ in range(3)]
    for n in range(7):
        case_load(olcm=lcms[n % 3], ilcm=lcms[(n + 1) % 3], acuity=["", *AcuityLevel][n % 4])
    api = admin_client.get("/v1/admin/clinic/ecm/lead_care_managers/workload").json()
    page = client.get(WORKLOAD).context["table"]
    assert [line["entry"].row.id for line in page] == [
        item["id"] for item in api["lead_care_managers"]
    ]
    for line, item in zip(page, api["lead_care_managers"], strict=True):
        assert line["entry"].load == item["weighted_load"]
        assert line["bar"]["value"] == item["utilization"]
        assert line["available"] == item["available_capacity"]
        assert line["olcm"] == [item["olcm"][key] for key in ("low", "medium", "high", "unknown")]


def test_search_sort_and_pages(client, staff):
    for n in range(55):
        factories.lcm_user(first_name=f"Lcm{n:02d}", last_name="Person")
    ana = factories.lcm_user(first_name="Ana", last_name="Ruiz", email="ana.ruiz@example.org")

    first = client.get(WORKLOAD, {"sort": "name"})
    assert len(first.context["table"]) == 50
    assert first.context["table"][0]["entry"].row.id == ana.pk
    assert [link["number"] for link in first.context["page_links"]] == [1, 2]
    second = client.get(WORKLOAD, {"sort": "name", "p": "2"})
    assert len(second.context["table"]) == 6
    assert second.context["table"][-1]["entry"].row.name == "Lcm54 Person"
    backwards = client.get(WORKLOAD, {"sort": "name", "dir": "desc"})
    assert backwards.context["table"][0]["entry"].row.name == "Lcm54 Person"
    found = client.get(WORKLOAD, {"q": "RUIZ@"})
    assert [line["entry"].row.id for line in found.context["table"]] == [ana.pk]
    odd = client.get(WORKLOAD, {"sort": "nonsense", "dir": "sideways", "p": "x"})
    assert odd.status_code == 200


def test_the_page_runs_a_fixed_number_of_queries(client, staff, django_assert_num_queries):
    def grow(count):
        for _ in range(count):
            lcm = factories.lcm_user()
            LeadCareManagerProfile.objects.create(user=lcm, capacity=30)
            case_load(olcm=lcm, acuity=AcuityLevel.HIGH)
            case_load(ilcm=lcm)

    grow(3)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(WORKLOAD)
    few = len(queries)
    assert len(response.context["table"]) == 3

    grow(197)  # 200 Lead Care Managers: four pages
    with django_assert_num_queries(few):
        response = client.get(WORKLOAD)
    assert len(response.context["table"]) == 50
    with django_assert_num_queries(few):
        response = client.get(WORKLOAD, {"p": "4", "sort": "name"})
    assert len(response.context["table"]) == 50


# --- editing capacity and availability -----------------------------------------------------


def test_saving_goes_through_the_capacity_service_for_changed_rows_only(client, staff):
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    bob = factories.lcm_user(first_name="Bob", last_name="Manager")
    page = client.get(WORKLOAD)
    data = form_data(page, {jane.pk: {"capacity": "80", "accepting_patients": False}})

    with mock.patch.object(
        capacity, "lead_care_manager_update", wraps=capacity.lead_care_manager_update
    ) as update:
        response = client.post(WORKLOAD, data, follow=True)

    update.assert_called_once_with(
        user_id=jane.pk, changes={"capacity": 80, "accepting_patients": False}
    )
    profile = LeadCareManagerProfile.objects.get(user=jane)
    assert (profile.capacity, profile.accepting_patients) == (80, False)
    assert not LeadCareManagerProfile.objects.filter(user=bob).exists()
    assert messages_of(response) == [
        "Saved Jane Coordinator (capacity 80, not accepting patients)."
    ]
    line = row_of(response, jane)
    assert (line["entry"].row.capacity, line["entry"].row.accepting) == (80, False)


def test_an_emptied_capacity_goes_back_to_the_default(client, staff):
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    LeadCareManagerProfile.objects.create(user=jane, capacity=10)
    page = client.get(WORKLOAD)
    assert 'placeholder="60"' in page.content.decode()
    response = client.post(WORKLOAD, form_data(page, {jane.pk: {"capacity": ""}}), follow=True)
    assert LeadCareManagerProfile.objects.get(user=jane).capacity is None
    assert messages_of(response) == ["Saved Jane Coordinator (default capacity)."]
    assert row_of(response, jane)["entry"].row.capacity == 60


def test_a_row_left_alone_keeps_a_change_made_meanwhile(client, staff):
    jane, bob = factories.lcm_user(), factories.lcm_user()
    page = client.get(WORKLOAD)
    # Someone else sets Bob's capacity while the page is open.
    capacity.lead_care_manager_update(user_id=bob.pk, changes={"capacity": 25})
    client.post(WORKLOAD, form_data(page, {jane.pk: {"capacity": "40"}}))
    assert LeadCareManagerProfile.objects.get(user=bob).capacity == 25
    assert LeadCareManagerProfile.objects.get(user=jane).capacity == 40


def test_nothing_changed_writes_nothing(client, staff):
    factories.lcm_user()
    response = client.post(WORKLOAD, form_data(client.get(WORKLOAD)), follow=True)
    assert messages_of(response) == ["Nothing was changed."]
    assert not LeadCareManagerProfile.objects.exists()


@pytest.mark.parametrize("value", ["-1", "1000001", "lots"])
def test_an_invalid_capacity_saves_nothing(client, staff, value):
    jane, bob = factories.lcm_user(), factories.lcm_user()
    page = client.get(WORKLOAD)
    data = form_data(page, {jane.pk: {"capacity": value}, bob.pk: {"capacity": "9"}})
    response = client.post(WORKLOAD, data)
    assert response.status_code == 200
    assert "Please correct the errors below." in response.content.decode()
    assert row_of(response, jane)["form"].errors["capacity"]
    assert not LeadCareManagerProfile.objects.exists()


def test_a_user_no_longer_an_lcm_is_not_saved(client, staff):
    jane = factories.lcm_user(first_name="Jane", last_name="Coordinator")
    gone = factories.lcm_user()
    page = client.get(WORKLOAD)
    gone.is_active = False
    gone.save()
    data = form_data(page, {jane.pk: {"capacity": "7"}, gone.pk: {"capacity": "9"}})
    response = client.post(WORKLOAD, data, follow=True)
    assert messages_of(response) == [
        "Saved Jane Coordinator (capacity 7).",
        f"Not saved, no longer an active Lead Care Manager: user {gone.pk}.",
    ]
    assert list(LeadCareManagerProfile.objects.values_list("user_id", flat=True)) == [jane.pk]


def test_the_audit_records_the_page_views_and_the_saves(client, staff):
    from audit.models import AccessEvent

    jane = factories.lcm_user()
    page = client.get(WORKLOAD)
    client.post(WORKLOAD, form_data(page, {jane.pk: {"capacity": "5"}}))
    events = list(
        AccessEvent.objects.filter(source="admin", route__contains="leadcaremanagerworkload")
        .order_by("id")
        .values_list("action", "status_code")
    )
    assert events == [("read_list", 200), ("update", 302)]


# --- who may use it ------------------------------------------------------------------------


@pytest.mark.parametrize("roles", ["", "ecm"])
def test_staff_without_the_admin_role_get_403(client, roles):
    jane = factories.lcm_user()
    sign_in(client, roles=roles)
    assert client.get(WORKLOAD).status_code == 403
    data = {"lcm-TOTAL_FORMS": "1", "lcm-INITIAL_FORMS": "1", "lcm-0-user_id": str(jane.pk)}
    data["lcm-0-capacity"] = "1"
    assert client.post(WORKLOAD, data).status_code == 403
    assert not LeadCareManagerProfile.objects.exists()
    assert WORKLOAD not in client.get(INDEX).content.decode()


def test_there_is_no_add_change_or_delete_page(client, staff):
    assert b"/admin/care_team/leadcaremanagerworkload/add/" not in client.get(INDEX).content
    assert client.get(f"{WORKLOAD}add/").status_code == 404
    assert client.get(f"{WORKLOAD}1/change/").status_code == 404
