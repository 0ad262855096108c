"""The columns of the two import files and how each cell is parsed.

A cell (trimmed) is parsed by the rule of the model field its column sets
(``patients.rules``): the value to store, or ``RuleError`` with the sentence the API and the
Django admin say for the same value. Columns present in the header are authoritative (an empty
cell clears the value); columns absent from it leave the stored values untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from patients.models import EcmAuthorization, EcmEligibilityInformation, Patient
from patients.rules import FieldRule, rule

MAX_SHOWN_VALUE = 40

Values = dict[str, Any]
# A parsed value meaning "leave the stored value as it is" (a blank status, for example).
KEEP = object()


@dataclass(frozen=True)
class Column:
    """A column of an import file and the rule of the model field it sets.

    ``required``: the header must have it. ``any_case``: a choice in any case ("High").
    ``blank_keeps``: a blank cell leaves the stored value as it is.
    """

    name: str
    rule: FieldRule
    required: bool = False
    any_case: bool = False
    blank_keeps: bool = False
    parse: Callable[[str], Any] = field(init=False, repr=False, compare=False)

    @property
    def model_attr(self) -> str:
        return self.rule.attr

    @property
    def label(self) -> str:
        return self.rule.label

    def __post_init__(self) -> None:
        # ``parse(raw)``: the value to store (``KEEP`` for a blank cell that keeps it), or
        # ``RuleError``. The cell's text was checked by the text rule when the CSV reader read
        # it (a refused cell is reported by the reader and never parsed). A plain column's is
        # its rule's own (one call per cell, on every row of a feed).
        plain = not (self.any_case or self.blank_keeps)
        object.__setattr__(self, "parse", self.rule.clean_checked if plain else self._parse)

    def _parse(self, raw: str) -> Any:
        if self.blank_keeps and not raw:
            return KEEP
        return self.rule.clean_checked(raw.lower() if self.any_case else raw)


def shown(raw: str) -> str:
    """A cell as error messages quote it: at most ``MAX_SHOWN_VALUE`` characters."""
    return raw if len(raw) <= MAX_SHOWN_VALUE else raw[: MAX_SHOWN_VALUE - 1] + "…"


def _columns(model: type[models.Model], *names: str, **options: Any) -> tuple[Column, ...]:
    return tuple(Column(name, rule(model, name), **options) for name in names)


PATIENT_COLUMNS: tuple[Column, ...] = (
    # The date of birth is also within EARLIEST_DATE_OF_BIRTH..today: checked with the row.
    *_columns(Patient, "first_name", "last_name", required=True),
    *_columns(Patient, "date_of_birth"),
    *_columns(Patient, "gender", any_case=True),
    *_columns(Patient, "phone", "email", "street", "city", "state"),
    Column("zip", rule(Patient, "zip_code")),
)
ELIGIBILITY_COLUMNS: tuple[Column, ...] = (
    *_columns(EcmEligibilityInformation, "member_id", required=True),
    *_columns(
        EcmEligibilityInformation,
        "cin",
        "ecm_service_auth_id",
        "ecm_provider_name",
        "ecm_npi",
        "ecm_benefit_auth_eff_date",
        "ecm_benefit_auth_end_date",
    ),
    *_columns(EcmEligibilityInformation, "acuity_level", any_case=True),
    # Blank keeps an existing member's status; a new member starts as new_member.
    *_columns(EcmEligibilityInformation, "member_record_status", any_case=True, blank_keeps=True),
)
AUTHORIZATION_COLUMNS: tuple[Column, ...] = (
    *_columns(EcmEligibilityInformation, "member_id", required=True),
    *_columns(EcmAuthorization, "auth_no", required=True),
    *_columns(
        EcmAuthorization,
        "auth_type",
        "authorization_type",
        "status",
        "start_date",
        "expiration_date",
    ),
)


def present(columns: Sequence[Column], header: Sequence[str]) -> list[Column]:
    """The columns the header has, in the order of ``columns``."""
    return [column for column in columns if column.name in header]


def model_values(values: Values, columns: Sequence[Column]) -> Values:
    """``values`` (keyed by column name) as model attributes, without KEEP entries."""
    return {
        column.model_attr: value
        for column in columns
        if (value := values.get(column.name, KEEP)) is not KEEP
    }


def changes(obj: models.Model, values: Values) -> Values:
    """The entries of ``values`` that differ from ``obj``'s attributes."""
    return {attr: value for attr, value in values.items() if getattr(obj, attr) != value}


def assign(obj: models.Model, values: Values) -> None:
    for attr, value in values.items():
        setattr(obj, attr, value)
