"""Middleware that keeps every response JSON, even outside DRF views."""

import logging
import re
from urllib.parse import parse_qsl

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
from ecm_admin.text import text_problem

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


# A parameter name is repeated in an answer only when it looks like one.
SAFE_PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.\[\]-]{1,50}")
# The request headers the service reads itself (the token, the ETag precondition, the
# caller's request id): the text rule applies to them as to any other input.
CHECKED_HEADERS = ("X-User-Token", "If-Match", "X-Request-ID")
# Every query parameter of the API is a single value.
API_PATH_PREFIX = "/v1/"
UTF8_NAMES = frozenset({"utf-8", "utf8"})


def _query_pairs(request) -> list[tuple[str, str]]:
    """The query string's ``(name, value)`` pairs, in order, as the client sent them.

    Django decodes a query string leniently: a percent-encoded byte sequence that is not
    UTF-8 (``%FF``) becomes U+FFFD, and raw bytes that are not UTF-8 make it read the whole
    string as Latin-1. Here they are kept as unpaired surrogates (``surrogateescape``), which
    the text rule refuses: a query string that is not UTF-8 is refused, not guessed at.
    Raises ``ValueError`` past ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` parameters.
    """
    query = request.META.get("QUERY_STRING", "")
    if not query:
        return []
    try:
        raw = query.encode("iso-8859-1")  # WSGI hands the bytes over as Latin-1 text
    except UnicodeEncodeError:
        raw = query.encode("utf-8", "surrogateescape")
    return parse_qsl(
        raw.decode("utf-8", "surrogateescape"),
        keep_blank_values=True,
        encoding="utf-8",
        errors="surrogateescape",
        max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
    )


def _query_problems(request) -> list[str]:
    """Sentences for the query string: text the rule refuses (in a name or a value), and, on
    the API, a parameter given more than once (``page=2&page=3``: which one counts is
    ambiguous). A value is never repeated back; a name only when it looks like one."""
    problems: list[str] = []
    scalar = request.path_info.startswith(API_PATH_PREFIX)
    seen: set[str] = set()
    for name, value in _query_pairs(request):
        problem = text_problem(name)
        if problem is not None:
            problems.append(f"A query parameter name {problem}")
            continue
        shown = name if SAFE_PARAMETER_NAME.fullmatch(name) else "A query parameter"
        problem = text_problem(value)
        if problem is not None:
            problems.append(f"{shown} {problem}")
        if scalar and name in seen:
            problems.append(f"{shown} must be given once")
        seen.add(name)
    if not problems and (request.encoding or "utf-8").lower() not in UTF8_NAMES:
        # A charset in Content-Type makes Django decode the query string with it: what the
        # views will read is checked too.
        for name, values in request.GET.lists():
            for text in (name, *values):
                problem = text_problem(text)
                if problem is not None:
                    problems.append(f"A query parameter {problem}")
    return list(dict.fromkeys(problems))


def _refuse_input(request):
    """Input refused before anything else looks at it.

    - A body without ``Content-Length`` (chunked transfer encoding): Django would read it as
      empty, and its size cannot be checked before reading; 411.
    - Text the rule refuses (``ecm_admin.text``: NUL, control characters, invalid Unicode,
      non-characters) in a query parameter's name or value, or in a header the service reads;
      a query parameter of the API given more than once: 422, naming the parameter or the
      header. PostgreSQL text cannot hold a NUL or a lone surrogate, and no parameter of this
      service needs any of them.
    """
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not (
        request.META.get("CONTENT_LENGTH")
    ):
        return errors_response(
            ["Content-Length is required: chunked request bodies are not accepted"], 411
        )
    try:
        problems = _query_problems(request)
    except ValueError:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return errors_response([f"Too many query parameters (limit {limit})"], 400)
    for header in CHECKED_HEADERS:
        value = request.headers.get(header)
        problem = None if value is None else text_problem(value)
        if problem is not None:
            problems.append(f"{header} {problem}")
    if problems:
        return errors_response(problems, 422)
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
