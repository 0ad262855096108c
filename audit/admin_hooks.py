"""Access audit for the Django admin: every view of patient data writes one access event.

``audit_admin_site`` runs once at start-up (``AuditConfig.ready``, after the admin's
autodiscovery): every ModelAdmin registered for a model of a patient-data app gets
``AuditedModelAdminMixin`` in front of its class, so a ModelAdmin added later is audited
without anyone remembering to. ``tests/audit/test_admin_audit.py`` checks that none is missed.
"""

from __future__ import annotations

import json
import logging

from django.contrib import admin
from django.contrib.admin import helpers
from django.db import DatabaseError

from audit.models import Action, Source
from audit.services import normalise_ids, request_event_record

logger = logging.getLogger("audit")

# Apps whose every model is (or hangs off) a patient record.
PATIENT_DATA_APPS = frozenset({"patients", "care_team"})


def is_patient_data_model(model) -> bool:
    return model._meta.app_label in PATIENT_DATA_APPS


def patient_id_of(obj) -> int | None:
    from patients.models import Patient

    if isinstance(obj, Patient):
        return obj.pk
    return getattr(obj, "patient_id", None)


def _action_for(name: str) -> str:
    if name.startswith("assign"):
        return Action.ASSIGN
    if name.startswith("remove"):
        return Action.UNASSIGN
    if name.startswith("delete"):
        return Action.DELETE
    return Action.UPDATE


class AuditedModelAdminMixin:
    """Records list pages, change/add/delete/history views and actions of one ModelAdmin."""

    audited = True

    # --- the object a successful save or delete touched ------------------------------------

    def _audit_touch(self, request, objs) -> None:
        ids = getattr(request, "_admin_audit_ids", [])
        ids.extend(patient_id_of(obj) for obj in objs)
        request._admin_audit_ids = ids

    def log_addition(self, request, obj, message):
        self._audit_touch(request, [obj])
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit_touch(request, [obj])
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        queryset = list(queryset)
        self._audit_touch(request, queryset)
        return super().log_deletions(request, queryset)

    # --- views ---------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        name = request.POST.get("action", "") if request.method == "POST" else ""
        if name:
            action = _action_for(name)
            ids = self._audit_selected(request)
        else:
            action = Action.READ_LIST if request.method == "GET" else Action.UPDATE
            cl = (getattr(response, "context_data", None) or {}).get("cl")
            rows = getattr(cl, "result_list", ()) if cl is not None else ()
            ids = [patient_id_of(obj) for obj in rows]
        self._audit_write(request, response, action, ids)
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        response = super().changeform_view(request, object_id, form_url, extra_context)
        if request.method == "GET":
            if object_id is None:
                return response  # an empty add form shows no patient data
            action = Action.READ_DETAIL
        else:
            action = Action.CREATE if object_id is None else Action.UPDATE
        ids = self._audit_object_ids(request, response)
        self._audit_write(request, response, action, ids)
        return response

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        action = Action.READ_DETAIL if request.method == "GET" else Action.DELETE
        self._audit_write(request, response, action, self._audit_object_ids(request, response))
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        ids = self._audit_object_ids(request, response)
        self._audit_write(request, response, Action.READ_DETAIL, ids)
        return response

    # --- helpers ---------------------------------------------------------------------------

    def _audit_object_ids(self, request, response) -> list:
        ids = list(getattr(request, "_admin_audit_ids", []))
        context = getattr(response, "context_data", None) or {}
        for key in ("original", "object"):
            if context.get(key) is not None:
                ids.append(patient_id_of(context[key]))
        return ids

    def _audit_selected(self, request) -> list:
        """Patient ids of the rows an action was applied to (one query)."""
        queryset = self.model._default_manager.all()
        if request.POST.get("select_across") != "1":
            selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            queryset = queryset.filter(pk__in=[pk for pk in selected if pk.isdigit()])
        field = "pk" if self.model._meta.model_name == "patient" else "patient_id"
        if field != "pk" and not hasattr(self.model, "patient_id"):
            return []
        return list(queryset.values_list(field, flat=True))

    def _audit_write(self, request, response, action: str, ids) -> None:
        try:
            request_event_record(
                request,
                source=Source.ADMIN,
                action=action,
                status_code=response.status_code,
                patient_ids=normalise_ids(ids),
                user_id=getattr(request.user, "pk", None),
            )
        except DatabaseError:
            logger.exception("access event not recorded (admin)")
            raise


def audited_class(cls: type) -> type:
    if issubclass(cls, AuditedModelAdminMixin):
        return cls
    return type(
        f"Audited{cls.__name__}", (AuditedModelAdminMixin, cls), {"__module__": cls.__module__}
    )


def audit_admin_site(site: admin.AdminSite | None = None) -> None:
    """Put the audit mixin in front of every patient-data ModelAdmin of ``site``, and audit
    the site's autocomplete view when it lists patient-data rows (patient pickers)."""
    site = site or admin.site
    for model, model_admin in site._registry.items():
        if is_patient_data_model(model):
            model_admin.__class__ = audited_class(type(model_admin))
    if not getattr(site.autocomplete_view, "audited", False):
        site.autocomplete_view = _audited_autocomplete(site.autocomplete_view)


def _autocomplete_target(request):
    """The model an autocomplete request lists, or ``None``."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist

    try:
        source = apps.get_model(request.GET["app_label"], request.GET["model_name"])
        field = source._meta.get_field(request.GET["field_name"])
    except (KeyError, LookupError, FieldDoesNotExist):
        return None
    remote = getattr(field, "remote_field", None)
    return remote.model if remote is not None else None


def _audited_autocomplete(view):
    def autocomplete_view(request):
        response = view(request)
        target = _autocomplete_target(request)
        if target is None or not is_patient_data_model(target):
            return response
        ids = []
        if response.status_code == 200 and target._meta.model_name == "patient":
            results = json.loads(response.content).get("results", [])
            ids = [int(row["id"]) for row in results if str(row.get("id", "")).isdigit()]
        try:
            request_event_record(
                request,
                source=Source.ADMIN,
                action=Action.READ_LIST,
                status_code=response.status_code,
                patient_ids=ids,
                user_id=getattr(request.user, "pk", None),
            )
        except DatabaseError:
            logger.exception("access event not recorded (admin autocomplete)")
            raise
        return response

    autocomplete_view.audited = True
    return autocomplete_view
