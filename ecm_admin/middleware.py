"""Middleware that keeps every response JSON, even outside DRF views."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError

from ecm_admin.exceptions import (
    DATABASE_UNAVAILABLE,
    DB_RETRY_AFTER_SECONDS,
    INTERNAL_ERROR,
    errors_response,
)

logger = logging.getLogger("ecm_admin.errors")


class JsonErrorsMiddleware:
    """Refuses oversized bodies (413) and turns stray exceptions into JSON 503/500.

    It sits first so that it also covers the other middleware. The Django admin keeps
    its own HTML pages; this only changes the body of a failure.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                too_large = int(length) > settings.MAX_REQUEST_BODY_BYTES
            except ValueError:
                return errors_response(["Content-Length header is not a number"], 400)
            if too_large:
                limit = settings.MAX_REQUEST_BODY_BYTES
                return errors_response([f"Request body is too large (limit {limit} bytes)"], 413)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.error("database unavailable: %s", type(exception).__name__)
            return errors_response(
                [DATABASE_UNAVAILABLE], 503, {"Retry-After": str(DB_RETRY_AFTER_SECONDS)}
            )
        if settings.DEBUG:
            return None
        logger.exception("unhandled error")
        return errors_response([INTERNAL_ERROR], 500)
