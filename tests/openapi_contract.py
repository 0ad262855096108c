"""Responses checked against the service's OpenAPI document (``/v1/admin/clinic/ecm/openapi.json``).

``OpenApiContract`` fetches the document once per test process, resolves ``$ref`` and turns
OpenAPI 3.0 schemas into JSON Schema (``nullable: true`` becomes "or null"), and validates a
body with ``jsonschema`` (formats checked) for a path, method and status. A status the
document does not list for that operation fails the test: the schema must name every status
a route can answer.

``tests/conftest.py`` runs ``check_response`` on every response the test clients receive
(``django.test.Client`` and DRF's ``APIClient``): see ``check_response`` for what is checked
and what is not.
"""

from __future__ import annotations

import copy
import json
import re
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import Any

import jsonschema
import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

SCHEMA_URL = "/v1/admin/clinic/ecm/openapi.json"


def to_json_schema(node: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """A self-contained JSON Schema for an OpenAPI 3.0 schema object (refs inlined)."""
    if depth > 50:
        raise RecursionError("schema nesting too deep (a $ref cycle?)")
    if isinstance(node, list):
        return [to_json_schema(item, components, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        resolved = to_json_schema(components[name], components, depth + 1)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {**resolved, **to_json_schema(siblings, components, depth + 1)}
    out = {}
    for key, value in node.items():
        if key in ("properties",):
            out[key] = {
                name: to_json_schema(sub, components, depth + 1) for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties", "not") or key in ("allOf", "anyOf", "oneOf"):
            out[key] = to_json_schema(value, components, depth + 1)
        elif key in ("nullable", "example", "examples", "readOnly", "writeOnly", "xml"):
            continue
        else:
            out[key] = value
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str) and not any(
            k in out for k in ("allOf", "anyOf", "oneOf")
        ):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class OpenApiContract:
    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.components = document.get("components", {}).get("schemas", {})
        self._validators: dict[tuple[str, str, int], jsonschema.Validator] = {}

    @cached_property
    def _templates(self) -> list[tuple[re.Pattern, str]]:
        out = []
        for template in self.document["paths"]:
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            out.append((re.compile(f"^{regex}/?$"), template))
        return out

    def find_template(self, url: str) -> str | None:
        """The document's path for ``url`` (with or without its trailing slash), or ``None``."""
        path = url.split("?", 1)[0]
        for regex, template in self._templates:
            if regex.match(path):
                # A literal segment wins over a parameter (``/patients/filter``).
                literal = path.rstrip("/")
                if literal in self.document["paths"]:
                    return literal
                return template
        return None

    def template_for(self, url: str) -> str:
        template = self.find_template(url)
        if template is None:
            pytest.fail(f"{url.split('?', 1)[0]} is not a path of the OpenAPI document")
        return template

    def response_object(self, template: str, method: str, status: int) -> dict[str, Any]:
        item = self.document["paths"][template]
        method = method.lower()
        if method not in item:
            # A verb the path does not have: its 405 is documented on the path's operations.
            if status != 405:
                pytest.fail(f"{method.upper()} {template} is not documented (status {status})")
            operations = [op for op in item.values() if "405" in op.get("responses", {})]
            if not operations:
                pytest.fail(f"405 is not documented on any operation of {template}")
            return operations[0]["responses"]["405"]
        responses = item[method]["responses"]
        if str(status) not in responses:
            pytest.fail(
                f"{method.upper()} {template} answered {status}, which the OpenAPI document "
                f"does not list (documented: {', '.join(sorted(responses))})"
            )
        return responses[str(status)]

    def body_schema(self, template: str, method: str, status: int) -> dict[str, Any]:
        response = self.response_object(template, method, status)
        schema = response["content"]["application/json"]["schema"]
        return to_json_schema(schema, self.components)

    def component(self, name: str) -> dict[str, Any]:
        return to_json_schema({"$ref": f"#/components/schemas/{name}"}, self.components)

    def validate_body(self, body: Any, template: str, method: str, status: int) -> None:
        validate(body, self.body_schema(template, method, status))

    def _validator(self, template: str, method: str, status: int) -> jsonschema.Validator:
        key = (template, method, status)
        if key not in self._validators:
            schema = self.body_schema(template, method, status)
            self._validators[key] = jsonschema.Draft7Validator(
                schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
            )
        return self._validators[key]

    def assert_conforms(self, response, method: str | None = None, url: str | None = None):
        """The response's status is documented for its operation; body and headers conform.

        A HEAD is its GET without the body: its status must be one the GET documents."""
        request = response.wsgi_request
        method = (method or request.method).lower()
        url = url or request.path
        template = self.template_for(url)
        head = method == "head"
        if head:
            method = "get"
        status = response.status_code
        response_object = self.response_object(template, method, status)
        for name, header in response_object.get("headers", {}).items():
            if header.get("required"):
                assert response.has_header(name), f"{status} lacks {name}"
                validate(response[name], to_json_schema(header["schema"], self.components))
        if head:
            return None
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        body = json.loads(response.content)
        report(self._validator(template, method, status), body)
        return body


def validate(instance: Any, schema: dict[str, Any]) -> None:
    report(
        jsonschema.Draft7Validator(
            copy.deepcopy(schema), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        ),
        instance,
    )


def report(validator: jsonschema.Validator, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{list(e.absolute_path)}: {e.message}" for e in errors[:10]]
        pytest.fail("does not match the OpenAPI document:\n" + "\n".join(lines))


_contract: list[OpenApiContract] = []


def load_contract() -> OpenApiContract:
    """The document as served (no token needed), fetched once per process, through the root
    urlconf whatever the test in progress routes with."""
    if not _contract:
        with override_settings(ROOT_URLCONF=ROOT_URLCONF), unchecked_responses():
            response = APIClient().get(SCHEMA_URL)
        assert response.status_code == 200, response.content[:500]
        _contract.append(OpenApiContract(json.loads(response.content)))
    return _contract[0]


# --- every response of the suite -------------------------------------------------------------

ROOT_URLCONF = "ecm_admin.urls"
# The API's paths; the document describes every operation under them.
API_PREFIXES = ("/v1/",)
# Under those prefixes but not operations: the document itself and its viewer.
DOCUMENT_PAGES = frozenset(
    {
        SCHEMA_URL,
        "/v1/admin/clinic/ecm/openapi.yaml",
        "/v1/admin/clinic/ecm/docs",
        "/v1/admin/clinic/ecm/docs/",
    }
)
_checking = ContextVar("checking_responses", default=True)


@contextmanager
def unchecked_responses():
    """Responses received inside this block are not checked (``check_response``)."""
    token = _checking.set(False)
    try:
        yield
    finally:
        _checking.reset(token)


def check_response(response) -> None:
    """The check ``tests/conftest.py`` runs on every response a test client receives: a
    response of the API (a path under ``/v1/``, routed by the root urlconf) must be one the
    document describes, its status listed for its operation, its body and its required
    headers as the document says (``OpenApiContract.assert_conforms``). A path under ``/v1/``
    that matches no path of the document must be a 404 with the ``Errors`` body.

    Not checked: the Django admin, ``/healthz`` and the static files (not part of the API);
    the document's own pages; requests made while a test routes with a urlconf of its own
    (``pytest.mark.urls``: routes that exist only for the test); OPTIONS (drf-spectacular
    describes no OPTIONS operations); a test marked ``undocumented_responses``.
    """
    if not _checking.get():
        return
    request = response.wsgi_request
    path = request.path
    if not path.startswith(API_PREFIXES) or path in DOCUMENT_PAGES:
        return
    if settings.ROOT_URLCONF != ROOT_URLCONF or request.method == "OPTIONS":
        return
    contract = load_contract()
    if contract.find_template(path) is None:
        # No operation: the one answer is 404 in the error envelope.
        assert response.status_code == 404, f"{request.method} {path}: {response.status_code}"
        validate(json.loads(response.content), contract.component("Errors"))
        return
    contract.assert_conforms(response)
