"""Sign in and sign out: ``POST /v1/auth/tokens`` and ``DELETE /v1/auth/tokens/current``."""

from typing import Any

from django.contrib.auth import authenticate
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.services import sign_in_token_create, token_revoke
from accounts.throttling import SignInGate
from audit.models import Action
from audit.services import note_credentials, record_patients
from ecm_admin.exceptions import TooManyFailedAttempts, UnprocessableEntity
from ecm_admin.formats import iso_timestamp
from ecm_admin.inputs import json_object, reject_unknown_keys

INVALID_CREDENTIALS = "Invalid email or password"
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 1024


def _credential(data, name: str, max_length: int) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise UnprocessableEntity(f"{name} is required")
    if not isinstance(value, str):
        raise UnprocessableEntity(f"{name} must be a string")
    if len(value) > max_length:
        raise UnprocessableEntity(f"{name} must be at most {max_length} characters")
    return value


class TokenCreateView(APIView):
    """Exchange an email and password for a sign-in token. Open, but rate-limited.

    Wrong email, wrong password and inactive user get the same 401, so the route tells
    nobody which emails exist. Failures count per email and per client address; past
    ``AUTH_FAILURE_LIMIT`` within the window: 429 (the rules: ``SignInGate``).
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        data = json_object(request.data)
        reject_unknown_keys(data, ("email", "password"))
        email = _credential(data, "email", MAX_EMAIL_LENGTH).strip().lower()
        password = _credential(data, "password", MAX_PASSWORD_LENGTH)

        gate = SignInGate(request, email)
        wait = gate.admit()
        if wait is not None:
            raise TooManyFailedAttempts(wait)

        user = authenticate(request._request, username=email, password=password)
        if user is None or not user.is_active:
            wait = gate.failed()
            record_patients(request, Action.AUTH_FAILED)
            known = User.objects.filter(email=email).values_list("pk", flat=True).first()
            note_credentials(request, user_id=known)
            if wait is not None:
                raise TooManyFailedAttempts(wait)
            return Response(
                {"errors": [INVALID_CREDENTIALS]},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Token"},
            )
        gate.succeeded()
        token, raw = sign_in_token_create(user=user)
        record_patients(request, Action.SIGN_IN)
        note_credentials(request, token_prefix=token.prefix, user_id=user.pk)
        return Response(
            {
                "token": raw,
                "expires_at": iso_timestamp(token.expires_at),
                "user": _user(user),
            },
            status=status.HTTP_201_CREATED,
        )


class TokenCurrentView(APIView):
    """Sign out: revoke the token this request was made with (any role)."""

    permission_classes = [IsAuthenticated]

    def delete(self, request):
        record_patients(request, Action.SIGN_OUT)
        token_revoke(token=request.auth)
        return Response({"message": "Signed out"})


def _user(user: User) -> dict[str, Any]:
    return {"id": user.pk, "name": user.name, "email": user.email, "roles": user.role_names()}
