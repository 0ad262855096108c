"""Writes the access event of an API request once the response is known (one INSERT)."""

import logging

from django.db import DatabaseError

from audit.models import Action, Source
from audit.services import pending_audit, request_event_record
from ecm_admin.exceptions import DATABASE_UNAVAILABLE, DB_RETRY_AFTER_SECONDS, errors_response

logger = logging.getLogger("audit")

ADMIN_PREFIX = "/admin/"
# Refusals recorded even when no view reported anything.
REFUSALS = {401: Action.AUTH_FAILED, 403: Action.DENIED, 429: Action.RATE_LIMITED}
READS = {Action.READ_LIST, Action.READ_DETAIL}


class AccessAuditMiddleware:
    """Records what API views report with ``audit.services.access_report`` and every 401/403/429.

    The Django admin is audited by ``audit.admin_audit``. A 503 is not recorded: the
    database is unreachable, so nothing was released and nothing can be written.

    If the record cannot be written, a successful read is answered with 503 instead of the
    data (no PHI leaves without an audit record); for other outcomes the failure is logged.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(ADMIN_PREFIX):
            return response
        status = response.status_code
        pending = pending_audit(request)
        action = pending.action if pending is not None else REFUSALS.get(status)
        if action is None or status == 503:
            return response
        try:
            request_event_record(
                request,
                source=Source.API,
                action=action,
                status_code=status,
                patient_ids=pending.patient_ids if pending else (),
            )
        except DatabaseError as exc:
            logger.error("access event not recorded (%s)", type(exc).__name__)
            if 200 <= status < 300 and action in READS:
                return errors_response(
                    [DATABASE_UNAVAILABLE], 503, {"Retry-After": str(DB_RETRY_AFTER_SECONDS)}
                )
        return response
