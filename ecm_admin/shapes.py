"""Response shapes, declared once: a ``TypedDict`` per shape.

The renderers stay fast hand-written functions that build plain dicts; each is annotated with
the ``TypedDict`` it returns, and that ``TypedDict`` is the only description of the shape:

- the OpenAPI document's components are built from it (``Shape.of(PatientList)`` in an
  ``@extend_schema(responses=...)``; every nested ``TypedDict`` becomes a component of its
  own name, so the document names shapes as the code does);
- the test suite checks every renderer's output against it (``tests/test_shapes.py``).

A key's type says everything the schema says: ``int``, ``str``, ``bool``, ``float``,
``dt.date``, ``dt.datetime`` (ISO 8601 text on the wire), ``X | None`` (always present,
may be ``null``), ``list[X]``, ``Literal[...]``, a ``TextChoices`` class (its values; a
named enum component), another ``TypedDict`` (a ``$ref``), or ``Annotated[X, Spec(...)]``
to add a description or JSON Schema keywords (``minimum``, ``maxLength``, ...)::

    class Pagination(TypedDict):
        current_page: Annotated[int, Spec(minimum=1)]
        total_count: Annotated[int, Spec(minimum=0)]

Keys are required unless wrapped in ``NotRequired[...]``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Literal, NotRequired, Required, get_args, get_origin, get_type_hints

from django.db.models import Choices
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent, get_doc, resolve_type_hint

Schema = dict[str, Any]


class Spec:
    """JSON Schema keywords (and a ``description``) for one key of a shape::

    Annotated[int, Spec(minimum=0, description="Distinct patients.")]
    """

    def __init__(self, description: str = "", **keywords: Any):
        self.keywords = dict(keywords)
        if description:
            self.keywords["description"] = description


def is_shape(hint: Any) -> bool:
    return typing.is_typeddict(hint)


def _unwrap(hint: Any) -> tuple[Any, dict[str, Any]]:
    """``Annotated[X, Spec(...)]`` → ``(X, keywords)``; ``Required``/``NotRequired`` dropped."""
    keywords: dict[str, Any] = {}
    while True:
        origin = get_origin(hint)
        if origin is typing.Annotated:
            hint, *metadata = get_args(hint)
            for item in metadata:
                if isinstance(item, Spec):
                    keywords.update(item.keywords)
        elif origin in (Required, NotRequired):
            hint = get_args(hint)[0]
        else:
            return hint, keywords


def _not_required(hint: Any) -> bool:
    while get_origin(hint) is typing.Annotated:
        hint = get_args(hint)[0]
    return get_origin(hint) is NotRequired


def _nullable(hint: Any) -> tuple[Any, bool]:
    """``X | None`` → ``(X, True)``."""
    if get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return args[0], True
        raise TypeError(f"a shape's key is one type or one type or None, not {hint!r}")
    return hint, False


Register = Callable[[type], Schema]


def type_schema(hint: Any, register: Register) -> Schema:
    """The OpenAPI 3.0 schema of one type; ``register(shape)`` returns the ``$ref`` of a
    nested shape (and makes sure its component exists)."""
    hint, keywords = _unwrap(hint)
    hint, nullable = _nullable(hint)
    hint, more = _unwrap(hint)
    keywords.update(more)
    if hint is Any:
        schema = {}
    elif is_shape(hint):
        ref = register(hint)
        # A reference cannot carry siblings in OpenAPI 3.0: wrap it when it says more.
        schema = {"allOf": [ref]} if nullable or keywords else ref
    elif hint is dt.datetime:
        schema = {"type": "string", "format": "date-time"}
    elif hint is dt.date:
        schema = {"type": "string", "format": "date"}
    elif get_origin(hint) is list:
        schema = {"type": "array", "items": type_schema(get_args(hint)[0], register)}
    elif get_origin(hint) is Literal:
        values = list(get_args(hint))
        schema = {"type": _json_type(values[0]), "enum": values}
    elif inspect.isclass(hint) and issubclass(hint, Choices):
        # As drf-spectacular describes a choice field: the enum becomes a named component.
        schema = resolve_type_hint(hint)
        if nullable:
            schema["enum"] = [*schema["enum"], None]
    else:
        schema = resolve_type_hint(hint)
    if nullable:
        schema["nullable"] = True
    schema.update(keywords)
    return schema


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number"}.get(type(value), "string")


def shape_schema(shape: type, register: Register) -> Schema:
    """The object schema of a ``TypedDict``: every key, required unless ``NotRequired``."""
    hints = get_type_hints(shape, include_extras=True)
    properties = {key: type_schema(hint, register) for key, hint in hints.items()}
    schema: Schema = {"type": "object", "properties": properties}
    # Read from the hints (``__required_keys__`` misses NotRequired in a module whose
    # annotations are postponed).
    required = sorted(key for key, hint in hints.items() if not _not_required(hint))
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    description = get_doc(shape)
    if description:
        schema["description"] = description
    return schema


@cache
def json_schema(shape: type) -> Schema:
    """A self-contained schema of ``shape`` (nested shapes under ``$defs``), in JSON Schema
    terms (``nullable`` as a ``null`` type), for checking a rendered dict in tests."""
    definitions: dict[str, Schema] = {}

    def register(nested: type) -> Schema:
        name = nested.__name__
        if name not in definitions:
            definitions[name] = {}
            definitions[name] = _as_json_schema(shape_schema(nested, register))
        return {"$ref": f"#/$defs/{name}"}

    root = _as_json_schema(shape_schema(shape, register))
    return {**root, "$defs": definitions}


def _as_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: _as_json_schema(value)
        for key, value in node.items()
        if key not in ("nullable", "x-spec-enum-id")
    }
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


# --- drf-spectacular ---------------------------------------------------------------------------


class Shape:
    """A shape as drf-spectacular takes a serializer: ``responses={200: Shape.of(PatientList)}``.

    ``ShapeExtension`` describes it from the ``TypedDict``; nested shapes are registered as
    components of their own.
    """

    typed_dict: type

    @staticmethod
    @cache
    def of(typed_dict: type) -> type[Shape]:
        if not is_shape(typed_dict):
            raise TypeError(f"{typed_dict!r} is not a TypedDict")
        return type(typed_dict.__name__, (Shape,), {"typed_dict": typed_dict})


class ShapeExtension(OpenApiSerializerExtension):
    target_class = Shape
    match_subclasses = True

    def get_name(self, auto_schema, direction) -> str:
        return self.target.typed_dict.__name__

    def get_identity(self, auto_schema, direction) -> Any:
        return self.target.typed_dict

    def map_serializer(self, auto_schema, direction) -> Schema:
        def register(nested: type) -> Schema:
            component = ResolvedComponent(
                name=nested.__name__, type=ResolvedComponent.SCHEMA, object=nested
            )
            if component not in auto_schema.registry:
                auto_schema.registry.register(component)
                component.schema = shape_schema(nested, register)
            return auto_schema.registry[component].ref

        return shape_schema(self.target.typed_dict, register)
