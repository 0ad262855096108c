"""The Django admin's Workload page: every Lead Care Manager's load, capacity and availability.

One row per active Lead Care Manager: counted patients by role and acuity, weighted load,
capacity, what is left and a utilization bar, from the selectors of
``GET /lead_care_managers/workload`` (``lead_care_manager_rows``, ``counted_patients``,
``lcm_loads``): a fixed number of queries for any number of LCMs. Capacity and "accepting
patients" are edited in the rows; each changed row is saved by the service of
``PATCH /lead_care_managers/{id}`` (``capacity.lead_care_manager_update``).

The page is the changelist of a proxy model (``LeadCareManagerWorkload``), so it is listed
on the admin index and in the sidebar, and who may view or edit it follows the roles
(``accounts.backends``: view to see it, change to save).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.http import urlencode

from audit.admin_audit import AuditedModelAdmin
from care_team import selectors
from care_team.models import LeadCareManagerProfile
from care_team.planning import capacity, plans
from care_team.planning.inputs import WORKLOAD_SORTS, CapacityField
from care_team.planning.planner import utilization_value
from care_team.planning.serializers import render_summary
from care_team.planning.views import _ordered as ordered_loads  # the workload route's order
from care_team.planning.workload import (
    ACUITIES,
    acuity_weights,
    counted_patients,
    lcm_loads,
    missing,
)

PER_PAGE = 50
PREFIX = "lcm"
SORT_LABELS = {
    "name": "Lead Care Manager",
    "weighted_load": "Weighted load",
    "available_capacity": "Available",
    "utilization": "Utilization",
}
# Utilization from which a bar is shown as nearly full, and as over capacity.
NEARLY_FULL = 0.85


class WorkloadRowForm(forms.Form):
    """One LCM's settings. The values shown are posted back beside the edited ones
    (``show_hidden_initial``), so only what the staff user changed is saved: a row left
    alone never overwrites a change someone else made meanwhile."""

    user_id = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    capacity = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=CapacityField.MAXIMUM,
        show_hidden_initial=True,
        help_text="Weighted points; empty: the default capacity.",
        widget=forms.NumberInput(attrs={"class": "vIntegerField lcm-capacity"}),
    )
    accepting_patients = forms.BooleanField(required=False, show_hidden_initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["capacity"].widget.attrs["placeholder"] = settings.LCM_DEFAULT_CAPACITY

    def changes(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in ("capacity", "accepting_patients")
            if name in self.changed_data
        }


WorkloadFormSet = forms.formset_factory(
    WorkloadRowForm, extra=0, max_num=PER_PAGE, validate_max=True, absolute_max=PER_PAGE
)


def utilization_bar(utilization) -> dict:
    """What the utilization bar shows: the value, the width (at most full) and its level."""
    value = utilization_value(utilization)
    if value is None:
        return {"value": None, "width": 0, "level": "none"}
    level = "over" if value > 1 else "high" if value >= NEARLY_FULL else "ok"
    return {"value": value, "width": min(round(value * 100), 100), "level": level}


def _sort(params) -> tuple[str, str]:
    sort_by = params.get("sort")
    if sort_by not in WORKLOAD_SORTS:
        sort_by = "utilization"
    direction = params.get("dir")
    if direction not in ("asc", "desc"):
        direction = "desc" if sort_by == "utilization" else "asc"
    return sort_by, direction


class LeadCareManagerWorkloadAdmin(AuditedModelAdmin):
    """The Workload page, in place of a list of rows of the proxy model."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_page(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        can_edit = self.has_change_permission(request)
        if request.method == "POST":
            if not can_edit:
                raise PermissionDenied
            formset = WorkloadFormSet(request.POST, prefix=PREFIX)
            if formset.is_valid():
                self._save(request, formset)
                return HttpResponseRedirect(request.get_full_path())
            messages.error(request, "Nothing was saved: please correct the errors below.")
        else:
            formset = None

        search = " ".join(request.GET.get("q", "").split())
        sort_by, direction = _sort(request.GET)
        rows = plans.lead_care_manager_rows(selectors.lead_care_managers(search=search))
        counts = counted_patients()
        entries = ordered_loads(
            lcm_loads(rows, counts, acuity_weights()), sort_by, direction == "desc"
        )
        page = Paginator(entries, PER_PAGE).get_page(request.GET.get("p"))
        stored = dict(
            LeadCareManagerProfile.objects.filter(
                user_id__in=[entry.row.id for entry in page]
            ).values_list("user_id", "capacity")
        )
        if formset is None:
            formset = WorkloadFormSet(
                prefix=PREFIX,
                initial=[
                    {
                        "user_id": entry.row.id,
                        "capacity": stored.get(entry.row.id),
                        "accepting_patients": entry.row.accepting,
                    }
                    for entry in page
                ],
            )
        forms_by_user = {form["user_id"].value(): form for form in formset.forms}
        table = [
            {
                "entry": entry,
                "form": forms_by_user.get(entry.row.id) or forms_by_user.get(str(entry.row.id)),
                "olcm": [entry.workload.patients["olcm"][acuity] for acuity in ACUITIES],
                "ilcm": [entry.workload.patients["ilcm"][acuity] for acuity in ACUITIES],
                "available": entry.row.capacity - entry.load,
                "bar": utilization_bar(entry.utilization),
            }
            for entry in page
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Lead Care Manager workload",
            "opts": self.model._meta,
            "has_view_permission": True,
            "can_edit": can_edit,
            "table": table,
            "formset": formset,
            "page": page,
            "search": search,
            "summary": render_summary(entries, missing(counts)),
            "acuities": ACUITIES,
            "headers": self._headers(search, sort_by, direction),
            "default_capacity": settings.LCM_DEFAULT_CAPACITY,
            "page_links": self._page_links(search, sort_by, direction, page),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/care_team/workload.html", context)

    def _save(self, request, formset) -> None:
        """Each changed row through the service; one message for what was saved."""
        changed = [(form.cleaned_data["user_id"], form.changes()) for form in formset.forms]
        changed = [(user_id, changes) for user_id, changes in changed if changes]
        if not changed:
            messages.info(request, "Nothing was changed.")
            return
        names = {
            row.id: row.name or row.email
            for row in plans.lead_care_manager_rows(
                selectors.active_lcms().filter(pk__in=[user_id for user_id, _ in changed])
            )
        }
        saved, gone = [], []
        for user_id, changes in changed:
            if capacity.lead_care_manager_update(user_id=user_id, changes=changes):
                saved.append(f"{names[user_id]} ({_describe(changes)})")
            else:
                gone.append(f"user {user_id}")
        if saved:
            messages.success(request, f"Saved {'; '.join(saved)}.")
        if gone:
            messages.error(
                request,
                f"Not saved, no longer an active Lead Care Manager: {', '.join(gone)}.",
            )

    @staticmethod
    def _headers(search: str, sort_by: str, direction: str) -> list[dict]:
        headers = []
        for key, label in SORT_LABELS.items():
            sorted_here = key == sort_by
            if sorted_here:
                next_dir = "asc" if direction == "desc" else "desc"
            else:
                next_dir = "desc" if key == "utilization" else "asc"
            query = {"sort": key, "dir": next_dir, **({"q": search} if search else {})}
            headers.append(
                {
                    "key": key,
                    "label": label,
                    "url": f"?{urlencode(query)}",
                    "sorted": direction if sorted_here else "",
                }
            )
        return headers

    @staticmethod
    def _page_links(search: str, sort_by: str, direction: str, page) -> list[dict]:
        if page.paginator.num_pages <= 1:
            return []
        base = {"sort": sort_by, "dir": direction, **({"q": search} if search else {})}
        return [
            {
                "number": number,
                "url": f"?{urlencode({**base, 'p': number})}",
                "current": number == page.number,
            }
            for number in page.paginator.page_range
        ]


def _describe(changes: dict) -> str:
    parts = []
    if "capacity" in changes:
        value = changes["capacity"]
        parts.append("default capacity" if value is None else f"capacity {value}")
    if "accepting_patients" in changes:
        parts.append(
            "accepting patients" if changes["accepting_patients"] else "not accepting patients"
        )
    return ", ".join(parts)
