"""The columns of the two import files and how each cell is parsed.

A parser takes the column's name and the cell (trimmed) and returns the value to store, or
raises ``FieldError`` with a sentence naming the column. Columns present in the header are
authoritative (an empty cell clears the value); columns absent from it leave the stored
values untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models

from patients.choices import AcuityLevel, Gender, MemberRecordStatus
from patients.models import EcmAuthorization, EcmEligibilityInformation, Patient
from patients.validators import cin_is_valid, email_is_valid, npi_is_valid, parse_date

MAX_SHOWN_VALUE = 40

Values = dict[str, Any]
Parser = Callable[[str, str], Any]
# A parsed value meaning "leave the stored value as it is" (a blank status, for example).
KEEP = object()


class FieldError(ValueError):
    """One cell is invalid; the message is a sentence naming the column."""


@dataclass(frozen=True)
class Column:
    name: str
    parse: Parser
    attr: str = ""
    required: bool = False

    @property
    def model_attr(self) -> str:
        return self.attr or self.name


def shown(raw: str) -> str:
    """A cell as error messages quote it: at most ``MAX_SHOWN_VALUE`` characters."""
    return raw if len(raw) <= MAX_SHOWN_VALUE else raw[: MAX_SHOWN_VALUE - 1] + "…"


def _text(
    model: type[models.Model],
    attr: str,
    check: Callable[[str], bool] | None = None,
    problem: str = "",
) -> Parser:
    """Free text within the model field's length; ``check`` (if any) must accept non-blanks."""
    max_length = model._meta.get_field(attr).max_length

    def parse(column: str, raw: str) -> str:
        if max_length and len(raw) > max_length:
            raise FieldError(f"{column} is longer than {max_length} characters")
        if raw and check is not None and not check(raw):
            raise FieldError(f"{column} {shown(raw)} {problem}")
        return raw

    return parse


def _date(column: str, raw: str) -> dt.date | None:
    try:
        return parse_date(raw)
    except ValueError:
        raise FieldError(f"{column} {shown(raw)} is not a valid date (YYYY-MM-DD)") from None


def _choice(choices: type[models.TextChoices], blank: Any = "") -> Parser:
    """One of ``choices`` (case-insensitive); a blank cell gives ``blank``."""
    values = frozenset(choices.values)
    allowed = ", ".join(choices.values)

    def parse(column: str, raw: str) -> Any:
        if not raw:
            return blank
        value = raw.lower()
        if value not in values:
            raise FieldError(f"{column} {shown(raw)} is not one of {allowed}")
        return value

    return parse


PATIENT_COLUMNS: tuple[Column, ...] = (
    Column("first_name", _text(Patient, "first_name"), required=True),
    Column("last_name", _text(Patient, "last_name"), required=True),
    # Also within EARLIEST_DATE_OF_BIRTH..today: checked with the row (see ChunkImporter).
    Column("date_of_birth", _date),
    Column("gender", _choice(Gender)),
    Column("phone", _text(Patient, "phone")),
    Column("email", _text(Patient, "email", email_is_valid, "is not a valid email address")),
    Column("street", _text(Patient, "street")),
    Column("city", _text(Patient, "city")),
    Column("state", _text(Patient, "state")),
    Column("zip", _text(Patient, "zip_code"), attr="zip_code"),
)
ELIGIBILITY_COLUMNS: tuple[Column, ...] = (
    Column("member_id", _text(EcmEligibilityInformation, "member_id"), required=True),
    Column(
        "cin", _text(EcmEligibilityInformation, "cin", cin_is_valid, "is not 9 letters or digits")
    ),
    Column("ecm_service_auth_id", _text(EcmEligibilityInformation, "ecm_service_auth_id")),
    Column("ecm_provider_name", _text(EcmEligibilityInformation, "ecm_provider_name")),
    Column(
        "ecm_npi", _text(EcmEligibilityInformation, "ecm_npi", npi_is_valid, "is not a valid NPI")
    ),
    Column("ecm_benefit_auth_eff_date", _date),
    Column("ecm_benefit_auth_end_date", _date),
    Column("acuity_level", _choice(AcuityLevel)),
    # Blank keeps an existing member's status; a new member starts as new_member.
    Column("member_record_status", _choice(MemberRecordStatus, blank=KEEP)),
)
AUTHORIZATION_COLUMNS: tuple[Column, ...] = (
    Column("member_id", _text(EcmEligibilityInformation, "member_id"), required=True),
    Column("auth_no", _text(EcmAuthorization, "auth_no"), required=True),
    Column("auth_type", _text(EcmAuthorization, "auth_type")),
    Column("authorization_type", _text(EcmAuthorization, "authorization_type")),
    Column("status", _text(EcmAuthorization, "status")),
    Column("start_date", _date),
    Column("expiration_date", _date),
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
