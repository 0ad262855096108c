"""The inputs of the planning routes (capacity, workload, auto-assign, transfer)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from care_team.inputs import LeadCareManagerSearchQuery
from care_team.services import MAX_REASON_LENGTH
from ecm_admin.inputs import (
    BooleanField,
    ChoiceField,
    IdField,
    IdListField,
    Input,
    InputField,
    IntegerField,
    NumberField,
    TextField,
    unknown_keys_sentence,
)
from ecm_admin.text import UNSAFE_TEXT_CLASS
from patients import selectors as patient_selectors
from patients.filtersets import PatientFilterSet, filter_value

MAX_PLAN_PATIENTS = 1000
MAX_MOVES = 1000
WORKLOAD_SORTS = ("utilization", "name", "weighted_load", "available_capacity")


class CapacityField(InputField):
    """Weighted points, an integer from 0; ``null`` puts back the default."""

    blank_is_missing = False
    MAXIMUM = 1_000_000

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int) or not 0 <= data <= self.MAXIMUM:
            raise self.invalid(f"must be an integer from 0 to {self.MAXIMUM}, or null")
        return data

    def value_schema(self) -> dict[str, Any]:
        return {
            "type": "integer",
            "minimum": 0,
            "maximum": self.MAXIMUM,
            "description": "`null` puts back the default (`LCM_DEFAULT_CAPACITY`).",
        }


class LeadCareManagerSettingsInput(Input):
    where = "lead_care_manager"
    not_an_object = "lead_care_manager must be a JSON object"

    capacity = CapacityField(help_text="Weighted points this LCM can carry.")
    accepting_patients = BooleanField(
        help_text="`false`: on leave or leaving; never chosen by auto-assign or transfer."
    )

    class Meta:
        ref_name = "LeadCareManagerSettings"


class LeadCareManagerUpdateInput(Input):
    """``PATCH /lead_care_managers/{id}``."""

    lead_care_manager = LeadCareManagerSettingsInput(required=True)

    class Meta:
        ref_name = "LeadCareManagerUpdateBody"


class WorkloadQuery(LeadCareManagerSearchQuery):
    """``GET /lead_care_managers/workload``."""

    sort_by = ChoiceField(
        WORKLOAD_SORTS, help_text="Sort key (default `utilization`); ties are broken by `id`."
    )
    sort_dir = ChoiceField(
        ("asc", "desc"),
        help_text="`ASC` or `DESC` (default `DESC` for `utilization`, `ASC` otherwise).",
    )


class PatientFiltersField(InputField):
    """The ``filters`` object of ``POST /patients/filter``: the patients a plan considers."""

    blank_is_missing = False

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            raise self.invalid("must be a JSON object")
        unknown = sorted(str(key) for key in data if key not in PatientFilterSet.FILTER_KEYS)
        if unknown:
            raise serializers.ValidationError(unknown_keys_sentence(unknown, "filters"))
        values: dict[str, str] = {}
        for key, value in data.items():
            try:
                text = filter_value(key, value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
            if text is not None:
                values[key] = text
        return values

    def value_schema(self) -> dict[str, Any]:
        return {"$ref": "#/components/schemas/PatientFiltersRequest"}

    def optional_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {"allOf": [schema], "nullable": True}


def filtered_patients(filters: dict[str, str] | None) -> QuerySet | None:
    """The ECM patients the filters select (422 naming every bad filter); None without
    filters: every ECM patient, which a plan reads faster than a filtered list."""
    if not filters:
        return None
    filterset = PatientFilterSet(data=filters or {}, queryset=patient_selectors.ecm_patients())
    return filterset.filtered()


class AutoAssignInput(Input):
    """``POST /lead_care_managers/auto_assign``."""

    role = ChoiceField(("olcm", "ilcm", "both"), required=True, help_text="The roles to plan.")
    mode = ChoiceField(
        ("fill", "rebalance"),
        help_text=(
            "`fill` (default): only counted patients missing the role; `rebalance`: also move "
            "patients from the most to the least utilized LCMs."
        ),
    )
    filters = PatientFiltersField(
        help_text="The keys of `POST /patients/filter`: narrows the patients considered."
    )
    lcm_user_ids = IdListField(
        max_length=MAX_MOVES, help_text="Only these Lead Care Managers receive patients."
    )
    max_moves = IntegerField(
        minimum=1, maximum=MAX_MOVES, help_text="Rebalance: at most this many moves (100)."
    )
    tolerance = NumberField(
        minimum=0,
        maximum=100,
        help_text="Rebalance: stop once the utilization spread is at most this (0.10).",
    )
    limit = IntegerField(
        minimum=1,
        maximum=MAX_PLAN_PATIENTS,
        help_text="Fill: at most this many patients per call (1000); the rest is "
        "`remaining_count`.",
    )
    reason = TextField(
        max_length=MAX_REASON_LENGTH, help_text="Kept on the assignment history and activity."
    )
    dry_run = BooleanField(help_text="`true` (default): preview only, nothing is written.")

    class Meta:
        ref_name = "AutoAssignBody"


DEFAULT_TOLERANCE = Fraction(1, 10)

# What a JSON Schema ``\s`` matches (ECMA-262 white space and line terminators): a reason made
# only of these is blank, here as in the schema's pattern.
_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
    + "".join(chr(code) for code in range(0x2000, 0x200B))
)


class RequiredReasonField(TextField):
    """A reason that must be given: missing, ``null``, empty or only white space is 422
    ("reason is required")."""

    def __init__(self, **kwargs: Any):
        super().__init__(required=True, **kwargs)

    def is_missing(self, data: Any) -> bool:
        blank = isinstance(data, str) and all(char in _WHITE_SPACE for char in data)
        return super().is_missing(data) or blank

    def value_schema(self) -> dict[str, Any]:
        schema = super().value_schema()
        return {
            **schema,
            "pattern": rf"^[^{UNSAFE_TEXT_CLASS}]*[^{UNSAFE_TEXT_CLASS}\s][^{UNSAFE_TEXT_CLASS}]*$",
        }


class TransferInput(Input):
    """``POST /lead_care_managers/{id}/transfer``."""

    role = ChoiceField(
        ("olcm", "ilcm", "both"), required=True, help_text="The roles of the LCM to transfer."
    )
    to_user_id = IdField(
        help_text=(
            "All the patients to this active Lead Care Manager (not the source; capacity does "
            "not stop it). Without it: each patient to the accepting LCM least utilized after "
            "the move, never past capacity."
        )
    )
    reason = RequiredReasonField(
        max_length=MAX_REASON_LENGTH,
        help_text="Why (required): kept on the assignment history and activity.",
    )
    limit = IntegerField(
        minimum=1,
        maximum=MAX_PLAN_PATIENTS,
        help_text="At most this many patients per call (1000); the rest is `remaining_count`.",
    )
    dry_run = BooleanField(help_text="`true` (default): preview only, nothing is written.")

    class Meta:
        ref_name = "TransferBody"
