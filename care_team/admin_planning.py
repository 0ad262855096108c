"""The patient list's "Auto-assign oLCM / iLCM" action: a fill planned, shown, then applied.

The selected patients (at most ``MAX_PLAN_PATIENTS``, "select all" included) are planned by
the one planner (``plans.plan_auto_assign``, fill mode, the selection as its filter) and shown
on a confirmation page: the moves (patient, role, from, to, why), the patients that could not
be placed, and every Lead Care Manager whose load changes, before and after. Nothing is written
until "Confirm".

The plan shown is the plan written: the page carries its moves, signed (``django.core.signing``,
so they cannot be altered and expire after ``PREVIEW_MAX_AGE``), and "Confirm" applies exactly
those through ``plans.apply_plan``, each with the care team it was planned from as
precondition. A patient whose care team changed since the preview is skipped and reported;
the other moves are written as shown (history with the reason, activity, audit).
"""

from __future__ import annotations

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core import signing
from django.template.response import TemplateResponse

from accounts.models import User
from care_team.admin_workload import utilization_bar
from care_team.planning import plans
from care_team.planning.inputs import DEFAULT_TOLERANCE, MAX_PLAN_PATIENTS
from care_team.planning.planner import ILCM, OLCM, ROLE_LABELS, Move, Plan, utilization_value
from care_team.services import MAX_REASON_LENGTH
from ecm_admin.admin_site import related_or_none
from patients.models import Patient
from patients.selectors import ecm_patients

ROLE_CHOICES = (("both", "oLCM and iLCM"), (OLCM, "oLCM"), (ILCM, "iLCM"))
PREVIEW_MAX_AGE = 60 * 60  # seconds a preview may be confirmed in
SKIPPED_NAMED = 20  # skipped patients named in the message; the others are counted
SALT = "care_team.admin_planning.auto_assign"
TOO_MANY = (
    "Auto-assign plans at most {limit:,} patients at a time; {count:,} are selected. Narrow "
    "the list with the filters or the search (e.g. missing an oLCM) and try again."
)


class AutoAssignForm(forms.Form):
    role = forms.ChoiceField(
        choices=ROLE_CHOICES,
        initial="both",
        help_text="The roles to fill; a patient keeps a role it already has.",
    )
    reason = forms.CharField(
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept in the assignment history and the patients' activity logs.",
    )
    plan = forms.CharField(widget=forms.HiddenInput, required=False)


def _roles(role: str) -> list[str]:
    return [OLCM, ILCM] if role == "both" else [role]


# --- the plan carried by the confirmation page ----------------------------------------------


def sign_plan(role: str, plan: Plan) -> str:
    moves = [[m.patient_id, m.role, m.from_user_id, m.to_user_id] for m in plan.moves]
    return signing.dumps(
        {"role": role, "moves": moves, "unplaced": len(plan.unplaced)}, salt=SALT, compress=True
    )


def unsign_plan(value: str) -> tuple[str, Plan, int]:
    """The role, the plan (moves only) and the unplaced count a preview signed; raises
    ``signing.BadSignature`` (``SignatureExpired`` past ``PREVIEW_MAX_AGE``)."""
    data = signing.loads(value, salt=SALT, max_age=PREVIEW_MAX_AGE)
    moves = [
        Move(patient_id, role, from_user_id, to_user_id, weight=0, why="")
        for patient_id, role, from_user_id, to_user_id in data["moves"]
    ]
    return data["role"], Plan(moves=moves), data["unplaced"]


# --- the confirmation page -------------------------------------------------------------------


def _patients(ids) -> dict[int, dict]:
    """Name and member ID of each patient (one query)."""
    rows = (
        Patient.objects.filter(pk__any_of=list(ids))
        .select_related("ecm_eligibility_information")
        .only("id", "first_name", "last_name", "ecm_eligibility_information__member_id")
    )
    out = {}
    for patient in rows:
        eligibility = related_or_none(patient, "ecm_eligibility_information")
        out[patient.pk] = {
            "patient": patient,
            "member_id": eligibility.member_id if eligibility else "",
        }
    return out


def _users(ids) -> dict[int, str]:
    rows = User.objects.filter(pk__any_of=list(ids)).only("id", "first_name", "last_name", "email")
    return {user.pk: user.name or user.email for user in rows}


def preview_context(plan: Plan, *, selected: int) -> dict:
    """What the confirmation page shows of ``plan`` (two queries: the patients' names and
    member IDs, the LCMs' names)."""
    before = {lcm_id: (load, utilization) for lcm_id, load, utilization in plan.before.loads}
    after = {lcm_id: (load, utilization) for lcm_id, load, utilization in plan.after.loads}
    changed = [lcm_id for lcm_id in after if after[lcm_id][0] != before[lcm_id][0]]
    patients = _patients({m.patient_id for m in plan.moves} | {u.patient_id for u in plan.unplaced})
    users = _users(
        {m.to_user_id for m in plan.moves}
        | {m.from_user_id for m in plan.moves if m.from_user_id is not None}
        | set(changed)
    )
    moves = [
        {
            **patients[m.patient_id],
            "role": ROLE_LABELS[m.role],
            "from": users.get(m.from_user_id) if m.from_user_id is not None else None,
            "to": users[m.to_user_id],
            "why": m.why,
        }
        for m in plan.moves
    ]
    unplaced = [
        {**patients[u.patient_id], "role": ROLE_LABELS[u.role], "errors": u.errors}
        for u in plan.unplaced
    ]
    received = Counter(m.to_user_id for m in plan.moves)
    lcms = sorted(
        (
            {
                "name": users[lcm_id],
                "moves": received[lcm_id],
                "load_before": before[lcm_id][0],
                "load_after": after[lcm_id][0],
                "before": utilization_bar(before[lcm_id][1]),
                "after": utilization_bar(after[lcm_id][1]),
            }
            for lcm_id in changed
        ),
        key=lambda row: (row["name"].lower(), row["name"]),
    )
    planned = len({m.patient_id for m in plan.moves} | {u.patient_id for u in plan.unplaced})
    return {
        "moves": moves,
        "unplaced": unplaced,
        "lcms": lcms,
        "lcm_count": len(after),
        "spread_before": utilization_value(plan.before.spread),
        "spread_after": utilization_value(plan.after.spread),
        "patients_moved": len({m.patient_id for m in plan.moves}),
        "nothing_to_do": selected - planned,
        "selected": selected,
    }


# --- the action ------------------------------------------------------------------------------


def _apply(modeladmin, request, plan: Plan, *, reason: str, unplaced: int) -> None:
    """Write ``plan`` and say what happened: what was written, what was skipped and why."""
    items, result = plans.apply_plan(plan, actor=request.user, reason=reason)
    moves_per_patient = Counter(m.patient_id for m in plan.moves)
    written = [item for item, errors in zip(items, result.errors, strict=True) if not errors]
    failed = [
        (item.patient_id, errors)
        for item, errors in zip(items, result.errors, strict=True)
        if errors
    ]
    if written or not failed:
        moves = sum(moves_per_patient[item.patient_id] for item in written)
        summary = f"Auto-assigned {_count(moves, 'move')} for {_count(len(written), 'patient')}."
        if unplaced:
            summary += f" {_count(unplaced, 'role')} could not be placed (see the preview)."
        modeladmin.message_user(request, summary, messages.SUCCESS)
    if failed:
        shown = failed[:SKIPPED_NAMED]
        names = _patients(patient_id for patient_id, _ in shown)
        skipped = "; ".join(
            f"{names[patient_id]['patient'] if patient_id in names else patient_id} "
            f"({' '.join(errors)})"
            for patient_id, errors in shown
        )
        if len(failed) > len(shown):
            skipped += f"; and {_count(len(failed) - len(shown), 'more patient')}"
        modeladmin.message_user(
            request,
            f"Skipped {_count(len(failed), 'patient')}: {skipped}.",
            messages.WARNING,
        )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


@admin.action(
    description="Auto-assign oLCM / iLCM to the selected patients (preview first)",
    permissions=["change"],
)
def assign_lcms_automatically(modeladmin, request, queryset):
    """Plan a fill of the selected patients, show it, apply it on "Confirm"."""
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_PLAN_PATIENTS + 1])
    if len(ids) > MAX_PLAN_PATIENTS:
        count = queryset.count()
        modeladmin.message_user(
            request, TOO_MANY.format(limit=MAX_PLAN_PATIENTS, count=count), messages.ERROR
        )
        return None

    stepping = "confirm" in request.POST or "preview" in request.POST
    form = AutoAssignForm(request.POST if stepping else None)
    valid = form.is_bound and form.is_valid()
    if valid and "confirm" in request.POST:
        applied = _confirm(modeladmin, request, form.cleaned_data)
        if applied:
            return None
    role = form.data.get("role") if form.is_bound else "both"
    if role not in dict(ROLE_CHOICES):
        role = "both"

    plan = plans.plan_auto_assign(
        roles=_roles(role),
        mode="fill",
        patients=ecm_patients().filter(pk__any_of=ids),
        receivers=None,
        max_moves=0,  # a fill moves no one from an LCM
        tolerance=DEFAULT_TOLERANCE,
        limit=MAX_PLAN_PATIENTS,
    )
    # The page shows this plan: its fields carry this plan, and the reason typed so far (with
    # its error, if it had one).
    fields = {"role": role, "reason": form.data.get("reason", ""), "plan": sign_plan(role, plan)}
    if form.is_bound and not valid:
        form = AutoAssignForm(fields)
        form.is_valid()
    else:
        form = AutoAssignForm(initial=fields)
    context = {
        **modeladmin.admin_site.each_context(request),
        **preview_context(plan, selected=len(ids)),
        "title": "Auto-assign oLCM / iLCM",
        "roles_label": dict(ROLE_CHOICES)[role],
        "form": form,
        "opts": modeladmin.model._meta,
        "action": request.POST["action"],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        # The selection is posted back as the list posted it (at most a page of ids, or
        # "select all" with the list's filters in the address), so that "Confirm" reaches
        # this action again.
        "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/care_team/auto_assign.html", context)


def _confirm(modeladmin, request, data: dict) -> bool:
    """Apply the plan the page showed; ``False`` (with a message saying why) when it cannot
    be, so that the page shows the plan as it stands now."""
    try:
        shown_role, plan, unplaced = unsign_plan(data["plan"])
    except signing.SignatureExpired:
        problem = "The preview was more than an hour old"
    except signing.BadSignature:
        problem = "The preview could not be read"
    else:
        if shown_role == data["role"]:
            _apply(modeladmin, request, plan, reason=data["reason"], unplaced=unplaced)
            return True
        problem = "The roles were changed after the preview"
    modeladmin.message_user(
        request,
        f"{problem}: nothing was written. Here is the plan as it stands now; confirm it to "
        "apply it.",
        messages.WARNING,
    )
    return False
