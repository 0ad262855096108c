"""Django admin for care teams. Every change goes through ``care_team.services``.

So an LCM change made here records the same assignment history and activity as the API,
the bulk route and the CSV command.
"""

from dataclasses import dataclass, field

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse

from accounts.choices import RoleName
from accounts.models import User
from audit.admin_audit import AuditedModelAdmin
from care_team.admin_workload import LeadCareManagerWorkloadAdmin
from care_team.choices import LCM_ROLES, CareTeamRole
from care_team.models import CaseLoad, LcmAssignmentHistory, LeadCareManagerWorkload
from care_team.selectors import active_lcms
from care_team.services import MAX_REASON_LENGTH, care_team_assign, care_team_unassign
from ecm_admin.admin_site import (
    SERVICE_ERRORS,
    ReadOnlyAdminMixin,
    ServiceErrorsMixin,
    adopt,
    related_or_none,
    service_error_sentences,
    user_name,
)

# The case-load fields a form may change, and the role a user needs to fill each.
CARE_TEAM_ROLES = {"provider": RoleName.PROVIDER, "olcm": RoleName.ECM, "ilcm": RoleName.ECM}
# History inlines on the patient page show the newest rows only; the full log has its own admin.
INLINE_MAX_ROWS = 50


def assignable_users(role: str, *, keep: int | None = None) -> QuerySet[User]:
    """Active users holding ``role``, plus ``keep`` (the user assigned now, whatever they are)."""
    return User.objects.with_role(role).filter(is_active=True) | User.objects.filter(pk=keep)


# --- the case load form (patient page inline and case load admin) --------------------------


class CaseLoadForm(forms.ModelForm):
    """Provider, oLCM and iLCM of one patient. Saving calls the care-team services."""

    reason = forms.CharField(
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the assignment history and the patient's activity log.",
    )

    class Meta:
        model = CaseLoad
        fields = ("patient", "provider", "olcm", "ilcm")
        labels = {"olcm": "oLCM", "ilcm": "iLCM"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, role in CARE_TEAM_ROLES.items():
            if name in self.fields:
                current = getattr(self.instance, f"{name}_id")
                self.fields[name].queryset = assignable_users(role, keep=current)

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider")
        has_lcm = cleaned.get("olcm") is not None or cleaned.get("ilcm") is not None
        if "provider" in self.changed_data:
            if provider is None:
                self.add_error("provider", "The primary provider can't be removed, only replaced.")
            elif not has_lcm:
                self.add_error("provider", "Assign an oLCM or an iLCM with the provider.")
        if self.instance.pk is None and not has_lcm:
            raise forms.ValidationError("Assign an oLCM or an iLCM.")
        return cleaned


def apply_case_load_form(form: CaseLoadForm, *, patient_id: int, actor: User) -> None:
    """Apply what changed in ``form`` through the services (one call per kind of change)."""
    changed = [name for name in CARE_TEAM_ROLES if name in form.changed_data]
    data = form.cleaned_data
    reason = data.get("reason", "")
    assigned = {name: data[name].pk for name in changed if data[name] is not None}
    if assigned:
        if not assigned.keys() & set(LCM_ROLES):
            # Every assignment names an LCM; passing the one kept is a no-op for that role.
            kept = next((role for role in LCM_ROLES if data[role] is not None), None)
            if kept is not None:
                assigned[kept] = data[kept].pk
        care_team_assign(
            patient_id=patient_id,
            olcm_user_id=assigned.get("olcm"),
            ilcm_user_id=assigned.get("ilcm"),
            provider_id=assigned.get("provider"),
            actor=actor,
            reason=reason,
        )
    for role in LCM_ROLES:
        if role in changed and data[role] is None:
            care_team_unassign(patient_id=patient_id, role=role, actor=actor, reason=reason)


def save_case_load_formset(formset, *, actor: User) -> None:
    """The patient page's case load inline: the services write, never the formset."""
    formset.save(commit=False)  # fills the formset's change lists for the admin's log only
    for form in formset.forms:
        if form.has_changed():
            apply_case_load_form(form, patient_id=formset.instance.pk, actor=actor)


class CareTeamWidgetsMixin:
    """User pickers for the care team, without the shortcuts to add, edit or delete a user."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in CARE_TEAM_ROLES:
            widget = formfield.widget
            widget.can_add_related = widget.can_change_related = widget.can_delete_related = False
        return formfield


class CaseLoadInline(CareTeamWidgetsMixin, admin.StackedInline):
    model = CaseLoad
    form = CaseLoadForm
    fields = (
        ("provider", "provider_assigned_at"),
        ("olcm", "olcm_assigned_at"),
        ("ilcm", "ilcm_assigned_at"),
        "reason",
    )
    readonly_fields = ("provider_assigned_at", "olcm_assigned_at", "ilcm_assigned_at")
    autocomplete_fields = ("provider", "olcm", "ilcm")
    extra = 1
    can_delete = False
    verbose_name = verbose_name_plural = "care team"


# --- read-only history ----------------------------------------------------------------------


class NewestRowsFormSet(BaseInlineFormSet):
    """Only the first ``INLINE_MAX_ROWS`` rows in the model's (newest first) order."""

    def get_queryset(self):
        if not hasattr(self, "_newest"):
            self._newest = super().get_queryset()[:INLINE_MAX_ROWS]
        return self._newest


class HistoryInline(ReadOnlyAdminMixin, admin.TabularInline):
    """An append-only log on the patient page: newest first, never edited."""

    formset = NewestRowsFormSet
    extra = 0
    related: tuple[str, ...] = ()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.related)


# Read-only pages show the users of a history entry by name (see ``user_name``).
PREVIOUS_USER = user_name("previous_user", "previous user")
NEW_USER = user_name("new_user", "new user")
ACTED_BY = user_name("acted_by", "acted by")


class LcmAssignmentHistoryInline(HistoryInline):
    model = LcmAssignmentHistory
    fk_name = "patient"
    fields = ("created_at", "role", PREVIOUS_USER, NEW_USER, "acted_by_name", "reason")
    readonly_fields = (PREVIOUS_USER, NEW_USER)
    related = ("previous_user", "new_user")
    verbose_name_plural = f"LCM assignment history (newest {INLINE_MAX_ROWS})"


# --- patient changelist actions -------------------------------------------------------------


class AssignLcmForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, role: str, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        model_field = CaseLoad._meta.get_field(role)
        self.fields["user"] = forms.ModelChoiceField(
            queryset=active_lcms(),
            label=f"Lead Care Manager ({model_field.verbose_name})",
            widget=AutocompleteSelect(model_field, admin_site),
        )
        self.order_fields(["user", "reason"])


class RemoveLcmForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


@dataclass
class Outcome:
    """What a bulk action did, as one message for the staff user."""

    done: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, patient, exc: Exception) -> None:
        self.failures.append(f"{patient} ({' '.join(service_error_sentences(exc))})")

    @property
    def level(self) -> int:
        if not self.failures:
            return messages.SUCCESS
        return messages.WARNING if self.done else messages.ERROR

    def summary(self, did: str) -> str:
        parts = [f"{did} {_patients(self.done)}"]
        if self.skipped:
            parts.append(f"{_patients(self.skipped)} had none")
        if self.failures:
            parts.append(f"{len(self.failures)} failed: {', '.join(self.failures)}")
        return "; ".join(parts) + "."


def _patients(count: int) -> str:
    return f"{count} patient{'' if count == 1 else 's'}"


def _assign_each(patients, *, role: str, user: User, reason: str, actor: User) -> Outcome:
    outcome = Outcome()
    for patient in patients:
        try:
            care_team_assign(
                patient_id=patient.pk, **{f"{role}_user_id": user.pk}, actor=actor, reason=reason
            )
        except SERVICE_ERRORS as exc:
            outcome.fail(patient, exc)
        else:
            outcome.done += 1
    return outcome


def _remove_each(patients, *, role: str, reason: str, actor: User) -> Outcome:
    outcome = Outcome()
    for patient in patients:
        case_load = related_or_none(patient, "case_load")
        if case_load is None or getattr(case_load, f"{role}_id") is None:
            outcome.skipped += 1
            continue
        try:
            care_team_unassign(patient_id=patient.pk, role=role, actor=actor, reason=reason)
        except SERVICE_ERRORS as exc:
            outcome.fail(patient, exc)
        else:
            outcome.done += 1
    return outcome


def _lcm_action(modeladmin, request, queryset, *, role: str, remove: bool):
    """An intermediate page (who, why), then one service call per selected patient."""
    label = CareTeamRole(role).label
    data = request.POST if "apply" in request.POST else None
    if remove:
        form = RemoveLcmForm(data)
    else:
        form = AssignLcmForm(data, role=role, admin_site=modeladmin.admin_site)
    if form.is_bound and form.is_valid():
        reason = form.cleaned_data["reason"]
        if remove:
            outcome = _remove_each(queryset, role=role, reason=reason, actor=request.user)
            summary = outcome.summary(f"Removed the {label} from")
        else:
            user = form.cleaned_data["user"]
            outcome = _assign_each(
                queryset, role=role, user=user, reason=reason, actor=request.user
            )
            summary = outcome.summary(f"Assigned {user} as {label} to")
        modeladmin.message_user(request, summary, outcome.level)
        return None

    rows = []
    for patient in queryset:
        case_load = related_or_none(patient, "case_load")
        eligibility = related_or_none(patient, "ecm_eligibility_information")
        rows.append(
            {
                "patient": patient,
                "member_id": eligibility.member_id if eligibility else "",
                "current": getattr(case_load, role) if case_load else None,
            }
        )
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Remove the {label}" if remove else f"Assign an {label}",
        "role_label": label,
        "remove": remove,
        "rows": rows,
        "form": form,
        "opts": modeladmin.model._meta,
        "action": request.POST["action"],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/care_team/lcm_action.html", context)


@admin.action(description="Assign an oLCM to the selected patients", permissions=["change"])
def assign_olcm(modeladmin, request, queryset):
    return _lcm_action(modeladmin, request, queryset, role=CareTeamRole.OLCM, remove=False)


@admin.action(description="Assign an iLCM to the selected patients", permissions=["change"])
def assign_ilcm(modeladmin, request, queryset):
    return _lcm_action(modeladmin, request, queryset, role=CareTeamRole.ILCM, remove=False)


@admin.action(description="Remove the oLCM of the selected patients", permissions=["change"])
def remove_olcm(modeladmin, request, queryset):
    return _lcm_action(modeladmin, request, queryset, role=CareTeamRole.OLCM, remove=True)


@admin.action(description="Remove the iLCM of the selected patients", permissions=["change"])
def remove_ilcm(modeladmin, request, queryset):
    return _lcm_action(modeladmin, request, queryset, role=CareTeamRole.ILCM, remove=True)


LCM_ACTIONS = (assign_olcm, assign_ilcm, remove_olcm, remove_ilcm)


# --- model admins -----------------------------------------------------------------------------


@admin.register(CaseLoad)
class CaseLoadAdmin(AuditedModelAdmin, ServiceErrorsMixin, CareTeamWidgetsMixin, admin.ModelAdmin):
    form = CaseLoadForm
    list_display = (
        "patient",
        "provider",
        "olcm",
        "olcm_assigned_at",
        "ilcm",
        "ilcm_assigned_at",
        "updated_at",
    )
    list_select_related = ("patient", "provider", "olcm", "ilcm")
    list_filter = (
        ("olcm", admin.RelatedOnlyFieldListFilter),
        ("ilcm", admin.RelatedOnlyFieldListFilter),
        ("provider", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = (
        "patient__first_name",
        "patient__last_name",
        "patient__ecm_eligibility_information__member_id",
    )
    autocomplete_fields = ("patient", "provider", "olcm", "ilcm")
    readonly_fields = (
        "provider_assigned_at",
        "olcm_assigned_at",
        "ilcm_assigned_at",
        "created_at",
        "updated_at",
    )
    fields = ("patient", "provider", "olcm", "ilcm", "reason", *readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        # A case load belongs to one patient for good.
        return ("patient", *self.readonly_fields) if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        # Deleting the row would record no history or activity; unassign the LCMs instead.
        return False

    def save_model(self, request, obj, form, change):
        patient_id = obj.patient_id
        apply_case_load_form(form, patient_id=patient_id, actor=request.user)
        adopt(obj, CaseLoad.objects.get(patient_id=patient_id))


@admin.register(LcmAssignmentHistory)
class LcmAssignmentHistoryAdmin(ReadOnlyAdminMixin, AuditedModelAdmin):
    list_display = (
        "created_at",
        "patient",
        "role",
        "previous_user",
        "new_user",
        "acted_by_name",
        "reason",
    )
    list_select_related = ("patient", "previous_user", "new_user")
    list_filter = ("role", ("new_user", admin.RelatedOnlyFieldListFilter))
    fields = (
        "patient",
        "role",
        PREVIOUS_USER,
        NEW_USER,
        ACTED_BY,
        "acted_by_name",
        "reason",
        "created_at",
    )
    readonly_fields = (PREVIOUS_USER, NEW_USER, ACTED_BY)
    search_fields = (
        "patient__first_name",
        "patient__last_name",
        "patient__ecm_eligibility_information__member_id",
        "acted_by_name",
        "reason",
    )
    date_hierarchy = "created_at"


# The Workload page: every Lead Care Manager's load, capacity and availability.
admin.site.register(LeadCareManagerWorkload, LeadCareManagerWorkloadAdmin)
