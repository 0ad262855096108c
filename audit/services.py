"""Writing access events. Everything here INSERTs; nothing updates or deletes.

API views say what they did with ``access_report(request, action, ids)``; the middleware
(``audit.middleware``) writes one row per request with the final status. Auth failures,
403s and 429s are recorded by the middleware on its own. The Django admin and management
commands write through ``event_record`` (see ``audit.admin_audit`` and ``audit.commands``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils import timezone

from audit.models import AccessEvent
from ecm_admin.request_context import client_ip, get_request_id, route_template
from ecm_admin.statements import Insert

# Every column but the id, as ``event_record`` fills them.
_INSERT_EVENT = Insert(
    AccessEvent,
    [field.name for field in AccessEvent._meta.concrete_fields if not field.primary_key],
)

# Commands may touch many patients; their ids are spread over events of at most this many.
MAX_IDS_PER_EVENT = 1000


@dataclass
class PendingAudit:
    """What an API view reported; the middleware adds the status and writes it."""

    action: str
    patient_ids: list[int] = field(default_factory=list)


def _django_request(request):
    """The Django ``HttpRequest`` behind a DRF ``Request`` (attributes set on it survive)."""
    return getattr(request, "_request", request)


def normalise_ids(ids: Iterable) -> list[int]:
    """Distinct positive integers, in first-seen order; anything else is dropped."""
    seen: dict[int, None] = {}
    for value in ids:
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value > 0:
            seen.setdefault(value, None)
    return list(seen)


def access_report(request, action: str, patient_ids: Iterable = ()) -> None:
    """Called by a view: this request did ``action`` on these patients (no query here).

    Call it before the work that may fail, with the ids the request names, so a refused
    attempt (404, 412, 422) is recorded too; a second call replaces the first.
    """
    _django_request(request)._audit = PendingAudit(action, normalise_ids(patient_ids))


def credentials_note(request, *, token_prefix: str = "", user_id: int | None = None) -> None:
    """Called by authentication: who the presented credentials pointed at, even if refused."""
    target = _django_request(request)
    target._audit_token_prefix = token_prefix
    target._audit_user_id = user_id


def pending_audit(request) -> PendingAudit | None:
    return getattr(request, "_audit", None)


def event_record(
    *,
    source: str,
    action: str,
    user_id: int | None = None,
    token_prefix: str = "",
    method: str = "",
    route: str = "",
    status_code: int | None = None,
    request_id: str = "",
    client_ip: str | None = None,
    patient_ids: Iterable = (),
) -> AccessEvent:
    """One INSERT (written out: the middleware makes one for most API requests)."""
    values = {
        "occurred_at": timezone.now(),
        "source": source[:64],
        "action": action,
        "user": user_id,
        "token_prefix": token_prefix[:20],
        "method": method[:10],
        "route": route[:200],
        "status_code": status_code,
        "request_id": request_id[:64],
        "client_ip": client_ip,
        "patient_ids": normalise_ids(patient_ids),
    }
    pk = _INSERT_EVENT.row(values)
    values["user_id"] = values.pop("user")
    event = AccessEvent(pk=pk, **values)
    event._state.adding = False
    return event


def events_record(*, patient_ids: Iterable = (), **fields) -> list[AccessEvent]:
    """Like ``event_record``, split into events of at most ``MAX_IDS_PER_EVENT`` ids."""
    ids = normalise_ids(patient_ids)
    chunks = [ids[i : i + MAX_IDS_PER_EVENT] for i in range(0, len(ids), MAX_IDS_PER_EVENT)]
    return [event_record(patient_ids=chunk, **fields) for chunk in chunks or [[]]]


def request_event_record(
    request,
    *,
    source: str,
    action: str,
    status_code: int,
    patient_ids: Iterable = (),
    user_id: int | None = None,
) -> AccessEvent:
    """An event for an HTTP request (API or admin): user, token, route, request id, client."""
    if user_id is None:
        user = request.__dict__.get("user")
        user_id = getattr(user, "pk", None) if _is_loaded_user(user) else None
    token = request.__dict__.get("auth")
    token_prefix = getattr(token, "prefix", "") or getattr(request, "_audit_token_prefix", "")
    if user_id is None:
        user_id = getattr(request, "_audit_user_id", None)
    return event_record(
        source=source,
        action=action,
        user_id=user_id,
        token_prefix=token_prefix,
        method=request.method or "",
        route=route_template(request),
        status_code=status_code,
        request_id=getattr(request, "request_id", "") or get_request_id(),
        client_ip=client_ip(request),
        patient_ids=patient_ids,
    )


def _is_loaded_user(user) -> bool:
    """A real user object, not the session's lazy user (reading that would cost a query)."""
    from django.utils.functional import SimpleLazyObject

    if user is None or type(user) is SimpleLazyObject:
        return False
    return bool(getattr(user, "is_authenticated", False))
