"""The authorization worklist in the Django admin: two list filters of the patient list, by the
rule of ``patients.worklist`` (the one the API's filters and the ``authorization_worklist``
command use). Both select ECM patients only, as the API does."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters

from patients import worklist


def _ecm(queryset, condition):
    return queryset.filter(condition, ecm_eligibility_information__isnull=False)


class AuthorizationExpiringFilter(admin.SimpleListFilter):
    """ECM patients whose latest approved authorization ends between today and today + N
    days (any N from 0 to 365 in the URL; the usual ones offered)."""

    title = "authorization expiring within"
    parameter_name = "authorization_expiring_within_days"

    def lookups(self, request, model_admin):
        return [(str(days), f"{days} days") for days in worklist.EXPIRING_CHOICES]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        days = int(value) if value.isascii() and value.isdigit() else -1
        if not 0 <= days <= worklist.MAX_EXPIRING_WITHIN_DAYS:
            raise IncorrectLookupParameters(
                f"{self.parameter_name} must be a whole number from 0 to "
                f"{worklist.MAX_EXPIRING_WITHIN_DAYS}"
            )
        return _ecm(queryset, worklist.expiring_within(days, on=worklist.today()))


class ActiveAuthorizationFilter(admin.SimpleListFilter):
    """ECM patients without (or with) an approved authorization covering today."""

    title = "active authorization"
    parameter_name = "missing_active_authorization"

    def lookups(self, request, model_admin):
        return [("true", "Missing"), ("false", "Has one")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value not in ("true", "false"):
            raise IncorrectLookupParameters(f"{self.parameter_name} must be true or false")
        return _ecm(queryset, worklist.missing_active(value == "true", on=worklist.today()))
