"""Django admin for patients. Edits of an ECM patient go through ``patients.services``.

So a status changed here records the same status history and activity as the API, with
the staff user as the actor; care-team changes go through ``care_team.services``.
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters

from audit.admin_audit import AuditedModelAdmin
from care_team.admin import (
    INLINE_MAX_ROWS,
    LCM_ACTIONS,
    CaseLoadInline,
    HistoryInline,
    LcmAssignmentHistoryInline,
    save_case_load_formset,
)
from care_team.admin_planning import assign_lcms_automatically
from care_team.models import CaseLoad
from ecm_admin.admin_site import (
    ReadOnlyAdminMixin,
    ServiceErrorsMixin,
    related_or_none,
    user_name,
)
from ecm_admin.exceptions import UnprocessableEntity
from patients.admin_worklist import ActiveAuthorizationFilter, AuthorizationExpiringFilter
from patients.filtersets import PatientFilterSet
from patients.forms import (
    AUTHORIZATION_FIELDS,
    ELIGIBILITY_FIELDS,
    PATIENT_FIELDS,
    AuthorizationForm,
    EligibilityForm,
    PatientForm,
)
from patients.models import (
    Activity,
    EcmAuthorization,
    EcmEligibilityInformation,
    EcmStatusHistory,
    Patient,
)
from patients.selectors import CASE_LOAD_RELATED
from patients.services import patient_update, status_change_record

# Read-only pages show the users of a log entry by name (see ``user_name``).
CHANGED_BY_USER = user_name("changed_by_user", "changed by user")
ACTOR = user_name("actor", "actor")
PATIENT_SEARCH_FIELDS = (
    "patient__first_name",
    "patient__last_name",
    "patient__ecm_eligibility_information__member_id",
)


def changes(form, fields) -> dict:
    """The values of ``fields`` the staff user changed in ``form``."""
    return {name: form.cleaned_data[name] for name in form.changed_data if name in fields}


def eligibility_create(eligibility: EcmEligibilityInformation, *, actor) -> None:
    """A new member: store it and record its first status, as the member import does."""
    eligibility.save()
    status_change_record(
        patient_id=eligibility.patient_id,
        previous=None,
        status=eligibility.member_record_status,
        actor=actor,
    )


# --- changelist filters (the API's filters, so both agree) ---------------------------------


def api_filter(queryset, key: str, value: str):
    try:
        return PatientFilterSet(data={key: value}, queryset=queryset).filtered()
    except UnprocessableEntity as exc:
        raise IncorrectLookupParameters(exc.errors) from exc


class AuthorizationStatusFilter(admin.SimpleListFilter):
    """Patients with at least one authorization in that status (any case)."""

    title = "authorization status"
    parameter_name = "authorization_status"

    def lookups(self, request, model_admin):
        statuses = (
            EcmAuthorization.objects.exclude(status="")
            .order_by("status")
            .values_list("status", flat=True)
            .distinct()
        )
        unique = {}
        for status in statuses:
            unique.setdefault(status.lower(), status)
        return [(status, status) for status in unique.values()]

    def queryset(self, request, queryset):
        if self.value():
            return api_filter(queryset, "authorization_status", self.value())
        return queryset


class MissingLcmFilter(admin.SimpleListFilter):
    title = "missing an LCM"
    parameter_name = "missing_lcm"

    def lookups(self, request, model_admin):
        return [("olcm", "No oLCM"), ("ilcm", "No iLCM"), ("any", "No oLCM or no iLCM")]

    def queryset(self, request, queryset):
        if self.value():
            return api_filter(queryset, "missing_lcm", self.value())
        return queryset


# --- inlines on the patient page -------------------------------------------------------------


class EligibilityInline(admin.StackedInline):
    model = EcmEligibilityInformation
    form = EligibilityForm
    fields = (
        ("member_id", "cin"),
        ("member_record_status", "acuity_level"),
        ("ecm_service_auth_id", "ecm_provider_name", "ecm_npi"),
        ("ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date"),
        ("created_at", "updated_at"),
    )
    readonly_fields = ("created_at", "updated_at")
    can_delete = False


class AuthorizationInline(admin.TabularInline):
    model = EcmAuthorization
    form = AuthorizationForm
    fields = AUTHORIZATION_FIELDS
    extra = 0


class StatusHistoryInline(HistoryInline):
    model = EcmStatusHistory
    fields = ("changed_at", "status", "changed_by")
    verbose_name_plural = f"status history (newest {INLINE_MAX_ROWS})"


class ActivityInline(HistoryInline):
    model = Activity
    fields = ("created_at", "kind", "description", "actor_name")
    verbose_name_plural = f"activities (newest {INLINE_MAX_ROWS})"


# --- model admins ------------------------------------------------------------------------------


@admin.register(Patient)
class PatientAdmin(AuditedModelAdmin, ServiceErrorsMixin, admin.ModelAdmin):
    form = PatientForm
    list_display = (
        "member_id",
        "name",
        "status",
        "acuity",
        "olcm",
        "ilcm",
        "provider",
        "authorization_end_date",
    )
    list_display_links = ("member_id", "name")
    list_select_related = ("ecm_eligibility_information", *CASE_LOAD_RELATED)
    list_filter = (
        "ecm_eligibility_information__member_record_status",
        "ecm_eligibility_information__acuity_level",
        ("case_load__olcm", admin.RelatedOnlyFieldListFilter),
        ("case_load__ilcm", admin.RelatedOnlyFieldListFilter),
        ("case_load__provider", admin.RelatedOnlyFieldListFilter),
        AuthorizationStatusFilter,
        MissingLcmFilter,
        AuthorizationExpiringFilter,
        ActiveAuthorizationFilter,
    )
    search_fields = (
        "first_name",
        "last_name",
        "email",
        "ecm_eligibility_information__member_id",
        "ecm_eligibility_information__cin",
    )
    search_help_text = "Search by first or last name, member ID, CIN or email."
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": (("first_name", "last_name"), ("date_of_birth", "gender"))}),
        ("Contact", {"fields": (("phone", "email"), "street", ("city", "state", "zip_code"))}),
        ("Record", {"fields": ("services", ("created_at", "updated_at"))}),
    )
    readonly_fields = ("services", "created_at", "updated_at")
    inlines = (
        EligibilityInline,
        CaseLoadInline,
        AuthorizationInline,
        StatusHistoryInline,
        LcmAssignmentHistoryInline,
        ActivityInline,
    )
    actions = (*LCM_ACTIONS, assign_lcms_automatically)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.list_select_related)

    # Columns. The related rows come from list_select_related: no query per row.

    @admin.display(description="Member ID", ordering="ecm_eligibility_information__member_id")
    def member_id(self, obj):
        eligibility = related_or_none(obj, "ecm_eligibility_information")
        return eligibility.member_id if eligibility else None

    @admin.display(ordering="last_name")
    def name(self, obj):
        return obj.name

    @admin.display(ordering="ecm_eligibility_information__member_record_status")
    def status(self, obj):
        eligibility = related_or_none(obj, "ecm_eligibility_information")
        return eligibility.get_member_record_status_display() if eligibility else None

    @admin.display(ordering="ecm_eligibility_information__acuity_level")
    def acuity(self, obj):
        eligibility = related_or_none(obj, "ecm_eligibility_information")
        return (eligibility.get_acuity_level_display() or None) if eligibility else None

    @admin.display(description="oLCM", ordering="case_load__olcm__last_name")
    def olcm(self, obj):
        return self._care_team_member(obj, "olcm")

    @admin.display(description="iLCM", ordering="case_load__ilcm__last_name")
    def ilcm(self, obj):
        return self._care_team_member(obj, "ilcm")

    @admin.display(ordering="case_load__provider__last_name")
    def provider(self, obj):
        return self._care_team_member(obj, "provider")

    @admin.display(
        description="Authorization ends",
        ordering="ecm_eligibility_information__ecm_benefit_auth_end_date",
    )
    def authorization_end_date(self, obj):
        eligibility = related_or_none(obj, "ecm_eligibility_information")
        return eligibility.ecm_benefit_auth_end_date if eligibility else None

    @staticmethod
    def _care_team_member(obj, role: str):
        case_load = related_or_none(obj, "case_load")
        return getattr(case_load, role) if case_load else None

    # Saving. An ECM patient's own fields and eligibility change in one patient_update call
    # (as a PUT would); a patient becomes an ECM patient when its eligibility is added.

    def _is_ecm(self, obj) -> bool:
        # The change view loads the patient with its eligibility (get_queryset): no query.
        return related_or_none(obj, "ecm_eligibility_information") is not None

    def save_model(self, request, obj, form, change):
        if not (change and self._is_ecm(obj)):
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change and self._is_ecm(form.instance):
            eligibility_form = next(
                (
                    inline_form
                    for formset in formsets
                    if formset.model is EcmEligibilityInformation
                    for inline_form in formset.initial_forms
                ),
                None,
            )
            patient_update(
                patient_id=form.instance.pk,
                patient_fields=changes(form, PATIENT_FIELDS),
                eligibility_fields=(
                    changes(eligibility_form, ELIGIBILITY_FIELDS)
                    if eligibility_form and eligibility_form.has_changed()
                    else {}
                ),
                actor=request.user,
            )
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is EcmEligibilityInformation:
            formset.save(commit=False)  # changes to a stored one went through patient_update
            for eligibility in formset.new_objects:
                eligibility_create(eligibility, actor=request.user)
        elif formset.model is CaseLoad:
            save_case_load_formset(formset, actor=request.user)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(EcmEligibilityInformation)
class EligibilityAdmin(AuditedModelAdmin, ServiceErrorsMixin, admin.ModelAdmin):
    form = EligibilityForm
    list_display = (
        "member_id",
        "patient",
        "member_record_status",
        "acuity_level",
        "ecm_benefit_auth_eff_date",
        "ecm_benefit_auth_end_date",
    )
    list_select_related = ("patient",)
    list_filter = ("member_record_status", "acuity_level")
    search_fields = ("member_id", "cin", "patient__first_name", "patient__last_name")
    autocomplete_fields = ("patient",)
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # The record belongs to one patient for good.
        return ("patient", *self.readonly_fields) if obj else self.readonly_fields

    def get_deleted_objects(self, objs, request):
        """A care team belongs to an ECM patient (care_team migration 0010): the eligibility
        of a patient with one is protected, as by ``on_delete=PROTECT``, until the care team
        is removed (the delete page lists them and deletes nothing)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        patient_ids = [eligibility.patient_id for eligibility in objs]
        case_loads = CaseLoad.objects.filter(patient_id__in=patient_ids).select_related("patient")
        protected = [*protected, *(f"Care team of {c.patient}" for c in case_loads)]
        return deleted, counts, perms_needed, protected

    def save_model(self, request, obj, form, change):
        if not change:
            eligibility_create(obj, actor=request.user)
            return
        patient_update(
            patient_id=obj.patient_id,
            patient_fields={},
            eligibility_fields=changes(form, ELIGIBILITY_FIELDS),
            actor=request.user,
        )


@admin.register(EcmAuthorization)
class AuthorizationAdmin(AuditedModelAdmin):
    form = AuthorizationForm
    list_display = (
        "auth_no",
        "patient",
        "auth_type",
        "authorization_type",
        "status",
        "start_date",
        "expiration_date",
    )
    list_select_related = ("patient",)
    list_filter = ("status", "auth_type", "authorization_type")
    search_fields = ("auth_no", *PATIENT_SEARCH_FIELDS)
    autocomplete_fields = ("patient",)
    date_hierarchy = "start_date"


@admin.register(EcmStatusHistory)
class StatusHistoryAdmin(ReadOnlyAdminMixin, AuditedModelAdmin):
    list_display = ("changed_at", "patient", "status", "changed_by")
    list_select_related = ("patient",)
    list_filter = ("status",)
    search_fields = ("changed_by", *PATIENT_SEARCH_FIELDS)
    date_hierarchy = "changed_at"
    fields = ("patient", "status", "changed_at", "changed_by", CHANGED_BY_USER)
    readonly_fields = (CHANGED_BY_USER,)


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdminMixin, AuditedModelAdmin):
    list_display = ("created_at", "patient", "kind", "description", "actor_name")
    list_select_related = ("patient",)
    list_filter = ("kind",)
    search_fields = ("description", "actor_name", *PATIENT_SEARCH_FIELDS)
    date_hierarchy = "created_at"
    fields = ("patient", "kind", "description", ACTOR, "actor_name", "metadata", "created_at")
    readonly_fields = (ACTOR,)
