"""The one pagination envelope: ``{"<plural>": [...], "pagination": {...}}``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Annotated, Any, TypedDict

from django.db.models import QuerySet

from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.inputs import EMPTY, InputField
from ecm_admin.shapes import Spec

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


class Pagination(TypedDict):
    current_page: Annotated[int, Spec(minimum=1)]
    total_pages: Annotated[int, Spec(minimum=0)]
    total_count: Annotated[int, Spec(minimum=0)]
    per_page: Annotated[int, Spec(maximum=MAX_PER_PAGE, minimum=1)]


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def _positive_int(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise UnprocessableEntity(f"{name} must be a positive integer")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isdigit() and raw.strip().isascii():
        value = int(raw.strip())
    else:
        raise UnprocessableEntity(f"{name} must be a positive integer")
    if value < 1:
        raise UnprocessableEntity(f"{name} must be a positive integer")
    return value


# Larger than any real page number; keeps OFFSET arithmetic within a 64-bit integer.
MAX_PAGE = 10_000_000


class PageField(InputField):
    """``page``: a positive integer (or a string of digits), default 1."""

    def to_internal_value(self, data: Any) -> int:
        try:
            value = _positive_int(self.name, data, 1)
        except UnprocessableEntity as exc:
            raise self.invalid(exc.errors[0].removeprefix(f"{self.name} ")) from None
        if value > MAX_PAGE:
            raise self.invalid(f"must be at most {MAX_PAGE}")
        return value

    def value_schema(self) -> dict[str, Any]:
        if getattr(self.root, "in_query", False):
            return {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PAGE,
                "description": (
                    "Page number (default 1). A page past the end is an empty list with "
                    "correct totals."
                ),
            }
        return {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                {"type": "string", "pattern": r"^0*[1-9][0-9]{0,6}$"},
                EMPTY,
            ],
            "description": "Page number (default 1); a string of digits is accepted too.",
        }


class PerPageField(InputField):
    """``per_page``: a positive integer (or a string of digits), default 25, served as at most
    100."""

    def to_internal_value(self, data: Any) -> int:
        try:
            value = _positive_int(self.name, data, DEFAULT_PER_PAGE)
        except UnprocessableEntity as exc:
            raise self.invalid(exc.errors[0].removeprefix(f"{self.name} ")) from None
        return min(value, MAX_PER_PAGE)

    def value_schema(self) -> dict[str, Any]:
        if getattr(self.root, "in_query", False):
            return {
                "type": "integer",
                "minimum": 1,
                "description": (
                    f"Items per page (default {DEFAULT_PER_PAGE}); a larger value than "
                    f"{MAX_PER_PAGE} is served as {MAX_PER_PAGE}."
                ),
            }
        return {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^0*[1-9][0-9]*$"},
                EMPTY,
            ],
            "description": (
                f"Items per page (default {DEFAULT_PER_PAGE}; above {MAX_PER_PAGE} is served "
                f"as {MAX_PER_PAGE}); a string of digits is accepted too."
            ),
        }


def page_of(values: Mapping[str, Any]) -> PageRequest:
    """The page an input's validated ``page`` and ``per_page`` ask for."""
    return PageRequest(
        page=values.get("page") or 1, per_page=values.get("per_page") or DEFAULT_PER_PAGE
    )


def page_request(params: Mapping[str, Any]) -> PageRequest:
    """Read ``page`` and ``per_page`` from query parameters or a JSON body."""
    page = _positive_int("page", params.get("page"), 1)
    per_page = _positive_int("per_page", params.get("per_page"), DEFAULT_PER_PAGE)
    if page > MAX_PAGE:
        raise UnprocessableEntity(f"page must be at most {MAX_PAGE}")
    return PageRequest(page=page, per_page=min(per_page, MAX_PER_PAGE))


def ordered_page_ids(
    queryset: QuerySet, request: PageRequest, total: int, *, field: str = "pk"
) -> list[int]:
    """The page's ids (``field`` of each row). Past the middle, the mirrored page of the
    reversed order is read instead (the ordering always ends in the id, so it is total and
    reverses exactly), so the last page skips as few rows as the first.
    """
    ids = queryset.values_list(field, flat=True)
    if request.offset <= total // 2:
        return list(ids[request.offset : request.offset + request.per_page])
    take = min(request.per_page, total - request.offset)
    start = max(total - request.offset - request.per_page, 0)
    return list(reversed(ids.reverse()[start : start + take]))


def paginate(
    queryset: QuerySet | None,
    request: PageRequest,
    plural: str,
    render: Callable[[Any], dict],
    *,
    count: int | None = None,
    load: Callable[[list[int]], Iterable[Any]] | None = None,
    row_id: Callable[[Any], int] = attrgetter("pk"),
    page_ids: list[int] | None = None,
) -> dict:
    """Slice ``queryset`` (already ordered; ``None`` when ``page_ids`` are given) and render
    the envelope.

    ``count`` may be given when the caller can count more cheaply than ``queryset.count()``.
    ``load`` (a deferred join): the page's ids are read first, by the ordered and filtered
    query alone, then ``load(ids)`` fetches those rows with everything they render, in any
    order (``row_id(row)`` is a row's id). A deep page then skips over ids only, not over
    fully joined rows.
    ``page_ids`` (with ``load`` and ``count``): the page's ids, when the caller read them
    together with the count (a narrow search).
    """
    total = queryset.count() if count is None else count
    ids = page_ids
    window = slice(request.offset, request.offset + request.per_page)
    if total == 0 or request.offset >= total:
        rows = []
    elif load is None:
        rows = list(queryset[window])
    else:
        if ids is None:
            ids = ordered_page_ids(queryset, request, total)
        by_id = {row_id(row): row for row in load(ids)} if ids else {}
        rows = [by_id[pk] for pk in ids if pk in by_id]
    return {
        plural: [render(row) for row in rows],
        "pagination": {
            "current_page": request.page,
            "total_pages": math.ceil(total / request.per_page) if total else 0,
            "total_count": total,
            "per_page": request.per_page,
        },
    }


def paginate_list(items: list[Any], request: PageRequest, plural: str) -> dict:
    """The envelope of a page of ``items``, a list already rendered and ordered in full."""
    total = len(items)
    return {
        plural: items[request.offset : request.offset + request.per_page],
        "pagination": {
            "current_page": request.page,
            "total_pages": math.ceil(total / request.per_page) if total else 0,
            "total_count": total,
            "per_page": request.per_page,
        },
    }
