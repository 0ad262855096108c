"""The authorization worklist's filters of ``PatientFilterSet`` (which inherits them):
``authorization_expiring_within_days`` and ``missing_active_authorization``. The rule is
``patients.worklist``'s; here are its parameters."""

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters

from patients import worklist

BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


class DaysFilter(filters.NumberFilter):
    """A whole number of days, 0 to 365."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", worklist.MAX_EXPIRING_WITHIN_DAYS)
        super().__init__(*args, **kwargs)


class WorklistFilters(filters.FilterSet):
    authorization_expiring_within_days = DaysFilter(method="filter_authorization_expiring")
    missing_active_authorization = filters.ChoiceFilter(
        method="filter_missing_active_authorization", choices=BOOLEAN_CHOICES
    )

    WORKLIST_KEYS = ("authorization_expiring_within_days", "missing_active_authorization")
    # Keys whose value may be a JSON boolean in a body.
    BOOLEAN_KEYS = ("missing_active_authorization",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The worklist's "today", the same for a page and its count.
        self.today = worklist.today()

    def filter_authorization_expiring(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        return queryset.filter(worklist.expiring_within(value, on=self.today))

    def filter_missing_active_authorization(
        self, queryset: QuerySet, name: str, value: str
    ) -> QuerySet:
        return queryset.filter(worklist.missing_active(value == "true", on=self.today))
