"""Abuse limits, counted in Django's cache (see settings: ``CACHES``, ``CACHE_URL``).

- ``FailureLimiter``: failed authentications per client IP (any bad token, any bad sign-in)
  and per email (sign-in). Past ``AUTH_FAILURE_LIMIT`` failures within
  ``AUTH_FAILURE_WINDOW_SECONDS`` of the first one, the client (or the email) is refused
  with 429 and ``Retry-After`` until that window ends, before any credential is checked.
- ``TokenRateThrottle``: requests per token and minute (``API_RATE_LIMIT_PER_MINUTE``;
  requests without a token count per client IP), in fixed one-minute windows.

Counters live in the cache only; with the default per-process memory cache each gunicorn
worker counts on its own (configure a shared cache to count across workers).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from ecm_admin.request_context import client_ip

KEY_PREFIX = "abuse:"


def _digest(value: str) -> str:
    """Cache keys never hold an email or address in clear (and stay short and safe)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


class FailureLimiter:
    """Counts failures for one subject (``ip:1.2.3.4``, ``email:a@b``) in a window."""

    def __init__(self, subject: str):
        self.key = f"{KEY_PREFIX}fail:{_digest(subject)}"

    @property
    def limit(self) -> int:
        return settings.AUTH_FAILURE_LIMIT

    @property
    def window(self) -> int:
        return settings.AUTH_FAILURE_WINDOW_SECONDS

    def retry_after(self, now: float | None = None) -> float | None:
        """Seconds until the subject may try again, or ``None`` when it is not blocked."""
        if self.limit <= 0:
            return None
        state = cache.get_many([self.key, self.key + ":start"])
        count = state.get(self.key) or 0
        if count < self.limit:
            return None
        start = state.get(self.key + ":start") or (now or time.time())
        return max(1.0, start + self.window - (now or time.time()))

    def fail(self, now: float | None = None) -> None:
        if self.limit <= 0:
            return
        now = now or time.time()
        cache.add(self.key + ":start", now, self.window)
        if cache.add(self.key, 1, self.window):
            return
        try:
            cache.incr(self.key)
        except ValueError:  # expired between add and incr: a new window
            cache.set(self.key, 1, self.window)

    def reset(self) -> None:
        cache.delete_many([self.key, self.key + ":start"])


def ip_limiter(request) -> FailureLimiter:
    return FailureLimiter(f"ip:{client_ip(request) or 'unknown'}")


def email_limiter(email: str) -> FailureLimiter:
    return FailureLimiter(f"email:{email.strip().lower()}")


class TokenRateThrottle(BaseThrottle):
    """At most ``API_RATE_LIMIT_PER_MINUTE`` requests per token (or client IP) and minute."""

    WINDOW = 60

    def allow_request(self, request, view) -> bool:
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        if limit <= 0:
            return True
        token = getattr(request, "auth", None)
        ident = f"token:{token.pk}" if getattr(token, "pk", None) else f"ip:{client_ip(request)}"
        now = time.time()
        window = int(now // self.WINDOW)
        key = f"{KEY_PREFIX}rate:{_digest(ident)}:{window}"
        if cache.add(key, 1, self.WINDOW + 5):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:
                cache.set(key, 1, self.WINDOW + 5)
                count = 1
        self._wait = (window + 1) * self.WINDOW - now
        return count <= limit

    def wait(self) -> float | None:
        return math.ceil(getattr(self, "_wait", self.WINDOW))
