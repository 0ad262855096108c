"""Every rule a field of the service's records must meet, each defined once with the sentence
that says why a value breaks it.

The API (``patients.serializers``, ``patients.services``), both CSV imports
(``patients.importers``) and the Django admin forms (``patients.forms``) call these rules, so a
bad value gets the same sentence wherever it is entered: the API lists it after
"Validation failed: ", an import after "line N: ", the admin shows it under the field. The
database keeps the choices and the date order too (``CheckConstraint``), as a last defence.

- ``FieldRule``: one field's rule: blank, length, text (``ecm_admin.text``), format (phone, ZIP,
  state, email, NPI, CIN), choices, date. Its length, choices and whether it may be blank come
  from the model field; its label names it in the sentences.
- ``DateOrder``: an end date not before its start date.
- ``date_of_birth_problem``: a date of birth between 1900-01-01 and today.
- The checks they are made of (NPI check digit, CIN, email, strict dates): pure functions.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.core.validators import EmailValidator
from django.db import models
from django.utils import timezone

from accounts.models import User
from ecm_admin.text import text_problem
from patients.models import EcmAuthorization, EcmEligibilityInformation, Patient

# --- the checks ------------------------------------------------------------------------------

# The NPI check digit is the Luhn digit of the nine leading digits prefixed with 80840
# (the ISO issuer prefix for US health identifiers).
NPI_LUHN_PREFIX = "80840"

_NPI = re.compile(r"[0-9]{10}")
_NPI_BASE = re.compile(r"[0-9]{9}")
_CIN = re.compile(r"[A-Za-z0-9]{9}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Luhn: a doubled digit, its two digits added up.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def npi_check_digit(base: str) -> str:
    """The check digit that completes the nine-digit NPI ``base``."""
    if not _NPI_BASE.fullmatch(base):
        raise ValueError("An NPI base is nine digits")
    # Luhn: double every second digit from the right, the check digit's place not included.
    digits = NPI_LUHN_PREFIX + base
    total = sum(_DOUBLED[int(char)] for char in digits[::-2])
    total += sum(int(char) for char in digits[-2::-2])
    return str((10 - total % 10) % 10)


def npi_is_valid(value: str) -> bool:
    """Ten digits whose last one is the NPI check digit of the nine before it."""
    if not isinstance(value, str) or not _NPI.fullmatch(value):
        return False
    return npi_check_digit(value[:9]) == value[9]


def cin_is_valid(value: object) -> bool:
    """A Medi-Cal Client Index Number: exactly nine ASCII letters or digits."""
    return isinstance(value, str) and _CIN.fullmatch(value) is not None


_EMAIL = EmailValidator()
# Django's own pattern, compiled here: Django keeps it as a lazy object, reached through a
# proxy on every call (an import checks an address on every row).
_EMAIL_USER = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)


def email_is_valid(value: object) -> bool:
    """Django's ``EmailValidator`` rules, as a yes or no; a domain's verdict is kept (a feed
    has thousands of addresses at a handful of domains)."""
    if not isinstance(value, str) or not value or "@" not in value or len(value) > 320:
        return False
    user_part, domain_part = value.rsplit("@", 1)
    return _EMAIL_USER.match(user_part) is not None and _email_domain_is_valid(domain_part)


@functools.lru_cache(maxsize=1024)
def _email_domain_is_valid(domain_part: str) -> bool:
    return domain_part in _EMAIL.domain_allowlist or _EMAIL.validate_domain_part(domain_part)


def parse_date(value: str | None) -> dt.date | None:
    """A strict ``YYYY-MM-DD`` date; empty gives ``None``.

    Raises ``ValueError`` for any other shape and for impossible dates (2024-02-30).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(f"{value!r} is not a date in YYYY-MM-DD form")
    return dt.date.fromisoformat(value)


# --- formats -----------------------------------------------------------------------------------


class Format:
    """What a text field's value must look like, and what is said when it does not:
    ``pattern`` (a regular expression the whole value matches, also the OpenAPI schema's)
    and/or ``check``; ``upper``: the value is stored in capitals."""

    def __init__(
        self,
        phrase: str,
        pattern: str = "",
        *,
        check: Callable[[str], bool] | None = None,
        upper: bool = False,
    ):
        self.phrase = phrase  # after the field's label
        self.pattern = pattern
        self.upper = upper
        matches = re.compile(pattern).fullmatch if pattern else None
        if matches is None or check is None:
            self.is_valid: Callable[[str], object] = matches or check
        else:
            self.is_valid = lambda value: matches(value) is not None and check(value)


PHONE = Format("is not a valid phone number", r"\+?[0-9 ().-]{7,30}")
ZIP = Format("must be a 5-digit ZIP code (or ZIP+4)", r"[0-9]{5}(-[0-9]{4})?")
STATE = Format("must be a 2-letter state code", r"[A-Za-z]{2}", upper=True)
EMAIL = Format("is not a valid email address", check=email_is_valid)
CIN = Format("must be 9 letters or digits", _CIN.pattern, upper=True)
NPI = Format(
    "is not a valid NPI (10 digits with a valid check digit)", _NPI.pattern, check=npi_is_valid
)


# --- field rules -------------------------------------------------------------------------------


class RuleError(ValueError):
    """A value breaks a field's rule; the message is the sentence, naming the field by its
    label; ``phrase`` is the sentence without the label (for a caller that names the field its
    own way, such as a command-line option)."""

    def __init__(self, label: str, phrase: str):
        super().__init__(f"{label} {phrase}")
        self.phrase = phrase


class FieldRule:
    """The rule of one model field. ``clean`` gives the value to store or raises ``RuleError``.

    ``required`` (may not be blank), ``max_length`` and ``choices`` are the model field's;
    ``label`` names the field at the start of its sentences.
    """

    def __init__(
        self, model: type[models.Model], attr: str, label: str, format: Format | None = None
    ):
        field = model._meta.get_field(attr)
        self.model = model
        self.attr = attr
        self.label = label
        self.format = format
        self.required = not field.blank
        self.is_date = isinstance(field, models.DateField)
        self.choices: tuple[str, ...] = tuple(str(value) for value, _ in field.flatchoices)
        self._choice_set = frozenset(self.choices)
        # A choice or a date has its own limit.
        self.max_length = 0 if self.choices or self.is_date else field.max_length or 0

    def __repr__(self) -> str:
        return f"<FieldRule {self.model.__name__}.{self.attr}>"

    def error(self, phrase: str) -> RuleError:
        return RuleError(self.label, phrase)

    def clean(self, value: Any) -> Any:
        """The value to store: text trimmed (a state or CIN in capitals), a date as a date.
        ``None`` or blank clears an optional field ("", a date ``None``)."""
        if isinstance(value, str) and (problem := text_problem(value)) is not None:
            raise self.error(problem)
        return self.clean_checked(value)

    def clean_checked(self, value: Any) -> Any:
        """``clean`` for text the text rule has accepted already (a cell the CSV reader read
        is checked by it, as a JSON body is by the parser)."""
        if not isinstance(value, str):
            if value is None:
                return self._blank()
            raise self.error("must be a string")
        value = value.strip()
        if not value:
            return self._blank()
        if self.max_length and len(value) > self.max_length:
            raise self.error(f"is too long (maximum is {self.max_length} characters)")
        if self.is_date:
            try:
                return parse_date(value)
            except ValueError:
                raise self.error("must be a valid date (YYYY-MM-DD)") from None
        if self.choices and value not in self._choice_set:
            raise self.error(f"must be one of: {', '.join(self.choices)}")
        format = self.format
        if format is not None:
            if not format.is_valid(value):
                raise self.error(format.phrase)
            if format.upper:
                return value.upper()
        return value

    def _blank(self) -> Any:
        if self.required:
            raise self.error("can't be blank")
        return None if self.is_date else ""

    def problem(self, value: Any) -> str | None:
        """The sentence ``clean`` would raise, or ``None``."""
        try:
            self.clean(value)
        except RuleError as exc:
            return str(exc)
        return None


RULES: dict[tuple[type[models.Model], str], FieldRule] = {
    (rule.model, rule.attr): rule
    for rule in (
        FieldRule(Patient, "first_name", "First name"),
        FieldRule(Patient, "last_name", "Last name"),
        FieldRule(Patient, "date_of_birth", "Date of birth"),
        FieldRule(Patient, "gender", "Gender"),
        FieldRule(Patient, "phone", "Phone", PHONE),
        FieldRule(Patient, "email", "Email", EMAIL),
        FieldRule(Patient, "street", "Street"),
        FieldRule(Patient, "city", "City"),
        FieldRule(Patient, "state", "State", STATE),
        FieldRule(Patient, "zip_code", "Zip", ZIP),
        FieldRule(EcmEligibilityInformation, "member_id", "Member ID"),
        FieldRule(EcmEligibilityInformation, "cin", "CIN", CIN),
        FieldRule(EcmEligibilityInformation, "ecm_service_auth_id", "ECM service auth ID"),
        FieldRule(EcmEligibilityInformation, "ecm_provider_name", "ECM provider name"),
        FieldRule(EcmEligibilityInformation, "ecm_npi", "ECM NPI", NPI),
        FieldRule(
            EcmEligibilityInformation,
            "ecm_benefit_auth_eff_date",
            "ECM benefit auth effective date",
        ),
        FieldRule(
            EcmEligibilityInformation, "ecm_benefit_auth_end_date", "ECM benefit auth end date"
        ),
        FieldRule(EcmEligibilityInformation, "acuity_level", "Acuity level"),
        FieldRule(EcmEligibilityInformation, "member_record_status", "Member record status"),
        FieldRule(EcmAuthorization, "auth_no", "Auth number"),
        FieldRule(EcmAuthorization, "auth_type", "Auth type"),
        FieldRule(EcmAuthorization, "authorization_type", "Authorization type"),
        FieldRule(EcmAuthorization, "status", "Status"),
        FieldRule(EcmAuthorization, "start_date", "Start date"),
        FieldRule(EcmAuthorization, "expiration_date", "Expiration date"),
        FieldRule(User, "email", "Email", EMAIL),
    )
}


def rule(model: type[models.Model], attr: str) -> FieldRule:
    return RULES[model, attr]


# --- rules of a record as a whole --------------------------------------------------------------


def _within_sentence(label: str) -> str:
    """A label inside a sentence: "Start date" as "start date", "ECM ..." as it is."""
    return label[0].lower() + label[1:] if label[1:2].islower() else label


class DateOrder:
    """An end date may not be before its start date (either may be missing)."""

    def __init__(self, model: type[models.Model], start: str, end: str):
        self.start = rule(model, start)
        self.end = rule(model, end)

    def problem(self, start: dt.date | None, end: dt.date | None) -> str | None:
        if start is None or end is None or end >= start:
            return None
        return f"{self.end.label} can't be before the {_within_sentence(self.start.label)}"

    def problem_in(
        self, values: Mapping[str, Any], stored: models.Model | None = None
    ) -> str | None:
        """The problem of the dates ``values`` (by attribute) sets, if it sets either: a date
        it does not set is ``stored``'s (without ``stored`` only both set are checked)."""
        start, end = self.start.attr, self.end.attr
        if stored is None and not (start in values and end in values):
            return None
        if start not in values and end not in values:
            return None
        return self.problem(
            values[start] if start in values else getattr(stored, start),
            values[end] if end in values else getattr(stored, end),
        )


DATE_ORDERS: dict[type[models.Model], DateOrder] = {
    EcmEligibilityInformation: DateOrder(
        EcmEligibilityInformation, "ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date"
    ),
    EcmAuthorization: DateOrder(EcmAuthorization, "start_date", "expiration_date"),
}

# Dates of birth are accepted within these bounds (API, importers, Django admin).
EARLIEST_DATE_OF_BIRTH = dt.date(1900, 1, 1)


def date_of_birth_problem(value: dt.date | None, today: dt.date | None = None) -> str | None:
    """Why ``value`` is not an acceptable date of birth (a sentence starting with "Date of
    birth"), or ``None``; no date is acceptable (it is optional). Checked when a date of birth
    is set, so a stored one out of bounds does not block other changes."""
    if value is None:
        return None
    label = rule(Patient, "date_of_birth").label
    if value > (today or timezone.localdate()):
        return f"{label} can't be in the future"
    if value < EARLIEST_DATE_OF_BIRTH:
        return f"{label} can't be before {EARLIEST_DATE_OF_BIRTH.isoformat()}"
    return None
