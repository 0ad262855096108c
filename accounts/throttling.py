"""The abuse limits: who gets 429, and when (README, "What 429 means, and for whom").

Counted in ``accounts.counters`` (shared by every worker and instance), in fixed windows that
open at a key's first hit. ``AUTH_FAILURE_LIMIT`` failures within
``AUTH_FAILURE_WINDOW_SECONDS`` lock a key until that window ends; 0 turns the failure limits
off.

- **Tokens.** A valid token is always served, subject only to its own rate
  (``TokenRateThrottle``: ``API_RATE_LIMIT_PER_MINUTE`` requests in a minute). A token that is
  unknown, malformed, expired, idle-expired or revoked, or whose user is inactive, counts one
  failure for the client's address (``token_failure``): the first ``AUTH_FAILURE_LIMIT`` get
  401, the rest 429 until the window ends. These failures affect nothing else: a 256-bit token
  cannot be guessed, and what sends dead tokens is mostly an idle browser tab or a signed-out
  client, so they must not lock out the valid tokens or the sign-ins behind the same address.
- **Sign-ins** (``POST /v1/auth/tokens`` and the Django admin's login, same counters):
  ``SignInGate``.
- Requests without a token (sign-in) count per client address against
  ``API_RATE_LIMIT_PER_MINUTE``.

Keys never hold an email, an address or a token in clear: a digest of each.
"""

from __future__ import annotations

import hashlib
import math

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from accounts.counters import KEY_PREFIX, store
from ecm_admin.request_context import client_ip

RATE_WINDOW_SECONDS = 60
# A successful sign-in makes its address known for its email this long (see SignInGate).
KNOWN_ADDRESS_DAYS = 30


def _digest(value: str) -> str:
    """Keys never hold an email, address or token in clear (and stay short and safe)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _key(kind: str, subject: str) -> str:
    return f"{KEY_PREFIX}{kind}:{_digest(subject)}"


def _address(request) -> str:
    return client_ip(request) or "unknown"


def _failure_limit() -> int:
    return settings.AUTH_FAILURE_LIMIT


def token_failure(request) -> float | None:
    """A token was refused: one failure for the client's address. ``None`` while the address is
    within the limit (answer 401), else the seconds until its window ends (answer 429)."""
    if _failure_limit() <= 0:
        return None
    key = _key("token-failures", _address(request))
    count = store().hit([key], settings.AUTH_FAILURE_WINDOW_SECONDS)[key]
    if count.hits <= _failure_limit():
        return None
    return count.seconds_left()


class SignInGate:
    """The failure limits on one sign-in (an email and a password) from one client address.

    1. Every attempt first takes one hit on its email's and its address's failure counters, in
       one atomic operation: concurrent attempts cannot slip past a limit together.
    2. Email past ``AUTH_FAILURE_LIMIT``: refused (429), the password is not checked, even a
       right one, until the window ends; otherwise the lock would still tell a guesser which
       guess is right, and protect nothing.
    3. Address past the limit: refused the same way, unless this email has signed in from this
       address within ``KNOWN_ADDRESS_DAYS``. Staff behind one clinic address keep signing in
       while someone there mistypes (or guesses) other accounts' passwords; a guesser spraying
       one password over many emails is stopped, because letting right passwords through would
       again tell which guess is right.
    4. A refused attempt gives its hits back (it is no failure). A wrong password keeps them
       (401; 429 if the address is past the limit, which only a known email reaches). A right
       one gives back the address's hit, clears the email's counter and makes the address known
       for the email.
    """

    def __init__(self, request, email: str):
        address = _address(request)
        email = email.strip().lower()
        self.email_key = _key("signin-email", email)
        self.address_key = _key("signin-address", address)
        self.known_key = _key("signin-known", f"{email}\n{address}")
        self.active = _failure_limit() > 0
        self.address_count = None

    def admit(self) -> float | None:
        """Before the password is checked: ``None`` to go on, or the seconds to wait (429)."""
        if not self.active:
            return None
        counters, limit = store(), _failure_limit()
        window = settings.AUTH_FAILURE_WINDOW_SECONDS
        counts = counters.hit([self.email_key, self.address_key], window)
        by_email, self.address_count = counts[self.email_key], counts[self.address_key]
        refused = None
        if by_email.hits > limit:
            refused = by_email
        elif self.address_count.hits > limit and not counters.peek([self.known_key]):
            refused = self.address_count
        if refused is None:
            return None
        counters.take_back([self.email_key, self.address_key])
        return refused.seconds_left()

    def failed(self) -> float | None:
        """After a wrong password: ``None`` (401), or the seconds to wait when the address is
        past the limit (429)."""
        if not self.active or self.address_count.hits <= _failure_limit():
            return None
        return self.address_count.seconds_left()

    def succeeded(self) -> None:
        if not self.active:
            return
        counters = store()
        counters.take_back([self.address_key], reset=[self.email_key])
        counters.remember(self.known_key, KNOWN_ADDRESS_DAYS * 86400)


class TokenRateThrottle(BaseThrottle):
    """At most ``API_RATE_LIMIT_PER_MINUTE`` requests per token (requests without one: per client
    address) in a minute from the first."""

    def allow_request(self, request, view) -> bool:
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        if limit <= 0:
            return True
        token = getattr(request, "auth", None)
        digest = getattr(token, "digest", None)
        key = _key("rate-token", digest) if digest else _key("rate-address", _address(request))
        count = store().hit([key], RATE_WINDOW_SECONDS)[key]
        self._wait = count.seconds_left()
        return count.hits <= limit

    def wait(self) -> float | None:
        return math.ceil(getattr(self, "_wait", RATE_WINDOW_SECONDS))
