"""Pure checks of patient data, shared by the patient API and the CSV importers."""

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

# The NPI check digit is the Luhn digit of the nine leading digits prefixed with 80840
# (the ISO issuer prefix for US health identifiers).
NPI_LUHN_PREFIX = "80840"

_NPI = re.compile(r"[0-9]{10}")
_NPI_BASE = re.compile(r"[0-9]{9}")
_CIN = re.compile(r"[A-Za-z0-9]{9}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_validate_email = EmailValidator()


def npi_check_digit(base: str) -> str:
    """The check digit that completes the nine-digit NPI ``base``."""
    if not _NPI_BASE.fullmatch(base):
        raise ValueError("An NPI base is nine digits")
    total = 0
    # Luhn: double every second digit from the right, the check digit's place not included.
    for position, char in enumerate(reversed(NPI_LUHN_PREFIX + base)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def npi_is_valid(value: str) -> bool:
    """Ten digits whose last one is the NPI check digit of the nine before it."""
    if not isinstance(value, str) or not _NPI.fullmatch(value):
        return False
    return npi_check_digit(value[:9]) == value[9]


def cin_is_valid(value: object) -> bool:
    """A Medi-Cal Client Index Number: exactly nine ASCII letters or digits."""
    return isinstance(value, str) and _CIN.fullmatch(value) is not None


def email_is_valid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        _validate_email(value)
    except ValidationError:
        return False
    return True


def parse_date(value: str | None) -> dt.date | None:
    """A strict ``YYYY-MM-DD`` date; empty gives ``None``.

    Raises ``ValueError`` for any other shape and for impossible dates (2024-02-30).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError(f"{value!r} is not a date in YYYY-MM-DD form")
    return dt.date.fromisoformat(value)
