"""What every app's Django admin shares: the site, helpers and two mixins.

The admin writes through the same services as the API (see DESIGN.md), so a service's
refusal must reach the staff user as a message, never as a 500.
"""

from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponseRedirect
from rest_framework.exceptions import NotFound

from accounts.admin_login import AdminLoginForm
from audit.admin_audit import AuditedAdminSite
from ecm_admin.exceptions import UnprocessableEntity


class EcmAdminSite(AuditedAdminSite):
    """``admin.site`` (``ecm_admin.apps.AdminConfig``): patient data audited."""

    site_header = "ECM Admin"
    site_title = "ECM Admin"
    index_title = "Enhanced Care Management back office"
    # Sign-ins count against the same failure limits as the API's (accounts.admin_login).
    login_form = AdminLoginForm


# What the services raise when they refuse a change.
SERVICE_ERRORS = (UnprocessableEntity, NotFound)


def service_error_sentences(exc: Exception) -> list[str]:
    """The sentences of a service refusal (422 lists them; 404 has one)."""
    return list(getattr(exc, "errors", None) or [str(exc.detail)])


def related_or_none(obj, name: str):
    """A reverse one-to-one (``patient.case_load``), or ``None`` when there is none."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def adopt(obj, saved) -> None:
    """Make the admin's unsaved ``obj`` the row a service wrote (for the admin's log and reply)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def user_name(field: str, description: str):
    """A read-only field showing the user in ``field`` by name, as plain text.

    Django shows a read-only foreign key as a link to the related row's admin page whether or
    not the viewer may open it; users' pages need a superuser, so for staff working by role
    such a link would lead to a 403.
    """

    @admin.display(description=description)
    def name(obj) -> str:
        user = getattr(obj, field)
        return str(user) if user is not None else "-"

    name.__name__ = f"{field}_name"
    return name


class ServiceErrorsMixin:
    """A change form whose save a service refuses is rolled back and shows the reasons.

    Forms check what they can first, so most problems appear as field errors; this catches
    what only the service knows (a rule, or a concurrent change). The admin's change view runs
    in a transaction, so nothing of the refused save is kept.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SERVICE_ERRORS as exc:
            for sentence in service_error_sentences(exc):
                self.message_user(request, sentence, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyAdminMixin:
    """For append-only history and audit tables: viewable, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
