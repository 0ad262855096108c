"""Sign-in representations: each shape declared once (a ``TypedDict``, which the OpenAPI
document is built from) and rendered by a function."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, TypedDict

from accounts.models import ApiToken, User
from ecm_admin.formats import iso_timestamp
from ecm_admin.shapes import Spec


class SignedInUser(TypedDict):
    id: int
    name: str
    email: str
    roles: Annotated[list[str], Spec("Sorted role names.")]


class SignInToken(TypedDict):
    token: Annotated[str, Spec("Send it as `X-User-Token`. Shown once.")]
    expires_at: dt.datetime
    user: SignedInUser


def render_signed_in_user(user: User) -> SignedInUser:
    return {"id": user.pk, "name": user.name, "email": user.email, "roles": user.role_names()}


def render_sign_in_token(token: ApiToken, raw: str) -> SignInToken:
    """A token just issued, with ``raw``, the token itself (never stored)."""
    return {
        "token": raw,
        "expires_at": iso_timestamp(token.expires_at),
        "user": render_signed_in_user(token.user),
    }
