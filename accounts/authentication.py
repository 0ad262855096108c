"""``X-User-Token`` authentication."""

import datetime as dt
import hmac

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.choices import RoleName
from accounts.models import (
    LAST_USED_RESOLUTION,
    TOKEN_DISPLAY_CHARS,
    TOKEN_PREFIX,
    ApiToken,
    Role,
    UserRole,
    hash_token,
)
from accounts.throttling import ip_limiter
from audit.services import note_credentials

# A module reference: ecm_admin.exceptions imports DRF views, which import this module.
from ecm_admin import exceptions as api_errors

HEADER = "HTTP_X_USER_TOKEN"
MAX_TOKEN_LENGTH = 200

IDLE_EXPIRED = "Token has expired (idle)"


def idle_expired(token: ApiToken, now: dt.datetime) -> bool:
    """See ``ApiToken.is_idle`` (the 1-minute resolution of ``last_used_at`` is allowed for)."""
    return token.is_idle(now)


def _user_is_admin() -> RawSQL:
    """Whether the token's user holds the admin role: written out, because this runs on
    every request and the ORM's ``Exists(...)`` costs about a millisecond to build."""
    qn = connection.ops.quote_name
    user_roles = qn(UserRole._meta.db_table)
    roles = qn(Role._meta.db_table)
    sql = (
        f"EXISTS (SELECT 1 FROM {user_roles} ur JOIN {roles} r ON r.id = ur.role_id"
        f" WHERE ur.user_id = {qn(ApiToken._meta.db_table)}.user_id AND r.name = %s)"
    )
    return RawSQL(sql, [RoleName.ADMIN], output_field=BooleanField())


class UserTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates ``X-User-Token: <token>`` against the stored SHA-256 digest.

    Returns ``None`` when the header is absent (DRF then answers 401 through
    ``authenticate_header``) and raises ``AuthenticationFailed`` for a bad token.
    The token, its user and whether the user is an admin come back in one query.

    The token is found by its digest (a unique index), and the digest compared again in
    constant time. Each failure counts against the client's address; past the limit the
    client gets 429 before its token is even looked at.
    """

    keyword = "Token"

    def authenticate(self, request):
        raw = request.META.get(HEADER)
        if raw is None:
            return None
        limiter = ip_limiter(request)
        wait = limiter.retry_after()
        if wait is not None:
            raise api_errors.TooManyFailedAttempts(wait)
        raw = raw.strip()
        if not raw or len(raw) > MAX_TOKEN_LENGTH:
            self._fail(request, limiter, "Authentication required")
        digest = hash_token(raw)
        token = (
            ApiToken.objects.select_related("user")
            .annotate(user_is_admin=_user_is_admin())
            .filter(digest=digest)
            .order_by()[:1]  # the digest is unique: no ORDER BY to build
        )
        token = next(iter(token), None)
        if token is None or not hmac.compare_digest(token.digest, digest):
            # Only the recognisable, non-secret start of something shaped like a token.
            prefix = raw[:TOKEN_DISPLAY_CHARS] if raw.startswith(TOKEN_PREFIX) else ""
            self._fail(request, limiter, "Authentication required", prefix=prefix)
        note_credentials(request, token_prefix=token.prefix, user_id=token.user_id)
        now = timezone.now()
        if token.revoked_at is not None:
            self._fail(request, limiter, "Token has been revoked")
        if token.expires_at <= now:
            self._fail(request, limiter, "Token has expired")
        if idle_expired(token, now):
            self._fail(request, limiter, IDLE_EXPIRED)
        user = token.user
        if not user.is_active:
            self._fail(request, limiter, "User account is inactive")
        user.is_api_admin = token.user_is_admin
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return user, token

    @staticmethod
    def _fail(request, limiter, message: str, prefix: str | None = None):
        if prefix is not None:
            note_credentials(request, token_prefix=prefix)
        limiter.fail()
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        return self.keyword
