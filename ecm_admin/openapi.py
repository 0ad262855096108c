"""The OpenAPI 3 description of the API (drf-spectacular): what every operation shares.

Each operation is described beside its view method (``@extend_schema``): its input is the
``Input`` declaration that validates it (``ecm_admin.inputs``), its responses the shapes its
renderers return (``TypedDict``s, ``ecm_admin.shapes``). This module holds what they share:
the ``Errors`` envelope, the ``Message`` body, the error responses, the patient path
parameter, enums described as drf-spectacular describes choice fields (``enum_schema``), the
``X-User-Token`` security scheme, the extensions that describe inputs and shapes, and the
hooks that finish the document.

The pages that serve it: ``ecm_admin.docs``.
"""

import re
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_choice_field, is_list_serializer
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from ecm_admin.inputs import ID_SCHEMA, Input, InputField, ObjectList
from ecm_admin.routers import API_PREFIX
from ecm_admin.shapes import Shape, ShapeExtension, Spec, is_shape

# Operations under these paths are documented; everything else (health probe, admin) is not.
DOCUMENTED_PREFIXES = ("/v1/",)

# --- shared components -----------------------------------------------------------------------


class Errors(TypedDict):
    """Every error body: a non-empty list of human-readable sentences naming the field."""

    errors: Annotated[list[str], Spec("Sentences, at least one.", minItems=1)]


class Message(TypedDict):
    message: str


PATIENT_ID = OpenApiParameter(
    "patient_id",
    ID_SCHEMA,
    OpenApiParameter.PATH,
    description="Patient ID. A value that is not a positive integer is 422.",
    examples=[OpenApiExample("Patient 123", value=123)],
)


def enum_schema(
    choices: Sequence[tuple[str, str]], description: str = "", *, blank_and_null: bool = False
) -> dict[str, Any]:
    """One of ``choices`` (``(value, label)`` pairs), described as drf-spectacular describes a
    choice field: the enum becomes a named component (``ENUM_NAME_OVERRIDES``), the labels
    are listed after ``description``; ``blank_and_null``: ``""`` and ``null`` are accepted
    too (they mean "not given")."""
    field = serializers.ChoiceField(choices, allow_blank=blank_and_null, allow_null=blank_and_null)
    schema = build_choice_field(field)
    meta: dict[str, Any] = {"nullable": True} if blank_and_null else {}
    if description:
        meta["description"] = f"{description}\n\n{schema.pop('description')}"
    return {**schema, **meta}


def described(shape_or_serializer: Any) -> Any:
    """What drf-spectacular takes for a body: a shape (``TypedDict``) or a serializer."""
    return Shape.of(shape_or_serializer) if is_shape(shape_or_serializer) else shape_or_serializer


def response(
    shape: Any,
    description: str,
    name: str | None = None,
    value: dict | None = None,
    *,
    status: int | None = None,
) -> OpenApiResponse:
    """A documented response: its shape and, when given, one example."""
    examples = []
    if name is not None:
        extra = {"status_codes": [str(status)]} if status else {}
        examples.append(OpenApiExample(name, value=value, response_only=True, **extra))
    return OpenApiResponse(described(shape), description=description, examples=examples)


def query_parameters(input_class: type[Input], *, note: str = "") -> list[OpenApiParameter]:
    """The fields of a body input described as query parameters (a route that also takes
    them from the query string); ``note`` is added to each description."""
    query = type(input_class.__name__, (input_class,), {"in_query": True})()
    parameters = []
    for name, field in query.fields.items():
        schema = field.openapi_schema()
        description = schema.pop("description", "")
        if note:
            description = f"{description} ({note})." if description else f"{note}."
            description = description.replace(". (", " (")
        parameters.append(
            OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description)
        )
    return parameters


ERROR_DESCRIPTIONS = {
    400: (
        "More than 1,000 query parameters, or a `Content-Length` that is not a number. With a "
        "JSON body: a body the service cannot read: malformed, not UTF-8, nested deeper than "
        "32 levels of arrays and objects, an object with the same key twice, `NaN`/`Infinity`, "
        "or a number longer than 100 characters or out of range."
    ),
    401: (
        "Missing, unknown, expired or revoked token, or inactive user. "
        "Sent with `WWW-Authenticate: Token`."
    ),
    403: "Authenticated, but the user lacks the `admin` role.",
    404: "Not found.",
    405: "Method not allowed on this path (the `Allow` header lists the accepted ones).",
    406: "The `Accept` header excludes `application/json`.",
    411: "A chunked request body (`Transfer-Encoding: chunked` without `Content-Length`).",
    412: "`If-Match` does not match the current version of the record.",
    413: "Request body too large.",
    415: "Unsupported media type: send `Content-Type: application/json`.",
    422: (
        "Validation failed: one sentence per problem, naming the field. Also, on every "
        "operation: text the service does not accept (NUL, other control characters than tab, "
        "line feed and carriage return, unpaired surrogates or bytes that are not UTF-8, "
        "Unicode non-characters) anywhere in the JSON body, in a key or a value, named by its "
        "path (`assignments[0].reason must not contain NUL characters`); the same in a query "
        "parameter or in the `X-User-Token`, `If-Match` or `X-Request-ID` header; and a query "
        "parameter given more than once (`page must be given once`). A body holding such text "
        "is refused as a whole, before anything is written."
    ),
    429: (
        "Rate limited: too many requests with this token, or too many failed authentications "
        "from this client address or for this email (a valid token is not refused for those). "
        "Sent with `Retry-After` (seconds)."
    ),
    503: "The database cannot be reached. Sent with `Retry-After` (seconds).",
}
ERROR_EXAMPLES = {
    400: ["Malformed JSON in request body"],
    401: ["Authentication required"],
    403: ["Admin access required"],
    404: ["Not found"],
    405: ['Method "PATCH" not allowed.'],
    406: ["Could not satisfy the request Accept header."],
    411: ["Content-Length is required: chunked request bodies are not accepted"],
    412: ["Precondition failed: the patient was changed by someone else; reload and retry"],
    413: ["Request body is too large (limit 2097152 bytes)"],
    415: ['Unsupported media type "text/plain" in request.; send application/json'],
    422: ["Validation failed"],
    429: ["Rate limit exceeded; try again in 12 seconds"],
    503: ["Service temporarily unavailable: the database cannot be reached"],
}
# Every operation can answer these (400: too many query parameters; 422: refused text in a
# query string or header, a repeated query parameter).
COMMON_ERRORS = (400, 401, 403, 405, 406, 422, 429, 503)
# Operations that read a JSON body can also answer these.
BODY_ERRORS = (411, 413, 415)
# Response headers by status (added to every response with that status by ``postprocess``).
ERROR_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "The authentication scheme: `Token` (send it in `X-User-Token`).",
            "required": True,
            "schema": {"type": "string", "example": "Token"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "string", "pattern": r"^[0-9]+$"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "string", "pattern": r"^[0-9]+$"},
        }
    },
}


def error_responses(*statuses: int, **examples: list[str]) -> dict[int, OpenApiResponse]:
    """``{status: OpenApiResponse(Errors)}`` for the given statuses plus the common ones.

    ``examples`` maps ``"e404"``-style keys to the sentences of that status's example, for
    statuses whose wording the contract fixes (``"Patient not found"``).
    """
    responses = {}
    for status in sorted({*statuses, *COMMON_ERRORS}):
        sentences = examples.get(f"e{status}", ERROR_EXAMPLES[status])
        responses[status] = OpenApiResponse(
            described(Errors),
            description=ERROR_DESCRIPTIONS[status],
            examples=[
                OpenApiExample(
                    f"Error {status}",
                    value={"errors": sentences},
                    response_only=True,
                    status_codes=[str(status)],
                )
            ],
        )
    return responses


# --- inputs and shapes -----------------------------------------------------------------------


class InputFieldSchema(OpenApiSerializerFieldExtension):
    """An input field describes itself (``InputField.openapi_schema``)."""

    target_class = InputField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = self.target.openapi_schema()
        if isinstance(self.target, ObjectList):
            items = auto_schema.resolve_serializer(self.target.item, direction).ref
            schema = {"type": "array", "items": items, **schema}
        return schema


class ApiSchema(AutoSchema):
    """drf-spectacular's AutoSchema, for this API's conventions:

    - a list is always an envelope (``{"patients": [...], "pagination": {...}}``), never a
      bare array, whatever the view's action is called;
    - a DELETE may read a JSON body (drf-spectacular documents bodies for POST, PUT and PATCH
      only); that body is optional, since the same keys may come from the query string.
    """

    def _is_list_view(self, serializer=None) -> bool:
        if serializer is None:
            serializer = self.get_response_serializers()
        return is_list_serializer(serializer)

    def get_request_serializer(self):
        if self.method == "DELETE":
            return None  # a DELETE has a body only where its @extend_schema gives one
        return super().get_request_serializer()

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        serializer, examples = self.get_request_serializer(), self.get_examples()
        if serializer is None:
            return None
        # Described as a POST body would be, with the DELETE's own input and examples.
        self.method = "POST"
        self.get_request_serializer = lambda: serializer
        self.get_examples = lambda: examples
        try:
            body = super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
            del self.get_request_serializer, self.get_examples
        if body:
            body.pop("required", None)
        return body


# Registered with drf-spectacular by being imported here.
__all__ = ["InputFieldSchema", "ShapeExtension"]


# --- authentication --------------------------------------------------------------------------


class UserTokenScheme(OpenApiAuthenticationExtension):
    """``X-User-Token: <token>``, as read by ``accounts.authentication``."""

    target_class = "accounts.authentication.UserTokenAuthentication"
    name = "UserToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-User-Token",
            "description": (
                "An API token issued with `manage.py create_token` (or `POST /v1/auth/tokens` "
                "where available). Every route requires a user with the `admin` role."
            ),
        }


# --- hooks (SPECTACULAR_SETTINGS) ------------------------------------------------------------


def preprocess(endpoints):
    """Document the API only: not the health probe, the admin or these documentation pages."""
    return [
        (path_, path_regex, method, callback)
        for path_, path_regex, method, callback in endpoints
        if path_.startswith(DOCUMENTED_PREFIXES)
    ]


_DETAIL_PATH = re.compile(rf"^(/{API_PREFIX}patients/)\{{patient_id\}}$")


def _forbid_unknown_keys(schema: dict) -> None:
    """The API answers 422 for unknown keys, and its responses carry no others: say so."""
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)


def postprocess(result, generator, request, public):
    """Finish the document: paths without the optional trailing slash, ``{id}`` as the seed
    names the patient detail parameter, closed objects, and the headers of error responses."""
    paths = {}
    for raw_path, item in result.get("paths", {}).items():
        path_ = raw_path.rstrip("/") or "/"
        match = _DETAIL_PATH.match(path_)
        if match:
            path_ = f"{match.group(1)}{{id}}"
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "path" and parameter.get("name") == "patient_id":
                        parameter["name"] = "id"
        paths[path_] = item
        for method, operation in item.items():
            if method == "get":
                # A query parameter sent empty (``?status=``) means the same as one left out.
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "query":
                        parameter["allowEmptyValue"] = True
            for status, response in operation.get("responses", {}).items():
                headers = ERROR_HEADERS.get(int(status)) if status.isdigit() else None
                if headers:
                    response.setdefault("headers", {}).update(headers)
    result["paths"] = paths
    schemas = result.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        _forbid_unknown_keys(schema)
    return result
