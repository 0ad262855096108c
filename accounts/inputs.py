"""The input of the sign-in route: it validates the request and is its schema."""

from __future__ import annotations

from typing import Any

from ecm_admin.inputs import Input, TextField

MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 1024


class CredentialField(TextField):
    """A credential: required, a non-empty string (``""`` is "is required" too)."""

    blank_is_missing = True

    def __init__(self, *, max_length: int, string_format: str = "", **kwargs: Any):
        self.string_format = string_format
        super().__init__(max_length=max_length, required=True, **kwargs)

    def value_schema(self) -> dict[str, Any]:
        text = super().value_schema()
        schema = {"type": "string", "minLength": 1, "maxLength": self.max_length, **text}
        if self.string_format:
            schema["format"] = self.string_format
        return schema


class SignInInput(Input):
    """``POST /v1/auth/tokens``."""

    email = CredentialField(max_length=MAX_EMAIL_LENGTH, help_text="Case-insensitive.")
    password = CredentialField(max_length=MAX_PASSWORD_LENGTH, string_format="password")

    class Meta:
        ref_name = "SignIn"
