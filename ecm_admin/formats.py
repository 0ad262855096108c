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
