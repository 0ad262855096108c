"""Check bodies against the service's own OpenAPI document (``/v1/admin/clinic/ecm/openapi.json``).

``OpenApiContract`` fetches the document once per test session, resolves ``$ref`` and turns
OpenAPI 3.0 schemas into JSON Schema (``nullable: true`` becomes "or null"), and validates a
body with ``jsonschema`` (formats checked) for a path, method and status. A status the
document does not list for that operation fails the test: the schema must name every status
a route can answer.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cached_property
from typing import Any

import jsonschema
import pytest
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

    @cached_property
    def _templates(self) -> list[tuple[re.Pattern, str]]:
        out = []
        for template in self.document["paths"]:
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            out.append((re.compile(f"^{regex}/?$"), template))
        return out

    def template_for(self, url: str) -> str:
        path = url.split("?", 1)[0]
        for regex, template in self._templates:
            if regex.match(path):
                # A literal segment wins over a parameter (``/patients/filter``).
                literal = path.rstrip("/")
                if literal in self.document["paths"]:
                    return literal
                return template
        pytest.fail(f"{path} is not a path of the OpenAPI document")

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

    def assert_conforms(self, response, method: str | None = None, url: str | None = None):
        """The response's status is documented for its operation; body and headers conform."""
        request = response.wsgi_request
        method = (method or request.method).lower()
        url = url or request.path
        template = self.template_for(url)
        response_object = self.response_object(template, method, response.status_code)
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        body = json.loads(response.content)
        schema = response_object["content"]["application/json"]["schema"]
        validate(body, to_json_schema(schema, self.components))
        for name, header in response_object.get("headers", {}).items():
            if header.get("required"):
                assert response.has_header(name), f"{response.status_code} lacks {name}"
                validate(response[name], to_json_schema(header["schema"], self.components))
        return body


def validate(instance: Any, schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(
        copy.deepcopy(schema), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{list(e.absolute_path)}: {e.message}" for e in errors[:10]]
        pytest.fail("does not match the OpenAPI document:\n" + "\n".join(lines))


_document_cache: dict[str, Any] = {}


def load_contract() -> OpenApiContract:
    """The document as served (no token needed), fetched once per process."""
    if "document" not in _document_cache:
        response = APIClient().get(SCHEMA_URL)
        assert response.status_code == 200, response.content[:500]
        _document_cache["document"] = json.loads(response.content)
    return OpenApiContract(_document_cache["document"])
