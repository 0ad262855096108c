"""Typed readers for environment variables."""

import math
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_weights(name: str, default: dict[str, int]) -> dict[str, int]:
    """``key:weight`` pairs, comma-separated, for exactly the keys of ``default``
    (``low:1,medium:2,high:3,unknown:2``); each weight an integer from 0 to 1000."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return dict(default)
    expected = ", ".join(f"{key}:N" for key in default)
    weights: dict[str, int] = {}
    for item in raw.split(","):
        key, _, value = item.strip().partition(":")
        key = key.strip().lower()
        try:
            weight = int(value.strip())
        except ValueError:
            weight = -1
        if key not in default or key in weights or not 0 <= weight <= 1000:
            raise ImproperlyConfigured(
                f"{name} must be {expected} (each key once, weights 0-1000), got {raw!r}"
            )
        weights[key] = weight
    if set(weights) != set(default):
        raise ImproperlyConfigured(f"{name} must give every one of {expected}, got {raw!r}")
    return weights


def env_seconds(name: str, default: float) -> float:
    """A duration in seconds, 0 or more (decimals allowed: ``0.5``); unset or blank:
    ``default``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan  # refused below
    if not math.isfinite(value) or value < 0:
        raise ImproperlyConfigured(
            f"{name} must be a number of seconds, 0 or more (such as 20 or 0.5), got {raw!r}"
        )
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (given in upper case), in any case; unset or blank: ``default``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().upper()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]
