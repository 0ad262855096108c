"""Optimistic concurrency for ``PUT``/``PATCH /patients/{id}``: ``ETag`` and ``If-Match``.

The ETag is a hash of the patient's detail representation, so it changes whenever anything
the detail shows changes (own fields, eligibility, case load, authorizations, status history,
activity count). A write with an ``If-Match`` that names no current representation is
refused with 412. ``If-Match`` uses the strong comparison (RFC 9110, 13.1.1): a weak tag
(``W/"..."``) matches nothing, so a write that sends only weak tags is refused with 412 too.
The comparison happens inside the update's transaction, after the patient row is locked, so
two writers holding the same ETag cannot both succeed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from ecm_admin.exceptions import PreconditionFailed
from patients import selectors
from patients.serializers import patient_detail


def representation_etag(detail: dict[str, Any]) -> str:
    """A strong ETag: the SHA-256 of the canonical JSON of ``detail`` (first 32 hex digits)."""
    canonical = json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32] + '"'


def parse_if_match(header: str | None) -> list[str] | None:
    """The entity tags of an ``If-Match`` header (``["*"]`` for any); ``None`` when absent.

    Weak tags are kept as sent (``W/"..."``): under the strong comparison ``If-Match``
    requires, they match no representation.
    """
    if header is None or not header.strip():
        return None
    tags = [tag for tag in (part.strip() for part in header.split(",")) if tag]
    return tags or None


def if_match_check(header: str | None, patient_id: int) -> Callable[[], None] | None:
    """The precondition ``patients.services.patient_update`` runs under the row lock."""
    tags = parse_if_match(header)
    if tags is None or "*" in tags:
        return None

    def check() -> None:
        patient = selectors.patient_detail(patient_id=patient_id)
        current = representation_etag(patient_detail(patient)) if patient else None
        if current not in tags:
            raise PreconditionFailed()

    return check
