"""``X-User-Token`` authentication."""

import datetime as dt

from django.db import DEFAULT_DB_ALIAS
from django.db.models import BooleanField
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.choices import RoleName
from accounts.models import (
    LAST_USED_RESOLUTION,
    TOKEN_DISPLAY_CHARS,
    TOKEN_PREFIX,
    ApiToken,
    User,
    hash_token,
)
from accounts.throttling import token_failure
from audit.services import credentials_note
from ecm_admin.exceptions import TooManyFailedAttempts
from ecm_admin.statements import Select

HEADER = "HTTP_X_USER_TOKEN"
MAX_TOKEN_LENGTH = 200

IDLE_EXPIRED = "Token has expired (idle)"


def idle_expired(token: ApiToken, now: dt.datetime) -> bool:
    """See ``ApiToken.is_idle`` (the 1-minute resolution of ``last_used_at`` is allowed for)."""
    return token.is_idle(now)


def _token_lookup() -> Select:
    """The token by its digest, with its user and whether the user holds the admin role, in
    one written-out query: it runs on every request."""
    token_fields = [f"t.{field.attname}" for field in ApiToken._meta.concrete_fields]
    user_fields = [f"u.{field.attname}" for field in User._meta.concrete_fields]
    is_admin = (
        "EXISTS (SELECT 1 FROM accounts_userrole ur JOIN accounts_role r ON r.id = ur.role_id"
        " WHERE ur.user_id = t.user_id AND r.name = %s)"
    )
    return Select(
        "SELECT {columns} FROM accounts_apitoken t JOIN accounts_user u ON u.id = t.user_id"
        " WHERE t.digest = %s",
        tables={"t": ApiToken, "u": User},
        columns=[*token_fields, *user_fields, ("user_is_admin", is_admin, BooleanField())],
    )


_TOKEN_LOOKUP = _token_lookup()


def find_token(digest: str) -> ApiToken | None:
    """The token with this digest, its ``user`` loaded and ``user.is_api_admin`` set."""
    rows = _TOKEN_LOOKUP.rows([RoleName.ADMIN, digest])
    if not rows:
        return None
    values = rows[0]
    token_fields = ApiToken._meta.concrete_fields
    user_fields = User._meta.concrete_fields
    split = len(token_fields)
    token = ApiToken.from_db(
        DEFAULT_DB_ALIAS, [field.attname for field in token_fields], values[:split]
    )
    user = User.from_db(
        DEFAULT_DB_ALIAS,
        [field.attname for field in user_fields],
        values[split : split + len(user_fields)],
    )
    user.is_api_admin = values[-1]
    token.user = user
    return token


class UserTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates ``X-User-Token: <token>`` against the stored SHA-256 digest.

    Returns ``None`` when the header is absent (DRF then answers 401 through
    ``authenticate_header``) and raises ``AuthenticationFailed`` for a bad token.
    The token, its user and whether the user is an admin come back in one query.

    The token is found by its SHA-256 digest (a unique index). The lookup's timing can tell at
    most how much of a digest matched, which says nothing about a token that hashes to it, so
    no constant-time comparison follows it.

    A valid token is served whatever its address did before (its own rate is
    ``TokenRateThrottle``'s); a refused one counts a failure for the client's address, and
    past the limit the answer is 429 instead of 401 (``accounts.throttling.token_failure``).
    """

    keyword = "Token"

    def authenticate(self, request):
        raw = request.META.get(HEADER)
        if raw is None:
            return None
        raw = raw.strip()
        if not raw or len(raw) > MAX_TOKEN_LENGTH:
            self._fail(request, "Authentication required")
        digest = hash_token(raw)
        token = find_token(digest)
        if token is None:
            # Only the recognisable, non-secret start of something shaped like a token.
            prefix = raw[:TOKEN_DISPLAY_CHARS] if raw.startswith(TOKEN_PREFIX) else ""
            self._fail(request, "Authentication required", prefix=prefix)
        credentials_note(request, token_prefix=token.prefix, user_id=token.user_id)
        now = timezone.now()
        if token.revoked_at is not None:
            self._fail(request, "Token has been revoked")
        if token.expires_at <= now:
            self._fail(request, "Token has expired")
        if idle_expired(token, now):
            self._fail(request, IDLE_EXPIRED)
        user = token.user
        if not user.is_active:
            self._fail(request, "User account is inactive")
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return user, token

    @staticmethod
    def _fail(request, message: str, prefix: str | None = None):
        if prefix is not None:
            credentials_note(request, token_prefix=prefix)
        wait = token_failure(request)
        if wait is not None:
            raise TooManyFailedAttempts(wait)
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        return self.keyword
