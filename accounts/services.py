"""Every write to users, roles and tokens."""

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import (
    TOKEN_DISPLAY_CHARS,
    ApiToken,
    Role,
    TokenKind,
    User,
    UserRole,
    generate_raw_token,
    hash_token,
)


@transaction.atomic
def user_upsert(
    *,
    email: str,
    first_name: str,
    last_name: str,
    roles: list[str],
    is_staff: bool = False,
    password: str | None = None,
) -> tuple[User, bool]:
    """Create or update the user with this email; roles are replaced by ``roles``."""
    email = email.strip().lower()
    user = User.objects.select_for_update().filter(email=email).first()
    created = user is None
    if created:
        user = User(email=email)
        user.set_unusable_password()
    user.first_name = first_name
    user.last_name = last_name
    user.is_staff = is_staff
    if password:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    user_set_roles(user=user, roles=roles)
    return user, created


@transaction.atomic
def user_set_roles(*, user: User, roles: list[str]) -> None:
    wanted = sorted({r.strip().lower() for r in roles if r.strip()})
    role_objs = []
    for name in wanted:
        role, _ = Role.objects.get_or_create(name=name)
        role_objs.append(role)
    UserRole.objects.filter(user=user).exclude(role__in=role_objs).delete()
    existing = set(UserRole.objects.filter(user=user).values_list("role_id", flat=True))
    UserRole.objects.bulk_create(
        [UserRole(user=user, role=role) for role in role_objs if role.id not in existing]
    )


def token_create(
    *,
    user: User,
    days: int | None = None,
    name: str = "",
    now: dt.datetime | None = None,
    kind: str = TokenKind.SERVICE,
    lifetime: dt.timedelta | None = None,
    idle_timeout: dt.timedelta | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token. Returns the stored row and the raw token, which is never stored.

    It expires after ``lifetime``, else ``days`` days, else ``API_TOKEN_DEFAULT_DAYS``;
    with an ``idle_timeout`` it also stops working after going unused that long.
    """
    now = now or timezone.now()
    if lifetime is None:
        days = settings.API_TOKEN_DEFAULT_DAYS if days is None else days
        lifetime = dt.timedelta(days=days)
    raw = generate_raw_token()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        digest=hash_token(raw),
        prefix=raw[:TOKEN_DISPLAY_CHARS],
        created_at=now,
        expires_at=now + lifetime,
        kind=kind,
        idle_timeout=idle_timeout,
    )
    return token, raw


def sign_in_token_create(*, user: User, now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A sign-in token: ``SIGN_IN_TOKEN_HOURS`` long, ``SIGN_IN_TOKEN_IDLE_MINUTES`` idle."""
    return token_create(
        user=user,
        name="sign-in",
        now=now,
        kind=TokenKind.SIGN_IN,
        lifetime=dt.timedelta(hours=settings.SIGN_IN_TOKEN_HOURS),
        idle_timeout=dt.timedelta(minutes=settings.SIGN_IN_TOKEN_IDLE_MINUTES),
    )


def token_revoke(*, token: ApiToken, now: dt.datetime | None = None) -> bool:
    """Revoke one token (sign out); ``False`` if it was revoked already."""
    now = now or timezone.now()
    return bool(
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    )


def tokens_revocable(*, user: User) -> QuerySet[ApiToken]:
    """The tokens of ``user`` that ``tokens_revoke`` revokes: all not yet revoked."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True)


def tokens_revoke(*, user: User, now: dt.datetime | None = None) -> int:
    """Revoke every live token of ``user``; returns how many were revoked."""
    now = now or timezone.now()
    return tokens_revocable(user=user).update(revoked_at=now)


def tokens_revoke_by_id(*, token_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Revoke the tokens among ``token_ids`` not revoked yet; returns how many were revoked."""
    now = now or timezone.now()
    return ApiToken.objects.filter(pk__in=list(token_ids), revoked_at__isnull=True).update(
        revoked_at=now
    )
