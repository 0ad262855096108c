"""Sign in and sign out: ``POST /v1/auth/tokens`` and ``DELETE /v1/auth/tokens/current``.

Each method carries its own OpenAPI description (``@extend_schema``): its input is the
``accounts.inputs`` declaration that validates it, its responses the shapes the renderers
return (``accounts.serializers``).
"""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from accounts.authentication import UserTokenAuthentication
from accounts.inputs import SignInInput
from accounts.models import User
from accounts.serializers import SignInToken, render_sign_in_token
from accounts.services import sign_in_token_create, token_revoke
from accounts.throttling import SignInGate
from audit.models import Action
from audit.services import access_report, credentials_note
from ecm_admin.exceptions import TooManyFailedAttempts
from ecm_admin.openapi import BODY_ERRORS, Message, error_responses, response

TAG = "Authentication"
INVALID_CREDENTIALS = "Invalid email or password"
SIGNED_OUT = "Signed out"


def _without_403(responses: dict) -> dict:
    """These routes need no role: they never answer 403."""
    return {status_: answer for status_, answer in responses.items() if status_ != 403}


class TokenViewSet(viewsets.ViewSet):
    """``/v1/auth/tokens``: sign in (open, rate-limited) and sign out (any role)."""

    # Signing in needs no token (one sent along is ignored).
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_tokens_create",
        summary="Sign in",
        description=(
            "Exchange an email and password for a sign-in token. Wrong email, wrong password "
            "and inactive user get the same 401. Failed attempts are counted per email and per "
            "client address; past the limit: 429 with `Retry-After`, for an email even with "
            "the right password, for an address unless the email signed in from it within "
            "30 days."
        ),
        tags=[TAG],
        auth=[],
        request=SignInInput,
        examples=[
            OpenApiExample(
                "Sign in",
                value={"email": "jane.admin@example.org", "password": "correct horse"},
                request_only=True,
            )
        ],
        responses={
            201: response(
                SignInToken,
                "Signed in.",
                "Token",
                {
                    "token": "ecm_3q2…",
                    "expires_at": "2024-11-27T22:00:00.000Z",
                    "user": {
                        "id": 7,
                        "name": "Jane Admin",
                        "email": "jane.admin@example.org",
                        "roles": ["admin"],
                    },
                },
                status=201,
            ),
            **_without_403(error_responses(422, *BODY_ERRORS, e401=[INVALID_CREDENTIALS])),
        },
    )
    def create(self, request):
        """Wrong email, wrong password and inactive user get the same 401, so the route tells
        nobody which emails exist. Failures count per email and per client address; past
        ``AUTH_FAILURE_LIMIT`` within the window: 429 (the rules: ``SignInGate``)."""
        values = SignInInput.parse(request.data)
        email = values["email"].strip().lower()

        gate = SignInGate(request, email)
        wait = gate.admit()
        if wait is not None:
            raise TooManyFailedAttempts(wait)

        user = authenticate(request._request, username=email, password=values["password"])
        if user is None or not user.is_active:
            wait = gate.failed()
            access_report(request, Action.AUTH_FAILED)
            known = User.objects.filter(email=email).values_list("pk", flat=True).first()
            credentials_note(request, user_id=known)
            if wait is not None:
                raise TooManyFailedAttempts(wait)
            return Response(
                {"errors": [INVALID_CREDENTIALS]},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": UserTokenAuthentication.keyword},
            )
        gate.succeeded()
        token, raw = sign_in_token_create(user=user)
        access_report(request, Action.SIGN_IN)
        credentials_note(request, token_prefix=token.prefix, user_id=user.pk)
        return Response(render_sign_in_token(token, raw), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="auth_tokens_current_destroy",
        summary="Sign out",
        description="Revoke the token this request is made with (any role may sign out).",
        tags=[TAG],
        responses={
            200: response(Message, "Signed out.", "Signed out", {"message": SIGNED_OUT}),
            **_without_403(error_responses()),
        },
    )
    @action(
        detail=False,
        methods=["delete"],
        url_path="current",
        authentication_classes=[UserTokenAuthentication],
        permission_classes=[IsAuthenticated],
    )
    def current(self, request):
        access_report(request, Action.SIGN_OUT)
        token_revoke(token=request.auth)
        return Response({"message": SIGNED_OUT})
