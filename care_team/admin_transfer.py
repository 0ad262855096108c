"""Django admin: "Transfer caseload", a page of a Lead Care Manager's user.

The user change page of an active LCM links to it (``TransferCaseloadMixin``, on the user
admin), and so does each row of the Workload page (``care_team.admin_workload``). The page
asks for the role(s), a receiving LCM or a spread, and a reason; it shows the plan
``care_team.planning.transfer`` makes (the one ``POST /lead_care_managers/{id}/transfer``
makes: moves with why, unplaced patients, each LCM's load and utilization before and after)
and writes nothing until the plan is confirmed. Confirmed, exactly the plan shown is applied
(it travels signed in the form) through ``plans.apply_plan``, the care-team write core: a
patient whose care team changed since the preview is skipped and reported, as everywhere.

Access follows the roles (``accounts.backends``): whoever may change case loads (staff with
the ``admin`` role, superusers) may open the page. Every preview and application writes an
access event, as the admin's pages of patient data do.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.models import User
from audit.models import Action, Source
from audit.services import normalise_ids, request_event_record
from care_team.choices import CareTeamRole
from care_team.models import CaseLoad
from care_team.planning import plans, transfer
from care_team.planning.inputs import MAX_PLAN_PATIENTS
from care_team.planning.planner import ILCM, OLCM, Move, Plan, utilization_value
from care_team.selectors import active_lcms
from care_team.services import MAX_REASON_LENGTH
from ecm_admin.admin_site import SERVICE_ERRORS, service_error_sentences
from patients.models import EcmEligibilityInformation

PERMISSION = "care_team.change_caseload"
URL_NAME = "accounts_user_transfer_caseload"
TEMPLATE = "admin/care_team/transfer_caseload.html"
SIGNING_SALT = "care_team.admin_transfer.plan"
# A preview older than this is not applied (preview again).
PREVIEW_MAX_AGE = 60 * 60
ROLE_CHOICES = [("both", "oLCM and iLCM"), (OLCM, "oLCM"), (ILCM, "iLCM")]
NONE = "\N{EN DASH}"
EXPIRED = "This preview has expired or was altered: preview the transfer again."


def transfer_caseload_url(user_id: int) -> str:
    """The address of the page for this LCM (for links from other admin pages)."""
    return reverse(f"admin:{URL_NAME}", args=[user_id])


def may_transfer(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm(PERMISSION)


class LcmChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj} <{obj.email}>"


class TransferCaseloadForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="both", widget=forms.RadioSelect)
    to = LcmChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="To",
        empty_label="Spread over the accepting Lead Care Managers",
        help_text="Spread: each patient to the accepting LCM least utilized after the move, "
        "never past capacity. One LCM: every patient to them, whatever their capacity.",
    )
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: kept in the assignment history and each patient's activity log.",
    )

    def __init__(self, *args, source: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].queryset = (
            active_lcms().exclude(pk=source.pk).order_by("first_name", "last_name", "id")
        )

    def roles(self) -> list[str]:
        role = self.cleaned_data["role"]
        return [OLCM, ILCM] if role == "both" else [role]


class TransferCaseloadMixin:
    """For the user admin: the page's address, and its link on an active LCM's page."""

    change_form_template = "admin/care_team/user_change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.transfer_caseload_view)
        own = [path("<path:object_id>/transfer_caseload/", view, name=URL_NAME)]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        if (
            str(object_id).isdigit()
            and may_transfer(request.user)
            and active_lcms().filter(pk=object_id).exists()
        ):
            extra["transfer_caseload_url"] = transfer_caseload_url(int(object_id))
        return super().change_view(request, object_id, form_url, extra)

    def transfer_caseload_view(self, request, object_id: str):
        return transfer_caseload_view(self.admin_site, request, object_id)


# --- the page --------------------------------------------------------------------------------


def transfer_caseload_view(admin_site, request, object_id: str):
    if not may_transfer(request.user):
        raise PermissionDenied
    source = active_lcms().filter(pk=object_id).first() if str(object_id).isdigit() else None
    if source is None:
        raise Http404("No active Lead Care Manager with that id")
    if request.method == "POST" and "apply" in request.POST:
        return _apply(request, source)
    form = TransferCaseloadForm(request.POST or None, source=source)
    context = {
        **admin_site.each_context(request),
        "title": f"Transfer the caseload of {source}",
        "source": source,
        "form": form,
        "held": {role: _held(source, role) for role in (OLCM, ILCM)},
        "opts": CaseLoad._meta,
        "media": form.media,
    }
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["to"]
        try:
            plan = transfer.plan_transfer(
                source=source.pk,
                roles=form.roles(),
                target=target.pk if target is not None else None,
                limit=MAX_PLAN_PATIENTS,
            )
        except SERVICE_ERRORS as exc:
            for sentence in service_error_sentences(exc):
                form.add_error(None, sentence)
        else:
            context.update(_preview(plan, source=source, reason=form.cleaned_data["reason"]))
            _audit(request, Action.READ_LIST, 200, _patient_ids(plan))
    return TemplateResponse(request, TEMPLATE, context)


def _apply(request, source: User):
    """Apply the plan the preview showed (signed in the form), as it was shown."""
    page = transfer_caseload_url(source.pk)
    try:
        signed = request.POST.get("plan", "")
        shown = signing.loads(signed, salt=SIGNING_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.BadSignature:
        messages.error(request, EXPIRED)
        return HttpResponseRedirect(page)
    if shown.get("source") != source.pk:
        messages.error(request, EXPIRED)
        return HttpResponseRedirect(page)
    plan = Plan(moves=[Move(*move, why="") for move in shown["moves"]])
    items, result = plans.apply_plan(plan, actor=request.user, reason=shown["reason"])
    outcomes = list(zip(items, result.errors, strict=True))
    done = [item.patient_id for item, errors in outcomes if not errors]
    _audit(request, Action.BULK_ASSIGN, 302, done)
    moved = sum(1 for move in plan.moves if move.patient_id in set(done))
    message = f"Transferred {len(done)} patient{'' if len(done) == 1 else 's'} ({moved} moves)"
    skipped: dict[str, list[str]] = {}
    for item, errors in outcomes:
        for error in errors:
            skipped.setdefault(error, []).append(str(item.patient_id))
    if skipped:
        reasons = "; ".join(
            f"{len(ids)} skipped ({error}): patient {', '.join(ids)}"
            for error, ids in skipped.items()
        )
        messages.warning(request, f"{message}; {reasons}.")
    else:
        messages.success(request, f"{message}.")
    return HttpResponseRedirect(page)


def _preview(plan: Plan, *, source: User, reason: str) -> dict:
    """What the page shows of a plan, and the plan signed for its application."""
    rows = {row.id: row for row in plans.lead_care_manager_rows()}
    ids = _patient_ids(plan)
    patients = {
        row["patient_id"]: row
        for row in EcmEligibilityInformation.objects.filter(patient_id__in=ids).values(
            "patient_id", "member_id", "patient__first_name", "patient__last_name"
        )
    }

    def patient(pk: int) -> str:
        row = patients.get(pk)
        if row is None:
            return f"#{pk}"
        name = f"{row['patient__first_name']} {row['patient__last_name']}".strip()
        return f"{name} ({row['member_id']})"

    def lcm(pk: int | None) -> str:
        return NONE if pk is None else (rows[pk].name if pk in rows else f"#{pk}")

    before = {pk: (load, utilization) for pk, load, utilization in plan.before.loads}
    after = {pk: (load, utilization) for pk, load, utilization in plan.after.loads}
    changed = [pk for pk in after if after[pk][0] != before.get(pk, (None,))[0]]
    if source.pk not in changed:
        changed.insert(0, source.pk)
    signed = signing.dumps(
        {
            "source": source.pk,
            "reason": reason,
            "moves": [
                [m.patient_id, m.role, m.from_user_id, m.to_user_id, m.weight] for m in plan.moves
            ],
        },
        salt=SIGNING_SALT,
        compress=True,
    )
    return {
        "plan": plan,
        "signed_plan": signed,
        "reason": reason,
        "moves": [
            {
                "patient": patient(m.patient_id),
                "role": CareTeamRole(m.role).label,
                "from": lcm(m.from_user_id),
                "to": lcm(m.to_user_id),
                "weight": m.weight,
                "why": m.why,
            }
            for m in plan.moves
        ],
        "unplaced": [
            {
                "patient": patient(u.patient_id),
                "role": CareTeamRole(u.role).label,
                "errors": u.errors,
            }
            for u in plan.unplaced
        ],
        "loads": [
            {
                "name": lcm(pk),
                "before_load": before.get(pk, (0, None))[0],
                "before": _percent(before.get(pk, (0, None))[1]),
                "after_load": after[pk][0],
                "after": _percent(after[pk][1]),
            }
            for pk in changed
            if pk in after
        ],
        "spread_before": _percent(plan.before.spread),
        "spread_after": _percent(plan.after.spread),
    }


def _held(source: User, role: str) -> int:
    """How many ECM patients ``source`` holds in ``role``."""
    ecm = {"patient__ecm_eligibility_information__isnull": False}
    return CaseLoad.objects.filter(**{role: source}, **ecm).count()


def _percent(value) -> str:
    shown = utilization_value(value)
    return NONE if shown is None else f"{shown:.2f}"


def _patient_ids(plan: Plan) -> list[int]:
    ids = dict.fromkeys(move.patient_id for move in plan.moves)
    ids.update(dict.fromkeys(item.patient_id for item in plan.unplaced))
    return list(ids)


def _audit(request, action: str, status_code: int, patient_ids: list[int]) -> None:
    request_event_record(
        request,
        source=Source.ADMIN,
        action=action,
        status_code=status_code,
        patient_ids=normalise_ids(patient_ids),
        user_id=request.user.pk,
    )
