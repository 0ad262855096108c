"""One FilterSet for ``GET /patients`` query parameters and the ``POST /patients/filter`` body."""

from typing import Any

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django_filters import rest_framework as filters

from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.inputs import MAX_ID
from patients.choices import AcuityLevel, MemberRecordStatus
from patients.models import EcmAuthorization
from patients.search import search_patient_ids
from patients.worklist_filters import WorklistFilters

MAX_SEARCH_LENGTH = 200
MISSING_LCM_CHOICES = [("olcm", "olcm"), ("ilcm", "ilcm"), ("any", "any")]


class IdFilter(filters.NumberFilter):
    """A positive integer id (not a decimal, not a float)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class PatientFilterSet(WorklistFilters):
    """Every filter of the list; the authorization worklist's come from ``WorklistFilters``."""

    search = filters.CharFilter(method="filter_search", max_length=MAX_SEARCH_LENGTH)
    status = filters.ChoiceFilter(
        field_name="ecm_eligibility_information__member_record_status",
        choices=MemberRecordStatus.choices,
    )
    acuity_level = filters.ChoiceFilter(
        field_name="ecm_eligibility_information__acuity_level", choices=AcuityLevel.choices
    )
    provider_id = IdFilter(field_name="case_load__provider_id")
    olcm_user_id = IdFilter(field_name="case_load__olcm_id")
    ilcm_user_id = IdFilter(field_name="case_load__ilcm_id")
    authorization_status = filters.CharFilter(method="filter_authorization_status", max_length=30)
    missing_lcm = filters.ChoiceFilter(method="filter_missing_lcm", choices=MISSING_LCM_CHOICES)

    # Keys accepted inside the body's "filters" object (search is a top-level key there).
    FILTER_KEYS = (
        "status",
        "acuity_level",
        "provider_id",
        "olcm_user_id",
        "ilcm_user_id",
        "authorization_status",
        "missing_lcm",
        *WorklistFilters.WORKLIST_KEYS,
    )

    _form_class = None

    def get_form_class(self):
        """The form is the same for every request: built once (django-filter would build the
        class and its nine fields for every request). A form copies its fields per instance,
        so sharing the class shares nothing a request changes."""
        cls = type(self)
        if cls.__dict__.get("_form_class") is None:
            cls._form_class = super().get_form_class()
        return cls._form_class

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(pk__in=search_patient_ids(term))

    def filter_authorization_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(
            Exists(EcmAuthorization.objects.filter(patient_id=OuterRef("pk"), status__iexact=term))
        )

    def filter_missing_lcm(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        no_olcm = Q(case_load__isnull=True) | Q(case_load__olcm__isnull=True)
        no_ilcm = Q(case_load__isnull=True) | Q(case_load__ilcm__isnull=True)
        condition = {"olcm": no_olcm, "ilcm": no_ilcm, "any": no_olcm | no_ilcm}[value]
        return queryset.filter(condition)

    def criteria(self) -> dict:
        """The filters given, cleaned (call after ``validate``): strings stripped, blanks
        left out."""
        criteria = {
            name: value.strip() if isinstance(value, str) else value
            for name, value in self.form.cleaned_data.items()
        }
        return {name: value for name, value in criteria.items() if value not in (None, "")}

    def validate(self) -> None:
        """422 naming every bad parameter."""
        if not self.is_valid():
            raise UnprocessableEntity(filter_error_sentences(self))

    def filtered(self) -> QuerySet:
        """The filtered queryset, or 422 naming every bad parameter."""
        self.validate()
        return self.qs


def filter_value(name: str, value: Any) -> str | None:
    """A JSON value of a body's ``filters`` as the string the FilterSet parses (``None``: not
    given); ``ValueError`` with the sentence for an object, a list, or a boolean where no
    boolean is accepted."""
    if value is None:
        return None
    if isinstance(value, bool) and name in PatientFilterSet.BOOLEAN_KEYS:
        return "true" if value else "false"
    if isinstance(value, (bool, dict, list)):
        kinds = "a boolean" if name in PatientFilterSet.BOOLEAN_KEYS else "a string or an integer"
        raise ValueError(f"filters.{name} must be {kinds}")
    return str(value)


def filter_error_sentences(filterset: PatientFilterSet) -> list[str]:
    sentences = []
    for name, errors in filterset.form.errors.as_data().items():
        field = filterset.form.fields[name]
        codes = {error.code for error in errors}
        if "max_length" in codes:
            sentences.append(f"{name} must be at most {field.max_length} characters")
        elif isinstance(field, forms.ChoiceField):
            allowed = ", ".join(str(value) for value, _ in field.choices if value != "")
            sentences.append(f"{name} must be one of: {allowed}")
        elif isinstance(field, forms.IntegerField) and field.min_value != 1:
            sentences.append(
                f"{name} must be a whole number from {field.min_value} to {field.max_value}"
            )
        elif isinstance(field, forms.IntegerField):
            sentences.append(f"{name} must be a positive integer")
        else:
            sentences.append(f"{name} is invalid")
    return sentences
