"""Pure checks of patient data, shared by the patient API and the CSV importers."""

import datetime as dt
import functools
import re

from django.core.validators import EmailValidator

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


# Dates of birth are accepted within these bounds (API, importers, Django admin).
EARLIEST_DATE_OF_BIRTH = dt.date(1900, 1, 1)


def date_of_birth_problem(value: dt.date | None, today: dt.date) -> str | None:
    """Why ``value`` is not an acceptable date of birth (a sentence starting with "Date of
    birth"), or ``None``; no date is acceptable (it is optional)."""
    if value is None:
        return None
    if value > today:
        return "Date of birth can't be in the future"
    if value < EARLIEST_DATE_OF_BIRTH:
        return f"Date of birth can't be before {EARLIEST_DATE_OF_BIRTH.isoformat()}"
    return None
