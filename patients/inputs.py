"""The inputs of the patient list routes: each validates its request and is its schema.

``GET /patients`` (``PatientListQuery``) and ``POST /patients/filter`` (``PatientFilterInput``)
take the same filters. Their values are the FilterSet's to read (``PatientFilterSet``, which
names a bad one, as the admin's worklist does): here a filter's value is taken as the string
the FilterSet parses, and described as the FilterSet reads it, so that what the document
calls valid the route accepts. Search, sort and paging are read here.

The body of ``PUT``/``PATCH /patients/{id}``: ``patients.update_input``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from ecm_admin.inputs import EMPTY, ID_INPUT, ID_SCHEMA, Input, InputField, TextField
from ecm_admin.openapi import enum_schema
from ecm_admin.pagination import PageField, PerPageField
from ecm_admin.text import SAFE_TEXT_PATTERN
from patients.choices import AcuityLevel, MemberRecordStatus
from patients.filtersets import MAX_SEARCH_LENGTH, MISSING_LCM_CHOICES, filter_value
from patients.sorting import SORT_DIRECTIONS, SORT_FIELDS
from patients.worklist import MAX_EXPIRING_WITHIN_DAYS
from patients.worklist_filters import BOOLEAN_CHOICES

SEARCH_DESCRIPTION = (
    "Case-insensitive substring of first, last or full name, member ID or CIN. "
    "Blank means no search."
)
SORT_BY_DESCRIPTION = (
    "Sort key (default `id`); `name` sorts by last then first name, `acuity_level` by "
    "severity. Ties are broken by `id`."
)
SORT_DIR_DESCRIPTION = "`ASC` (default) or `DESC`, case-insensitive."
SORT_DIR_PATTERN = r"^([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])$"
AUTHORIZATION_STATUS_DESCRIPTION = (
    "The patient has at least one authorization with this status (case-insensitive)."
)
MISSING_LCM_DESCRIPTION = (
    "Patients with no oLCM (`olcm`), no iLCM (`ilcm`), or lacking either (`any`)."
)
# "Today" of the worklist filters (patients.worklist.today).
_TODAY = f"Today is the service's date (time zone {settings.TIME_ZONE})."
# 0 to MAX_EXPIRING_WITHIN_DAYS (365) as a string of digits.
_DAYS = r"0*(36[0-5]|3[0-5][0-9]|[12][0-9]{2}|[1-9]?[0-9])"
_BOOLEANS = [value for value, _ in BOOLEAN_CHOICES]
EXPIRING_DESCRIPTION = (
    "Days from today (0-365): the patient's latest approved authorization (the approved one "
    "with the greatest expiration date; an open-ended one is the latest) ends between today "
    f"and today plus this many days, both included. {_TODAY} Statuses are compared "
    "case-insensitively."
)
MISSING_ACTIVE_DESCRIPTION = (
    "`true`: no approved authorization covers today (started on or before today, or has no "
    "start date; expires on or after today, or is open-ended), including patients with no "
    f"approved authorization at all; `false`: at least one does. {_TODAY} Statuses are "
    "compared case-insensitively."
)


class DescribedField(InputField):
    """A key whose schema is written out beside it: ``query`` in a query string, ``body`` in a
    JSON body (with its description: the document's wording, kept as it reads)."""

    def __init__(self, *, query: dict[str, Any], body: dict[str, Any], **kwargs: Any):
        self.query, self.body = query, body
        super().__init__(**kwargs)

    def openapi_schema(self) -> dict[str, Any]:
        return dict(self.query if getattr(self.root, "in_query", False) else self.body)


class FilterField(DescribedField):
    """A filter of the list. A query string's value is the string the FilterSet parses; a
    body's JSON value becomes one (``filter_value``): an object, a list, or a boolean where no
    boolean is accepted is refused here, any other value by the FilterSet."""

    def to_internal_value(self, data: Any) -> str | None:
        if getattr(self.root, "in_query", False):
            return data
        try:
            return filter_value(self.field_name, data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


def _choice_filter(choices: list[tuple[str, str]], description: str) -> FilterField:
    return FilterField(
        query={
            "type": "string",
            "enum": [value for value, _ in choices],
            "description": description,
        },
        body=enum_schema(choices, description, blank_and_null=True),
    )


def _id_filter(description: str) -> FilterField:
    """An id; in a body also a string of digits, and ``null`` or ``""`` (not given)."""
    return FilterField(
        query={**ID_SCHEMA, "description": f"{description} (user id)."},
        body={
            "anyOf": [*ID_INPUT["anyOf"], EMPTY],
            "description": f"{description}. {ID_INPUT['description']}",
            "nullable": True,
        },
    )


class PatientFilters(Input):
    """The filters of the list: query parameters of ``GET /patients``, the ``filters`` object
    of ``POST /patients/filter``."""

    where = "filters"
    not_an_object = "filters must be a JSON object"

    status = _choice_filter(MemberRecordStatus.choices, "Member record status.")
    acuity_level = _choice_filter(AcuityLevel.choices, "Acuity level.")
    provider_id = _id_filter("Assigned provider")
    olcm_user_id = _id_filter("Assigned oLCM")
    ilcm_user_id = _id_filter("Assigned iLCM")
    authorization_status = FilterField(
        query={
            "type": "string",
            "maxLength": 30,
            "pattern": SAFE_TEXT_PATTERN,
            "description": AUTHORIZATION_STATUS_DESCRIPTION,
        },
        body={
            # Filter values are read as text: a number is taken as its decimal string (which
            # must fit the 30 characters too).
            "anyOf": [
                {"type": "string", "maxLength": 30, "pattern": SAFE_TEXT_PATTERN},
                {"type": "number", "minimum": -(10**29) + 1, "maximum": 10**30 - 1},
            ],
            "nullable": True,
            "description": AUTHORIZATION_STATUS_DESCRIPTION,
        },
    )
    missing_lcm = _choice_filter(MISSING_LCM_CHOICES, MISSING_LCM_DESCRIPTION)
    authorization_expiring_within_days = FilterField(
        query={
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_EXPIRING_WITHIN_DAYS,
            "description": EXPIRING_DESCRIPTION,
        },
        body={
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_EXPIRING_WITHIN_DAYS},
                {"type": "string", "pattern": f"^{_DAYS}$"},
                EMPTY,
            ],
            "nullable": True,
            "description": EXPIRING_DESCRIPTION,
        },
    )
    missing_active_authorization = FilterField(
        query={
            "type": "string",
            "enum": _BOOLEANS,
            "description": MISSING_ACTIVE_DESCRIPTION,
        },
        body={
            "anyOf": [{"type": "boolean"}, {"type": "string", "enum": _BOOLEANS}, EMPTY],
            "nullable": True,
            "description": MISSING_ACTIVE_DESCRIPTION,
        },
    )

    class Meta:
        ref_name = "PatientFilters"


class SearchField(TextField, DescribedField):
    """``search``: text of at most 200 characters; blank means no search."""

    def __init__(self, **kwargs: Any):
        schema = {"type": "string", "maxLength": MAX_SEARCH_LENGTH, "pattern": SAFE_TEXT_PATTERN}
        super().__init__(
            max_length=MAX_SEARCH_LENGTH,
            query={**schema, "description": SEARCH_DESCRIPTION},
            body={**schema, "nullable": True, "description": SEARCH_DESCRIPTION},
            **kwargs,
        )


class SortByField(DescribedField):
    """``sort_by``: one of ``SORT_FIELDS`` exactly (default ``id``)."""

    def __init__(self, **kwargs: Any):
        choices = [(key, key) for key in SORT_FIELDS]
        super().__init__(
            query={"type": "string", "enum": list(SORT_FIELDS), "description": SORT_BY_DESCRIPTION},
            body=enum_schema(choices, SORT_BY_DESCRIPTION, blank_and_null=True),
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or data not in SORT_FIELDS:
            raise self.invalid(f"must be one of: {', '.join(SORT_FIELDS)}")
        return data


class SortDirField(DescribedField):
    """``sort_dir``: ``ASC`` or ``DESC`` in any case (default ``ASC``)."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            query={
                "type": "string",
                "pattern": SORT_DIR_PATTERN,
                "description": SORT_DIR_DESCRIPTION,
            },
            body={
                "type": "string",
                "pattern": r"^(([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc]))?$",
                "nullable": True,
                "description": SORT_DIR_DESCRIPTION,
            },
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or data.upper() not in SORT_DIRECTIONS:
            raise self.invalid(f"must be one of: {', '.join(SORT_DIRECTIONS)}")
        return data


class PatientListQuery(PatientFilters):
    """``GET /patients``: the filters, search, sort and paging as query parameters."""

    in_query = True
    accepts_unknown_keys = True

    search = SearchField()
    sort_by = SortByField()
    sort_dir = SortDirField()
    page = PageField()
    per_page = PerPageField()


class PatientFilterInput(Input):
    """``POST /patients/filter``: the same as ``GET /patients``, in a JSON body."""

    search = SearchField()
    sort_by = SortByField()
    sort_dir = SortDirField()
    page = PageField()
    per_page = PerPageField()
    filters = PatientFilters(required=False, allow_null=True)

    class Meta:
        ref_name = "PatientFilterBody"


def list_request(values: dict[str, Any], filters: dict[str, Any]) -> dict[str, Any]:
    """A parsed ``PatientListQuery`` (whose filters are among its values) or
    ``PatientFilterInput`` (its ``filters``) as ``_patients_page`` takes it: the filters given,
    search among them, sort and paging."""
    given = {key: filters[key] for key in PatientFilters._declared_fields if filters.get(key)}
    if values.get("search"):
        given["search"] = values["search"]
    return {
        "filters": given,
        "sort_by": values.get("sort_by"),
        "sort_dir": values.get("sort_dir"),
        "paging": values,
    }
