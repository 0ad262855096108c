"""``X-User-Token`` authentication."""

import datetime as dt

from django.db.models import Exists, OuterRef
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.choices import RoleName
from accounts.models import ApiToken, UserRole, hash_token

HEADER = "HTTP_X_USER_TOKEN"
# last_used_at is written at most this often per token, so reads do not become writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200


class UserTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates ``X-User-Token: <token>`` against the stored SHA-256 digest.

    Returns ``None`` when the header is absent (DRF then answers 401 through
    ``authenticate_header``) and raises ``AuthenticationFailed`` for a bad token.
    The token, its user and whether the user is an admin come back in one query.
    """

    keyword = "Token"

    def authenticate(self, request):
        raw = request.META.get(HEADER)
        if raw is None:
            return None
        raw = raw.strip()
        if not raw or len(raw) > MAX_TOKEN_LENGTH:
            raise exceptions.AuthenticationFailed("Authentication required")
        token = (
            ApiToken.objects.select_related("user")
            .annotate(
                user_is_admin=Exists(
                    UserRole.objects.filter(user_id=OuterRef("user_id"), role__name=RoleName.ADMIN)
                )
            )
            .filter(digest=hash_token(raw))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Authentication required")
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Token has been revoked")
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed("Token has expired")
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User account is inactive")
        user.is_api_admin = token.user_is_admin
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return user, token

    def authenticate_header(self, request):
        return self.keyword
