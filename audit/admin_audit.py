"""Access audit for the Django admin: every view of patient data writes one access event.

- ``AuditedModelAdmin``: the base class of every ModelAdmin of a patient-data model (list
  pages, change/add/delete/history views, actions);
- ``AuditedAdminSite``: the admin site (``ecm_admin.admin_site.EcmAdminSite`` builds on it)
  records the autocomplete lists of patient-data rows (the patient pickers), and refuses to
  register a patient-data model with a ModelAdmin that is not an ``AuditedModelAdmin``, so
  none can be added unaudited.
"""

from __future__ import annotations

import json
import logging

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import DatabaseError

from audit.models import Action, Source
from audit.services import normalise_ids, request_event_record

logger = logging.getLogger("audit")

# Apps whose every model is (or hangs off) a patient record.
PATIENT_DATA_APPS = frozenset({"patients", "care_team"})


def is_patient_data_model(model) -> bool:
    return model._meta.app_label in PATIENT_DATA_APPS


def patient_id_of(obj) -> int | None:
    if obj._meta.label == "patients.Patient":
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


class AuditedModelAdmin(admin.ModelAdmin):
    """The base of every ModelAdmin of patient data: records its list pages, its change, add,
    delete and history views and its actions, one access event each.

    List it first, ahead of mixins that wrap the same views, so what they answer is what is
    recorded (a save the service refused, say)::

        class PatientAdmin(AuditedModelAdmin, ServiceErrorsMixin, admin.ModelAdmin): ...

    A page of its own in place of the list: override ``changelist_page``.
    """

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
        response = self.changelist_page(request, extra_context)
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

    def changelist_page(self, request, extra_context=None):
        """The list page itself (Django's): an admin with a page of its own in place of the
        list overrides this, not ``changelist_view``, and its page is audited the same."""
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        response = super().changeform_view(request, object_id, form_url, extra_context)
        if request.method == "GET":
            if object_id is None:
                return response  # an empty add form shows no patient data
            action = Action.READ_DETAIL
        else:
            action = Action.CREATE if object_id is None else Action.UPDATE
        ids = self._audit_object_ids(request, response, object_id)
        self._audit_write(request, response, action, ids)
        return response

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        action = Action.READ_DETAIL if request.method == "GET" else Action.DELETE
        ids = self._audit_object_ids(request, response, object_id)
        self._audit_write(request, response, action, ids)
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        ids = self._audit_object_ids(request, response, object_id)
        self._audit_write(request, response, Action.READ_DETAIL, ids)
        return response

    # --- helpers ---------------------------------------------------------------------------

    def _audit_object_ids(self, request, response, object_id=None) -> list:
        """The patients of the object a view showed or touched; when its answer shows none
        (a redirect after a save the service refused), the patient of ``object_id``."""
        ids = list(getattr(request, "_admin_audit_ids", []))
        context = getattr(response, "context_data", None) or {}
        for key in ("original", "object"):
            if context.get(key) is not None:
                ids.append(patient_id_of(context[key]))
        if not ids and object_id is not None and str(object_id).isdigit():
            ids = self._audit_patient_ids([object_id])
        return ids

    def _audit_selected(self, request) -> list:
        """Patient ids of the rows an action was applied to (one query)."""
        if request.POST.get("select_across") == "1":
            return self._audit_patient_ids(None)
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        return self._audit_patient_ids([pk for pk in selected if pk.isdigit()])

    def _audit_patient_ids(self, pks: list | None) -> list:
        """The patients of the rows with these primary keys (all rows: ``None``), one query."""
        queryset = self.model._default_manager.all()
        if pks is not None:
            queryset = queryset.filter(pk__in=pks)
        field = "pk" if self.model._meta.label == "patients.Patient" else "patient_id"
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


class AuditedAdminSite(admin.AdminSite):
    """An admin site whose patient data is audited (see the module's docstring)."""

    def register(self, model_or_iterable, admin_class=None, **options):
        models = model_or_iterable
        if isinstance(models, type):
            models = [models]
        for model in models:
            if is_patient_data_model(model) and not (
                admin_class is not None and issubclass(admin_class, AuditedModelAdmin)
            ):
                raise ImproperlyConfigured(
                    f"{model.__name__} holds patient data: its ModelAdmin must be an "
                    "audit.admin_audit.AuditedModelAdmin"
                )
        super().register(model_or_iterable, admin_class, **options)

    def autocomplete_view(self, request):
        response = super().autocomplete_view(request)
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


def _autocomplete_target(request):
    """The model an autocomplete request lists, or ``None``."""
    from django.apps import apps

    try:
        source = apps.get_model(request.GET["app_label"], request.GET["model_name"])
        field = source._meta.get_field(request.GET["field_name"])
    except (KeyError, LookupError, FieldDoesNotExist):
        return None
    remote = getattr(field, "remote_field", None)
    return remote.model if remote is not None else None
