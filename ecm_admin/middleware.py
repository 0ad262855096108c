"""Middleware that keeps every response JSON, even outside DRF views."""

import logging
import re

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from django.http.multipartparser import MultiPartParserError

from ecm_admin.exceptions import (
    DB_RETRY_AFTER_SECONDS,
    INTERNAL_ERROR,
    database_unavailable_errors,
    errors_response,
    internal_error_message,
    log_database_error,
)

logger = logging.getLogger("ecm_admin.errors")

# Django's own error pages (the DEBUG 404 and 500 pages, a bare 405 from a plain view, a 400
# for a disallowed host) are HTML; outside the Django admin they are replaced by the envelope.
HTML_ERROR_MESSAGES = {
    400: "Bad request",
    403: "Admin access required",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body is too large",
    500: INTERNAL_ERROR,
}
ADMIN_PREFIX = "/admin/"
# Exceptions Django itself turns into 4xx responses; they must not become a 500 here.
CLIENT_ERRORS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)


def _is_html_error(request, response) -> bool:
    if response.status_code < 400 or getattr(response, "streaming", False):
        return False
    if not response.get("Content-Type", "").startswith("text/html"):
        return False
    path = request.path_info or "/"
    return not (path.startswith(ADMIN_PREFIX) or path == ADMIN_PREFIX.rstrip("/"))


def _as_json_error(response):
    status = response.status_code
    message = HTML_ERROR_MESSAGES.get(status) or response.reason_phrase or "Request failed"
    if status == 500:
        message = internal_error_message()
    # Keep Allow, Retry-After, the security headers...; only the body and its type change.
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("content-type", "content-length")
    }
    return errors_response([message], status, headers)


SAFE_PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.\[\]-]{1,50}")


def _refuse_input(request):
    """Input refused before anything else looks at it.

    - A body without ``Content-Length`` (chunked transfer encoding): Django would read it as
      empty, and its size cannot be checked before reading; 411.
    - A NUL character in the query string (``%00``), in a name or a value: 422. PostgreSQL
      text cannot hold it and no parameter of this service needs it.
    """
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not (
        request.META.get("CONTENT_LENGTH")
    ):
        return errors_response(
            ["Content-Length is required: chunked request bodies are not accepted"], 411
        )
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            shown = name if SAFE_PARAMETER_NAME.fullmatch(name) else "A query parameter"
            return errors_response([f"{shown} must not contain NUL characters"], 422)
    return None


def _read_unread_body(request) -> None:
    """Read what is left of a request body the response did not need (a 401, 405 or 429 to a
    POST), at most ``MAX_REQUEST_BODY_BYTES`` (larger bodies were refused before reading).

    gunicorn reads at most 64 KiB of an unread body before it closes the connection, and
    closing with data still unread resets it: a proxy still sending that body (nginx in
    front of several instances) then reports 502 instead of the answer, and counts the
    instance as failed."""
    if getattr(request, "_body", None) is not None:
        return  # read in full already (request.body)
    try:
        while request.read(64 * 1024):
            pass
    except OSError:  # UnreadablePostError: the client went away, nothing left to read
        pass


class JsonErrorsMiddleware:
    """Refuses oversized bodies (413) and turns stray exceptions into JSON 503/500.

    It sits first so that it also covers the other middleware. The Django admin keeps
    its own HTML pages; this only changes the body of a failure.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = _refuse_input(request)
        if refusal is not None:
            return refusal
        length = request.META.get("CONTENT_LENGTH")
        if length:
            try:
                too_large = int(length) > settings.MAX_REQUEST_BODY_BYTES
            except ValueError:
                return errors_response(["Content-Length header is not a number"], 400)
            if too_large:
                limit = settings.MAX_REQUEST_BODY_BYTES
                return errors_response([f"Request body is too large (limit {limit} bytes)"], 413)
        response = self.get_response(request)
        _read_unread_body(request)
        if _is_html_error(request, response):
            return _as_json_error(response)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            limit = settings.MAX_REQUEST_BODY_BYTES
            return errors_response([f"Request body is too large (limit {limit} bytes)"], 413)
        if isinstance(exception, CLIENT_ERRORS):
            # Not a server failure: Django answers 404/403/400 through the handlers in
            # ecm_admin.urls (or the admin's own pages); __call__ keeps the body JSON.
            return None
        if isinstance(exception, (OperationalError, InterfaceError)):
            return errors_response(
                database_unavailable_errors(exception),
                503,
                {"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
            )
        if settings.DEBUG:
            return None
        if isinstance(exception, DatabaseError):
            log_database_error(exception)
        else:
            logger.exception("unhandled error")
        return errors_response([internal_error_message()], 500)
