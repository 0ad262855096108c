"""Wire formats shared by every representation."""

import datetime as dt


def iso_timestamp(value: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and ``Z``: ``2024-01-15T10:00:00.000Z``."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def full_name(first_name: str | None, last_name: str | None) -> str | None:
    """``"First Last"`` as ``Patient.name`` and ``User.name`` make it, from a row's two
    columns; ``None`` when both are ``None`` (a LEFT JOIN that found no row)."""
    if first_name is None and last_name is None:
        return None
    return f"{first_name or ''} {last_name or ''}".strip()
