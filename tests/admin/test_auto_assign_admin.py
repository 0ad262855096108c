"""The patient list's "Auto-assign oLCM / iLCM" action: the one planner's fill of the selected
patients, previewed, then written exactly as shown on "Confirm"."""

import time
from unittest import mock

import pytest
from django.contrib.admin import helpers
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from care_team import admin_planning
from care_team.admin_planning import unsign_plan
from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerProfile
from care_team.planning import plans
from care_team.planning.inputs import DEFAULT_TOLERANCE
from care_team.services import CARE_TEAM_CHANGED, care_team_assign
from patients.choices import AcuityLevel, MemberRecordStatus
from patients.models import Activity
from patients.selectors import ecm_patients
from tests import factories
from tests.admin import sign_in

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:patients_patient_changelist")
ACTION = "assign_lcms_automatically"


@pytest.fixture
def staff(client, db):
    """Staff with the admin role, not a superuser (``create_user --staff``)."""
    return sign_in(client)


@pytest.fixture
def lcms(db):
    """Ann, Ben and Cy, capacity 10 each (Ann already carries 4 points)."""
    made = []
    for first in ("Ann", "Ben", "Cy"):
        lcm = factories.lcm_user(first_name=first, last_name="Lcm")
        LeadCareManagerProfile.objects.create(user=lcm, capacity=10)
        made.append(lcm)
    for _ in range(2):
        patient = factories.ecm_patient(acuity_level=AcuityLevel.MEDIUM)
        factories.CaseLoadFactory(patient=patient, olcm=made[0])
    return made


def patient(name: str, *, acuity=AcuityLevel.HIGH, status=MemberRecordStatus.NEW, **team):
    made = factories.ecm_patient(
        acuity_level=acuity,
        member_record_status=status,
        patient__first_name=name,
        patient__last_name="Doe",
    )
    if team:
        factories.CaseLoadFactory(patient=made, **team)
    return made


def preview(client, patients, **fields):
    data = {"action": ACTION, helpers.ACTION_CHECKBOX_NAME: [str(p.pk) for p in patients]}
    return client.post(CHANGELIST, {**data, **fields})


def confirm_data(page, **changes) -> dict:
    """What "Confirm" posts from a preview page (``changes`` as the user typed them)."""
    context = page.context
    data = {
        "action": context["action"],
        helpers.ACTION_CHECKBOX_NAME: context["selected_ids"],
        "select_across": context["select_across"],
        **{name: context["form"][name].value() or "" for name in ("role", "reason", "plan")},
        "confirm": "1",
    }
    return {**data, **changes}


def preview_again(client, page, role: str, url: str = CHANGELIST):
    """ "Preview again" on a preview page, with the roles changed to ``role``."""
    data = confirm_data(page, role=role)
    data.pop("confirm")
    return client.post(url, {**data, "preview": "1"})


def shown_moves(page) -> list[tuple]:
    """The moves the page carries: (patient id, role, from, to)."""
    _, plan, _ = unsign_plan(page.context["form"]["plan"].value())
    return [(m.patient_id, m.role, m.from_user_id, m.to_user_id) for m in plan.moves]


def planned(patients, roles=("olcm", "ilcm")) -> list[tuple]:
    """The moves the one planner makes for these patients (as the API's auto-assign would)."""
    plan = plans.plan_auto_assign(
        roles=list(roles),
        mode="fill",
        patients=ecm_patients().filter(pk__in=[p.pk for p in patients]),
        receivers=None,
        max_moves=0,
        tolerance=DEFAULT_TOLERANCE,
        limit=1000,
    )
    return [(m.patient_id, m.role, m.from_user_id, m.to_user_id) for m in plan.moves]


def team(patient) -> tuple:
    case_load = CaseLoad.objects.filter(patient=patient).first()
    return (case_load.olcm_id, case_load.ilcm_id) if case_load else (None, None)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- the preview ---------------------------------------------------------------------------


def test_the_preview_shows_the_planners_fill_and_writes_nothing(client, staff, lcms):
    ann, ben, cy = lcms
    heavy = patient("Hank")
    light = patient("Lena", acuity=AcuityLevel.LOW, ilcm=ben)
    done = patient("Dana", olcm=ann, ilcm=cy)
    gone = patient("Gus", status=MemberRecordStatus.TERMINATED)
    expected = planned([heavy, light, done, gone])
    history_before = LcmAssignmentHistory.objects.count()

    page = preview(client, [heavy, light, done, gone])

    assert page.status_code == 200
    assert shown_moves(page) == expected
    assert {(move[0], move[1]) for move in expected} == {
        (heavy.pk, "olcm"),
        (heavy.pk, "ilcm"),
        (light.pk, "olcm"),
    }
    rows = page.context["moves"]
    assert [(str(row["patient"]), row["role"], row["from"], row["to"]) for row in rows] == [
        ("Hank Doe", "oLCM", None, "Ben Lcm"),
        ("Hank Doe", "iLCM", None, "Cy Lcm"),  # not Ben again: distinct roles
        ("Lena Doe", "oLCM", None, "Cy Lcm"),  # not Ben, her iLCM
    ]
    assert rows[0]["why"] == "least utilized accepting oLCM (0.10 → 0.40)"
    assert page.context["nothing_to_do"] == 2
    assert page.context["unplaced"] == []
    # Before and after, for the LCMs whose load changes (Ann's does not).
    assert [
        (
            row["name"],
            row["moves"],
            row["load_before"],
            row["load_after"],
            row["before"]["value"],
            row["after"]["value"],
        )
        for row in page.context["lcms"]
    ] == [("Ben Lcm", 1, 1, 4, 0.1, 0.4), ("Cy Lcm", 2, 3, 7, 0.3, 0.7)]
    html = page.content.decode()
    assert 'id="plan-moves"' in html and 'name="confirm"' in html
    assert "Confirm: write these 3 moves" in html
    # Nothing written.
    assert LcmAssignmentHistory.objects.count() == history_before
    assert (team(heavy), team(light)) == ((None, None), (None, ben.pk))


def test_preview_again_with_one_role(client, staff, lcms):
    heavy, light = patient("Hank"), patient("Lena", acuity=AcuityLevel.LOW)
    page = preview(client, [heavy, light])
    again = preview_again(client, page, "ilcm")
    assert again.status_code == 200
    assert shown_moves(again) == planned([heavy, light], roles=["ilcm"])
    assert {move[1] for move in shown_moves(again)} == {"ilcm"}
    assert not LcmAssignmentHistory.objects.filter(patient__in=[heavy, light]).exists()


def test_no_room_anywhere_is_shown_as_not_placed_with_nothing_to_confirm(client, staff, lcms):
    LeadCareManagerProfile.objects.update(accepting_patients=False)
    hank = patient("Hank")
    page = preview(client, [hank])
    assert [(row["role"], row["errors"]) for row in page.context["unplaced"]] == [
        ("oLCM", ("No accepting Lead Care Manager has capacity",)),
        ("iLCM", ("No accepting Lead Care Manager has capacity",)),
    ]
    html = page.content.decode()
    assert 'id="plan-unplaced"' in html
    assert 'name="confirm"' not in html


# --- confirming ----------------------------------------------------------------------------


def test_confirm_writes_the_moves_shown_with_the_reason(client, staff, lcms):
    heavy, light = patient("Hank"), patient("Lena", acuity=AcuityLevel.LOW)
    page = preview(client, [heavy, light])
    moves = shown_moves(page)
    # Capacities change after the preview: a plan made now would differ; the one shown is
    # written all the same.
    LeadCareManagerProfile.objects.filter(user_id=moves[0][3]).update(accepting_patients=False)
    assert planned([heavy, light]) != moves

    response = client.post(CHANGELIST, confirm_data(page, reason="Weekly fill"), follow=True)

    assert messages_of(response) == ["Auto-assigned 4 moves for 2 patients."]
    assert response.redirect_chain[-1][0].startswith(CHANGELIST)
    written = {
        (p.pk, role): holder
        for p in (heavy, light)
        for role, holder in zip(("olcm", "ilcm"), team(p), strict=True)
        if holder is not None
    }
    assert written == {(pk, role): to for pk, role, _, to in moves}
    history = LcmAssignmentHistory.objects.filter(patient__in=[heavy, light])
    assert sorted((h.patient_id, h.role, h.previous_user_id, h.new_user_id) for h in history) == (
        sorted(moves)
    )
    assert {(h.reason, h.acted_by_id) for h in history} == {("Weekly fill", staff.pk)}
    assert Activity.objects.filter(patient__in=[heavy, light]).count() == 4


def test_a_patient_changed_since_the_preview_is_skipped_and_reported(client, staff, lcms):
    cy = lcms[2]
    hank, lena = patient("Hank"), patient("Lena", acuity=AcuityLevel.LOW)
    page = preview(client, [hank, lena])
    moves = shown_moves(page)
    care_team_assign(patient_id=hank.pk, olcm_user_id=cy.pk, actor=None, reason="By hand")

    response = client.post(CHANGELIST, confirm_data(page, reason="Fill"), follow=True)

    assert messages_of(response) == [
        "Auto-assigned 2 moves for 1 patient.",
        f"Skipped 1 patient: Hank Doe ({CARE_TEAM_CHANGED}).",
    ]
    assert team(hank) == (cy.pk, None)  # the change made by hand stands
    assert team(lena) == tuple(to for pk, _, _, to in moves if pk == lena.pk)


def test_many_skipped_patients_are_counted_past_the_first_named(client, staff, lcms, monkeypatch):
    monkeypatch.setattr(admin_planning, "SKIPPED_NAMED", 1)
    cy = lcms[2]
    hank, lena = patient("Hank"), patient("Lena")
    page = preview(client, [hank, lena])
    for changed in (hank, lena):
        care_team_assign(patient_id=changed.pk, olcm_user_id=cy.pk, actor=None)
    response = client.post(CHANGELIST, confirm_data(page), follow=True)
    assert messages_of(response) == [
        f"Skipped 2 patients: Hank Doe ({CARE_TEAM_CHANGED}); and 1 more patient."
    ]


def test_the_other_role_taken_by_the_planned_lcm_meanwhile_is_skipped(client, staff, lcms):
    """The plan gives Lena's oLCM to someone; meanwhile that person becomes her iLCM: the move
    would make one person both, which a plan never does."""
    hank = patient("Hank", acuity=AcuityLevel.LOW)
    page = preview_again(client, preview(client, [hank]), "olcm")
    ((_, _, _, chosen),) = shown_moves(page)
    care_team_assign(patient_id=hank.pk, ilcm_user_id=chosen, actor=None)

    response = client.post(CHANGELIST, confirm_data(page), follow=True)

    assert messages_of(response) == [f"Skipped 1 patient: Hank Doe ({CARE_TEAM_CHANGED})."]
    assert team(hank) == (None, chosen)


def test_a_tampered_preview_writes_nothing(client, staff, lcms):
    hank = patient("Hank")
    page = preview(client, [hank])
    forged = confirm_data(page)
    forged["plan"] = forged["plan"][:-2] + ("AA" if not forged["plan"].endswith("AA") else "BB")
    response = client.post(CHANGELIST, forged)
    assert response.status_code == 200  # the preview again, as it stands now
    assert messages_of(response) == [
        "The preview could not be read: nothing was written. Here is the plan as it stands "
        "now; confirm it to apply it."
    ]
    assert not LcmAssignmentHistory.objects.filter(patient=hank).exists()


def test_an_old_preview_writes_nothing(client, staff, lcms):
    hank = patient("Hank")
    page = preview(client, [hank])
    later = time.time() + admin_planning.PREVIEW_MAX_AGE + 60
    with mock.patch("django.core.signing.time.time", return_value=later):
        response = client.post(CHANGELIST, confirm_data(page))
    assert response.status_code == 200
    assert messages_of(response)[0].startswith("The preview was more than an hour old")
    assert not LcmAssignmentHistory.objects.filter(patient=hank).exists()


def test_roles_changed_without_a_new_preview_write_nothing(client, staff, lcms):
    hank = patient("Hank")
    page = preview(client, [hank])
    response = client.post(CHANGELIST, confirm_data(page, role="olcm"))
    assert response.status_code == 200
    assert messages_of(response)[0].startswith("The roles were changed after the preview")
    assert {move[1] for move in shown_moves(response)} == {"olcm"}
    assert not LcmAssignmentHistory.objects.filter(patient=hank).exists()


def test_a_reason_too_long_is_refused_on_the_page(client, staff, lcms):
    hank = patient("Hank")
    page = preview(client, [hank])
    response = client.post(CHANGELIST, confirm_data(page, reason="x" * 1001))
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert 'name="confirm"' in response.content.decode()
    assert not LcmAssignmentHistory.objects.filter(patient=hank).exists()


# --- "select all" and the limit ------------------------------------------------------------


def test_select_all_across_pages_plans_every_listed_patient(client, staff, lcms):
    waiting = [patient(f"Wait{n}", acuity=AcuityLevel.LOW) for n in range(4)]
    patient("Other", acuity=AcuityLevel.LOW)  # not listed by the search
    url = f"{CHANGELIST}?q=Wait"
    data = {
        "action": ACTION,
        "select_across": "1",
        "index": "0",
        helpers.ACTION_CHECKBOX_NAME: [str(waiting[0].pk)],
    }
    page = client.post(url, data)
    assert page.status_code == 200
    assert page.context["selected"] == 4
    assert {move[0] for move in shown_moves(page)} == {p.pk for p in waiting}

    response = client.post(url, confirm_data(page, reason="All of them"), follow=True)
    assert messages_of(response) == ["Auto-assigned 8 moves for 4 patients."]
    assert all(None not in team(p) for p in waiting)


def test_more_patients_than_the_limit_are_refused_with_a_message(client, staff, lcms, monkeypatch):
    monkeypatch.setattr(admin_planning, "MAX_PLAN_PATIENTS", 3)
    for n in range(4):
        patient(f"Wait{n}")
    data = {
        "action": ACTION,
        "select_across": "1",
        "index": "0",
        helpers.ACTION_CHECKBOX_NAME: ["1"],
    }
    response = client.post(f"{CHANGELIST}?q=Wait", data, follow=True)
    assert messages_of(response) == [
        "Auto-assign plans at most 3 patients at a time; 4 are selected. Narrow the list with "
        "the filters or the search (e.g. missing an oLCM) and try again."
    ]
    assert not LcmAssignmentHistory.objects.filter(patient__first_name__startswith="Wait").exists()


# --- queries and access --------------------------------------------------------------------


def test_preview_and_confirm_run_a_fixed_number_of_queries(
    client, staff, lcms, django_assert_num_queries
):
    LeadCareManagerProfile.objects.update(capacity=1000)
    few = [patient(f"Few{n}") for n in range(3)]
    # 60 moves: SQLite splits larger bulk statements (999 parameters each).
    many = [patient(f"Many{n}") for n in range(30)]

    with CaptureQueriesContext(connection) as queries:
        page = preview(client, few)
    preview_queries = len(queries)
    with CaptureQueriesContext(connection) as queries:
        client.post(CHANGELIST, confirm_data(page))
    confirm_queries = len(queries)
    assert len(shown_moves(page)) == 6
    client.get(CHANGELIST)  # shows (and so clears) the confirmation's message

    with django_assert_num_queries(preview_queries):
        page = preview(client, many)
    assert len(shown_moves(page)) == 60
    with django_assert_num_queries(confirm_queries):
        client.post(CHANGELIST, confirm_data(page))
    assert all(None not in team(p) for p in many)


@pytest.mark.parametrize("roles", ["", "ecm"])
def test_staff_without_the_admin_role_cannot_preview_or_confirm(client, staff, lcms, roles):
    hank = patient("Hank")
    page = preview(client, [hank])
    data = confirm_data(page)
    client.logout()
    sign_in(client, roles=roles, email="other.staff@example.org")
    assert preview(client, [hank]).status_code == 403
    assert client.post(CHANGELIST, data).status_code == 403
    assert not LcmAssignmentHistory.objects.filter(patient=hank).exists()
