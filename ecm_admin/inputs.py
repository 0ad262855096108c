"""Small, strict readers for request input. Failures raise 422 with a sentence naming the field."""

from collections.abc import Iterable, Mapping
from typing import Any

from ecm_admin.exceptions import UnprocessableEntity

MAX_ID = 2**63 - 1


def json_object(data: Any, what: str = "Request body") -> Mapping[str, Any]:
    """The parsed JSON body must be an object."""
    if not isinstance(data, Mapping):
        raise UnprocessableEntity(f"{what} must be a JSON object")
    return data


def reject_unknown_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
    allowed = set(allowed)
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        place = f" in {where}" if where else ""
        raise UnprocessableEntity(
            [f"Unknown key{'s' if len(unknown) > 1 else ''}{place}: {', '.join(unknown)}"]
        )


def parse_id(name: str, value: Any, *, required: bool = True) -> int | None:
    """A positive integer id from JSON (int or digit string) or a query string."""
    if value is None or value == "":
        if required:
            raise UnprocessableEntity(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise UnprocessableEntity(f"{name} must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise UnprocessableEntity(f"{name} must be an integer")
    if number < 1 or number > MAX_ID:
        raise UnprocessableEntity(f"{name} must be a positive integer")
    return number
