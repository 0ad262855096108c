"""The Django admin's "Transfer caseload" page: the plan previewed (nothing written), then
applied as it was shown, through the care-team write core."""

import re

import pytest
from django.urls import reverse

from audit.models import AccessEvent
from care_team.admin_transfer import SIGNING_SALT, transfer_caseload_url
from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from care_team.services import CARE_TEAM_CHANGED, care_team_assign
from patients.models import Activity
from tests import factories
from tests.admin import sign_in

pytestmark = pytest.mark.django_db

PLAN_FIELD = re.compile(r'name="plan" value="([^"]+)"')


def lcm(capacity: int = 10, *, accepting: bool = True, **fields):
    user = factories.lcm_user(**fields)
    LeadCareManagerProfile.objects.create(
        user=user, capacity=capacity, accepting_patients=accepting
    )
    return user


def care_teams() -> dict[int, tuple[int | None, int | None]]:
    return {c.patient_id: (c.olcm_id, c.ilcm_id) for c in CaseLoad.objects.all()}


@pytest.fixture
def world(db):
    """Sam holds a high patient (iLCM Jane) and a medium one as oLCM; Jane and Bob hold
    nothing else."""
    sam = lcm(first_name="Sam", last_name="Leaving")
    jane = lcm(first_name="Jane", last_name="Coordinator")
    bob = lcm(first_name="Bob", last_name="Manager")
    high = factories.ecm_patient(acuity_level="high")
    medium = factories.ecm_patient(acuity_level="medium")
    CaseLoad.objects.create(patient=high, olcm=sam, ilcm=jane)
    CaseLoad.objects.create(patient=medium, olcm=sam)
    return {"sam": sam, "jane": jane, "bob": bob, "high": high, "medium": medium}


def preview(client, source, **fields):
    data = {"role": "olcm", "to": "", "reason": "Leaving", "preview": "1", **fields}
    return client.post(transfer_caseload_url(source.pk), data)


def signed_plan(response) -> str:
    return PLAN_FIELD.search(response.content.decode()).group(1)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_staff_with_the_admin_role_preview_then_apply(client, world):
    staff = sign_in(client)  # create_user --staff --roles admin: not a superuser
    sam, jane, bob = world["sam"], world["jane"], world["bob"]
    page = client.get(transfer_caseload_url(sam.pk))
    assert page.status_code == 200
    assert "Sam Leaving holds 2 patients as oLCM and 0 as iLCM." in page.content.decode()

    response = preview(client, sam)

    assert response.status_code == 200
    html = response.content.decode()
    assert "2 moves, 0 unplaced" in html
    moves = response.context["moves"]
    assert [(m["to"], m["weight"]) for m in moves] == [("Bob Manager", 3), ("Jane Coordinator", 2)]
    assert moves[0]["why"] == "transfer to the least utilized accepting oLCM (0.00 → 0.30)"
    loads = {row["name"]: (row["before"], row["after"]) for row in response.context["loads"]}
    assert loads == {
        "Sam Leaving": ("0.50", "0.00"),
        "Jane Coordinator": ("0.30", "0.50"),
        "Bob Manager": ("0.00", "0.30"),
    }
    assert not LcmAssignmentHistory.objects.exists()  # a preview writes nothing
    event = AccessEvent.objects.filter(source="admin").order_by("-id").first()
    assert (event.action, sorted(event.patient_ids)) == (
        "read_list",
        sorted([world["high"].pk, world["medium"].pk]),
    )

    applied = client.post(
        transfer_caseload_url(sam.pk), {"plan": signed_plan(response), "apply": "1"}, follow=True
    )

    assert applied.redirect_chain == [(transfer_caseload_url(sam.pk), 302)]
    assert messages_of(applied) == ["Transferred 2 patients (2 moves)."]
    assert care_teams() == {
        world["high"].pk: (bob.pk, jane.pk),
        world["medium"].pk: (jane.pk, None),
    }
    entry = LcmAssignmentHistory.objects.get(patient=world["high"])
    assert (entry.previous_user_id, entry.new_user_id, entry.reason) == (sam.pk, bob.pk, "Leaving")
    assert (entry.acted_by_id, entry.acted_by_name) == (staff.pk, "Sam Staff")
    assert Activity.objects.get(patient=world["high"]).actor_id == staff.pk
    event = AccessEvent.objects.filter(source="admin", action="bulk_assign").get()
    assert sorted(event.patient_ids) == sorted([world["high"].pk, world["medium"].pk])
    assert "Sam Leaving holds 0 patients as oLCM" in applied.content.decode()


def test_to_one_lcm_past_capacity(client, world):
    sign_in(client)
    response = preview(client, world["sam"], to=world["jane"].pk, role="both")
    moves = response.context["moves"]
    # The high patient's iLCM is Jane already: only the medium one moves to her.
    assert [(m["patient"].split(" (")[0], m["to"]) for m in moves] == [
        (str(world["medium"]), "Jane Coordinator")
    ]
    assert response.context["unplaced"][0]["errors"] == (
        f"user {world['jane'].pk} is already this patient's iLCM",
    )
    url = transfer_caseload_url(world["sam"].pk)
    client.post(url, {"plan": signed_plan(response), "apply": "1"})
    assert care_teams()[world["medium"].pk] == (world["jane"].pk, None)
    assert care_teams()[world["high"].pk] == (world["sam"].pk, world["jane"].pk)


def test_applying_skips_a_patient_changed_since_the_preview(client, world):
    sign_in(client)
    response = preview(client, world["sam"])
    other = lcm(accepting=False)
    care_team_assign(patient_id=world["medium"].pk, olcm_user_id=other.pk, actor=None)

    applied = client.post(
        transfer_caseload_url(world["sam"].pk),
        {"plan": signed_plan(response), "apply": "1"},
        follow=True,
    )

    assert messages_of(applied) == [
        f"Transferred 1 patient (1 moves); 1 skipped ({CARE_TEAM_CHANGED}): patient "
        f"{world['medium'].pk}."
    ]
    assert care_teams()[world["medium"].pk] == (other.pk, None)
    assert care_teams()[world["high"].pk] == (world["bob"].pk, world["jane"].pk)


def test_an_altered_or_foreign_plan_is_not_applied(client, world):
    from django.core import signing

    sign_in(client)
    url = transfer_caseload_url(world["sam"].pk)
    forged = signing.dumps(
        {"source": world["bob"].pk, "reason": "x", "moves": []},
        salt=SIGNING_SALT,
    )
    for plan in ("not signed", signed_plan(preview(client, world["sam"])) + "x", forged):
        response = client.post(url, {"plan": plan, "apply": "1"}, follow=True)
        assert messages_of(response) == [
            "This preview has expired or was altered: preview the transfer again."
        ]
    assert not LcmAssignmentHistory.objects.exists()


def test_the_reason_is_required(client, world):
    sign_in(client)
    response = preview(client, world["sam"], reason="   ")
    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert "moves" not in response.context


def test_the_user_page_links_to_it_for_an_active_lcm_only(client, world):
    sign_in(client, superuser=True)
    change = reverse("admin:accounts_user_change", args=[world["sam"].pk])
    html = client.get(change).content.decode()
    assert f'href="{transfer_caseload_url(world["sam"].pk)}"' in html
    other = factories.admin_user()
    html = client.get(reverse("admin:accounts_user_change", args=[other.pk])).content.decode()
    assert "Transfer caseload" not in html


def test_who_may_open_it(client, world):
    url = transfer_caseload_url(world["sam"].pk)
    assert client.get(url).status_code == 302  # to the sign-in page
    sign_in(client, roles="coordinator")  # staff without the admin role
    assert client.get(url).status_code == 403
    assert preview(client, world["sam"]).status_code == 403
    client.logout()
    sign_in(client, email="ana@example.org")
    assert client.get(transfer_caseload_url(factories.admin_user().pk)).status_code == 404
    assert client.get(transfer_caseload_url(999999)).status_code == 404
    assert not LcmAssignmentHistory.objects.exists()


def test_the_workload_page_links_each_lcm_to_it(client, world):
    sign_in(client)  # staff with the admin role: the users' pages are not theirs
    html = client.get(reverse("admin:care_team_leadcaremanagerworkload_changelist")).content
    for user in (world["sam"], world["jane"], world["bob"]):
        assert f'href="{transfer_caseload_url(user.pk)}"'.encode() in html
