"""OpenAPI description of the sign-in routes (schema only; imported by ``ecm_admin.openapi``).

``POST /v1/auth/tokens`` (open, rate-limited) and ``DELETE /v1/auth/tokens/current``.
"""

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers

from accounts import views
from ecm_admin.openapi import BODY_ERRORS, Message, described, error_responses
from ecm_admin.text import SAFE_TEXT_PATTERN
from patients.schema import raw_field

TAG = "Authentication"


class SignInSerializer(serializers.Serializer):
    email = raw_field(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": views.MAX_EMAIL_LENGTH,
            "pattern": SAFE_TEXT_PATTERN,
            "description": "Case-insensitive.",
        }
    )
    password = raw_field(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": views.MAX_PASSWORD_LENGTH,
            "pattern": SAFE_TEXT_PATTERN,
            "format": "password",
        }
    )

    class Meta:
        ref_name = "SignIn"


class SignedInUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="Sorted role names.")

    class Meta:
        ref_name = "SignedInUser"


class SignInTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `X-User-Token`. Shown once.")
    expires_at = serializers.DateTimeField()
    user = SignedInUserSerializer()

    class Meta:
        ref_name = "SignInToken"


sign_in = extend_schema(
    operation_id="auth_tokens_create",
    summary="Sign in",
    description=(
        "Exchange an email and password for a sign-in token. Wrong email, wrong password and "
        "inactive user get the same 401. Failed attempts are counted per email and per client "
        "address; past the limit: 429 with `Retry-After`, for an email even with the right "
        "password, for an address unless the email signed in from it within 30 days."
    ),
    tags=[TAG],
    auth=[],
    request=SignInSerializer,
    examples=[
        OpenApiExample(
            "Sign in",
            value={"email": "jane.admin@example.org", "password": "correct horse"},
            request_only=True,
        )
    ],
    responses={
        201: OpenApiResponse(
            SignInTokenSerializer,
            description="Signed in.",
            examples=[
                OpenApiExample(
                    "Token",
                    value={
                        "token": "ecm_3q2…",
                        "expires_at": "2024-11-27T22:00:00.000Z",
                        "user": {
                            "id": 7,
                            "name": "Jane Admin",
                            "email": "jane.admin@example.org",
                            "roles": ["admin"],
                        },
                    },
                    response_only=True,
                )
            ],
        ),
        **{
            status: response
            for status, response in error_responses(
                422, *BODY_ERRORS, e401=[views.INVALID_CREDENTIALS]
            ).items()
            if status != 403
        },
    },
)

sign_out = extend_schema(
    operation_id="auth_tokens_current_destroy",
    summary="Sign out",
    description="Revoke the token this request is made with (any role may sign out).",
    tags=[TAG],
    responses={
        200: OpenApiResponse(
            described(Message),
            description="Signed out.",
            examples=[OpenApiExample("Signed out", value={"message": "Signed out"})],
        ),
        **{status: response for status, response in error_responses().items() if status != 403},
    },
)

extend_schema_view(post=sign_in)(views.TokenCreateView)
extend_schema_view(delete=sign_out)(views.TokenCurrentView)
