"""A route's input, declared once: it validates the request and describes it in the schema.

An ``Input`` is a DRF serializer made of ``InputField``s. Each field says its own sentences
(naming itself, as the contract's 422 bodies do) and its own OpenAPI schema
(``InputField.openapi_schema``, read by ``ecm_admin.openapi``), so what the document calls
valid the route accepts, and every refusal is a sentence a person can act on::

    class AssignmentInput(Input):
        patient_id = IdField(required=True, help_text="ECM patient.")
        reason = TextField(max_length=1000, help_text="Kept on the history.")

    values = AssignmentInput.parse(request.data)   # a dict, or 422 with every sentence

A key that is absent is absent from the result; ``null`` (and ``""`` for ids, choices and
paging) means "not given" unless the field says otherwise. Unknown keys are refused
("Unknown key: x") unless the input accepts them (query strings) or lists them as ignored.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.text import SAFE_TEXT_PATTERN, UNSAFE_TEXT_CLASS

MAX_ID = 2**63 - 1
# Ids in a body: an integer, or a string of digits (at most 18, so it stays below 2**63).
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
ID_INPUT = {
    "anyOf": [ID_SCHEMA, {"type": "string", "pattern": r"^0*[1-9][0-9]{0,17}$"}],
    "description": "A positive integer (a string of digits is accepted too).",
}
# The empty string: "not given" for optional ids, choices and paging keys in a body.
EMPTY = {"type": "string", "enum": [""]}
# Blank (or white space): the same as ``null`` where a body's blank clears a value.
BLANK = {"type": "string", "pattern": r"^\s*$"}
# Text the service accepts (``ecm_admin.text``) with at least one character other than white
# space: a required text that may not be blank.
NOT_BLANK = rf"^[^{UNSAFE_TEXT_CLASS}]*[^{UNSAFE_TEXT_CLASS}\s][^{UNSAFE_TEXT_CLASS}]*$"


# --- readers shared with the command-line tools ----------------------------------------------


def json_object(data: Any, what: str = "Request body") -> Mapping[str, Any]:
    """The parsed JSON body must be an object."""
    if not isinstance(data, Mapping):
        raise UnprocessableEntity(f"{what} must be a JSON object")
    return data


def unknown_keys_sentence(unknown: Sequence[str], where: str = "") -> str:
    place = f" in {where}" if where else ""
    return f"Unknown key{'s' if len(unknown) > 1 else ''}{place}: {', '.join(unknown)}"


def reject_unknown_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
    allowed = set(allowed)
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise UnprocessableEntity([unknown_keys_sentence(unknown, where)])


def parse_id(name: str, value: Any, *, required: bool = True) -> int | None:
    """A positive integer id from JSON (int or digit string) or a query string."""
    if value is None or value == "":
        if required:
            raise UnprocessableEntity(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise UnprocessableEntity(f"{name} must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise UnprocessableEntity(f"{name} must be an integer")
    if number < 1 or number > MAX_ID:
        raise UnprocessableEntity(f"{name} must be a positive integer")
    return number


# --- fields ----------------------------------------------------------------------------------


class InputField(serializers.Field):
    """A field that names itself in its sentences and describes itself in the schema.

    ``name``: what the sentences call it (default: its key). ``missing``: the values that mean
    "not given" (``None`` always; ``""`` unless ``blank_is_missing=False``).
    """

    blank_is_missing: ClassVar[bool] = True

    def __init__(self, *, name: str | None = None, help_text: str = "", **kwargs: Any):
        kwargs.setdefault("required", False)
        self._name = name
        # Kept out of DRF's field: the description is the schema's (``openapi_schema``).
        self.description = help_text
        super().__init__(**kwargs)

    @property
    def name(self) -> str:
        return self._name or self.field_name

    def invalid(self, phrase: str) -> serializers.ValidationError:
        """A refusal: ``"<name> <phrase>"``."""
        return serializers.ValidationError(f"{self.name} {phrase}")

    def is_missing(self, data: Any) -> bool:
        return data is empty or data is None or (self.blank_is_missing and data == "")

    def run_validation(self, data: Any = empty) -> Any:
        if self.is_missing(data):
            if self.required:
                raise self.invalid("is required")
            if data is empty:
                raise SkipField()
            return self.missing_value()
        return self.to_internal_value(data)

    def missing_value(self) -> Any:
        """What a present but empty key (``null``) stands for."""
        return None

    def to_representation(self, value: Any) -> Any:  # inputs are never rendered
        return value

    # --- schema ----------------------------------------------------------------------------

    def value_schema(self) -> dict[str, Any]:
        """The schema of a given value."""
        raise NotImplementedError

    def optional_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema`` widened by what "not given" may look like in a body (``null``)."""
        return {**schema, "nullable": True}

    def openapi_schema(self) -> dict[str, Any]:
        schema = dict(self.value_schema())
        in_query = getattr(self.root, "in_query", False)
        if not self.required and not in_query:
            schema = self.optional_schema(schema)
        if self.description:
            base = schema.get("description")
            schema["description"] = f"{self.description} {base}" if base else self.description
        return schema


class IdField(InputField):
    """A positive integer id: an integer, or a string of digits."""

    def to_internal_value(self, data: Any) -> int:
        try:
            return parse_id(self.name, data)
        except UnprocessableEntity as exc:
            raise serializers.ValidationError(exc.errors) from None

    def value_schema(self) -> dict[str, Any]:
        in_query = getattr(self.root, "in_query", False)
        return dict(ID_SCHEMA) if in_query else dict(ID_INPUT)

    def optional_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {**schema, "anyOf": [*schema["anyOf"], EMPTY], "nullable": True}


class TextField(InputField):
    """Text, at most ``max_length`` characters (the one text rule already ran in the parser)."""

    blank_is_missing = False

    def __init__(self, *, max_length: int | None = None, **kwargs: Any):
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise self.invalid("must be a string")
        if self.max_length is not None and len(data) > self.max_length:
            raise self.invalid(f"must be at most {self.max_length} characters")
        return data

    def missing_value(self) -> str:
        return ""

    def value_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "pattern": SAFE_TEXT_PATTERN}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        return schema


class ChoiceField(InputField):
    """One of ``choices``, compared after trimming and lower-casing (``"OLCM "`` is ``olcm``)."""

    def __init__(self, choices: Sequence[str], **kwargs: Any):
        self.choices = tuple(choices)
        super().__init__(**kwargs)

    def is_missing(self, data: Any) -> bool:
        return super().is_missing(data) or (isinstance(data, str) and not data.strip())

    @property
    def refusal(self) -> str:
        return f"must be one of: {', '.join(self.choices)}"

    def to_internal_value(self, data: Any) -> str:
        value = data.strip().lower() if isinstance(data, str) else None
        if value not in self.choices:
            raise self.invalid(self.refusal)
        return value

    def value_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class BooleanField(InputField):
    """``true`` or ``false`` (JSON booleans only; ``null`` is refused too)."""

    def is_missing(self, data: Any) -> bool:
        return data is empty

    def optional_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return schema

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise self.invalid("must be true or false")
        return data

    def value_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class ObjectList(InputField):
    """A JSON array of objects, each read by ``item`` on its own: one bad item does not fail
    the others. The value is a list of ``(item as sent, values or None, sentences)``."""

    blank_is_missing = False

    def __init__(self, item: type[Input], *, min_length: int = 0, max_length: int, **kwargs):
        self.item = item
        self.min_length = min_length
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[tuple[Any, dict | None, list[str]]]:
        if not isinstance(data, list):
            raise self.invalid("must be an array")
        if len(data) < self.min_length:
            raise self.invalid("must not be empty" if self.min_length == 1 else "is too short")
        if len(data) > self.max_length:
            raise self.invalid(f"must have at most {self.max_length} items")
        reader = self.item()
        out = []
        for raw in data:
            try:
                out.append((raw, reader.run_validation(raw), []))
            except serializers.ValidationError as exc:
                out.append((raw, None, flatten(exc.detail)))
        return out

    def value_schema(self) -> dict[str, Any]:
        # The items' component is added by ecm_admin.openapi (it knows the registry).
        return {"maxItems": self.max_length, "minItems": self.min_length}


# --- the input -------------------------------------------------------------------------------


def flatten(detail: Any) -> list[str]:
    """The sentences of a ValidationError's detail, in order (fields say whole sentences)."""
    if isinstance(detail, Mapping):
        return [sentence for value in detail.values() for sentence in flatten(value)]
    if isinstance(detail, (list, tuple)):
        return [sentence for item in detail for sentence in flatten(item)]
    return [str(detail)]


class Input(serializers.Serializer):
    """One route's input (a JSON body, a nested object of one, or a query string).

    - ``accepts_unknown_keys``: query strings carry other things (``?_=cache-buster``);
      bodies do not, and an unknown key is refused (``where`` names the nested object).
    - ``ignored_keys``: keys accepted and ignored (read-only keys a client sends back).
    - ``not_an_object``: the sentence when the value is not a JSON object.
    - ``in_query``: the input is a query string (its fields are described as parameters).
    """

    accepts_unknown_keys: ClassVar[bool] = False
    in_query: ClassVar[bool] = False
    # The docstrings are for the code's readers; the document describes the fields.
    _spectacular_annotation: ClassVar[dict[str, Any]] = {"description": ""}
    ignored_keys: ClassVar[frozenset[str]] = frozenset()
    where: ClassVar[str] = ""
    not_an_object: ClassVar[str] = "Request body must be a JSON object"

    def run_validation(self, data: Any = empty) -> dict[str, Any] | None:
        """As an ``InputField`` does: a nested object that is absent is skipped, ``null`` is
        ``None`` (not given); anything else must be an object."""
        if data is empty:
            if self.required and self.parent is not None:
                raise serializers.ValidationError([f"{self.field_name} is required"])
            raise SkipField()
        if data is None and self.parent is not None and not self.required:
            return None
        return self.validate(self.to_internal_value(data))

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError([self.not_an_object])
        fields = list(self._writable_fields)
        errors: list[str] = []
        if not self.accepts_unknown_keys:
            known = {field.field_name for field in fields} | self.ignored_keys
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                errors.append(unknown_keys_sentence(unknown, self.where))
        values: dict[str, Any] = {}
        for field in fields:
            try:
                values[field.field_name] = field.run_validation(field.get_value(data))
            except SkipField:
                pass
            except serializers.ValidationError as exc:
                errors.extend(flatten(exc.detail))
        if errors:
            raise serializers.ValidationError(errors)
        return values

    def to_representation(self, instance: Any) -> Any:  # inputs are never rendered
        return instance

    @classmethod
    def parse(cls, data: Any) -> dict[str, Any]:
        """The validated values, or ``UnprocessableEntity`` with every sentence."""
        try:
            return cls.reader().run_validation(data)
        except serializers.ValidationError as exc:
            raise UnprocessableEntity(flatten(exc.detail)) from None

    @classmethod
    def reader(cls) -> Input:
        """The instance that reads this input, built once: a new one would copy and bind every
        field for each request (ten times the cost of reading a body). Reading keeps no state
        on it, so one instance serves every request and thread."""
        reader = cls.__dict__.get("_reader")
        if reader is None:
            reader = cls()
            reader.fields  # noqa: B018 (copied and bound before it is shared)
            cls._reader = reader
        return reader


class IntegerField(InputField):
    """An integer from ``minimum`` to ``maximum`` (a JSON integer, or a string of digits)."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any):
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            value = None
        elif isinstance(data, int):
            value = data
        elif isinstance(data, str) and data.strip().isascii() and data.strip().isdigit():
            value = int(data.strip())
        else:
            value = None
        if value is None or not self.minimum <= value <= self.maximum:
            raise self.invalid(f"must be an integer from {self.minimum} to {self.maximum}")
        return value

    def value_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


class NumberField(InputField):
    """A number from ``minimum`` to ``maximum``, read exactly (as a decimal fraction)."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any):
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Fraction:
        value = None
        if isinstance(data, (int, float)) and not isinstance(data, bool) and math.isfinite(data):
            value = Fraction(str(data))
        if value is None or not self.minimum <= value <= self.maximum:
            raise self.invalid(f"must be a number from {self.minimum} to {self.maximum}")
        return value

    def value_schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.minimum, "maximum": self.maximum}


class IdListField(InputField):
    """A JSON array of at most ``max_length`` distinct ids (order kept)."""

    blank_is_missing = False

    def __init__(self, *, max_length: int, **kwargs: Any):
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[int]:
        if not isinstance(data, list):
            raise self.invalid("must be an array of ids")
        if len(data) > self.max_length:
            raise self.invalid(f"must have at most {self.max_length} items")
        ids: list[int] = []
        for value in data:
            try:
                ids.append(parse_id(self.name, value))
            except UnprocessableEntity:
                raise self.invalid("must be an array of positive integer ids") from None
        return list(dict.fromkeys(ids))

    def value_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": dict(ID_SCHEMA), "maxItems": self.max_length}


class InstantField(InputField):
    """An instant: an ISO 8601 timestamp (``2025-03-01T12:00:00Z``; without a time zone, UTC),
    or a date (``2025-03-01``), which means the end of that day, UTC. A ``+`` of an offset
    left unencoded in a query string arrives as a space, and is read as the ``+`` it was."""

    def to_internal_value(self, data: Any) -> dt.datetime:
        text = data.strip() if isinstance(data, str) else None
        try:
            if text is None or len(text) < 10:
                raise ValueError
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
            instant = dt.datetime.fromisoformat(text[:10] + text[10:].replace(" ", "+"))
        except ValueError:
            raise self.invalid("must be a date (YYYY-MM-DD) or an ISO 8601 timestamp") from None
        return instant if instant.tzinfo is not None else instant.replace(tzinfo=dt.UTC)

    def value_schema(self) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ],
            "description": (
                "An ISO 8601 timestamp (UTC unless it says its offset), or a date (YYYY-MM-DD: "
                "the end of that day, UTC)."
            ),
        }
