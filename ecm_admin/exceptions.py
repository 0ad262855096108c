"""One error envelope for the whole service: ``{"errors": ["sentence", ...]}``.

DRF exceptions, Django exceptions and database failures all end here (API views through
``ecm_admin.exception_handler``; everything else through the middleware and the handlers
below, wired in ``ecm_admin.urls``). No stack trace, SQL or PHI is ever put in a body.

The exceptions and sentences here are imported by modules DRF's settings name (the
authentication, the parsers): this module imports none of DRF's views.
"""

import logging
import sys
import traceback
from collections.abc import Iterable

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework import exceptions, status

from ecm_admin.request_context import NO_REQUEST_ID, get_request_id

logger = logging.getLogger("ecm_admin.errors")

INTERNAL_ERROR = "Internal server error"
TOO_MANY_FAILED_ATTEMPTS = "Too many failed attempts; try again later"
PRECONDITION_FAILED = (
    "Precondition failed: the patient was changed by someone else; reload and retry"
)
DATABASE_UNAVAILABLE = "Service temporarily unavailable: the database cannot be reached"
DATABASE_BUSY = "Service temporarily unavailable: the database is busy; try again shortly"
DB_RETRY_AFTER_SECONDS = 5
# The database answered, but the statement was cancelled: it ran past statement_timeout
# (57014) or waited past lock_timeout (55P03) (ecm_admin.db_timeouts), or lost a deadlock
# (40P01) or a serialization conflict (40001). Retrying later is the remedy for each.
BUSY_SQLSTATES = frozenset({"57014", "55P03", "40P01", "40001"})
# SQLite: SQLITE_BUSY and SQLITE_LOCKED (primary result codes) after its busy timeout.
BUSY_SQLITE_CODES = frozenset({5, 6})


class UnprocessableEntity(exceptions.APIException):
    """422 with one or more ready-made sentences."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Validation failed"
    default_code = "invalid"

    def __init__(self, errors: str | Iterable[str]):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__(detail=self.errors)


class MalformedRequest(exceptions.ParseError):
    """400 with ready-made sentences: the body is not a JSON document the service can read
    (syntax, encoding, nesting, duplicate keys, numbers out of range)."""

    def __init__(self, errors: str | Iterable[str]):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__(detail=self.errors)


class NotFound(exceptions.NotFound):
    """404 with the exact sentence the contract names ("Patient not found")."""


class PreconditionFailed(exceptions.APIException):
    """412: ``If-Match`` names a representation that is no longer current."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = PRECONDITION_FAILED
    default_code = "precondition_failed"


class TooManyFailedAttempts(exceptions.Throttled):
    """429 after too many failed authentications from one client or for one email."""

    def __init__(self, wait: float):
        exceptions.APIException.__init__(self, detail=TOO_MANY_FAILED_ATTEMPTS)
        self.wait = wait


def internal_error_message() -> str:
    """The 500 sentence, with the request id so a caller can quote it to the operators."""
    request_id = get_request_id()
    if request_id == NO_REQUEST_ID:
        return INTERNAL_ERROR
    return f"{INTERNAL_ERROR} (request id {request_id})"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large"
    default_code = "too_large"


def errors_response(errors: list[str], status_code: int, headers: dict | None = None):
    response = JsonResponse({"errors": errors}, status=status_code)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def flatten_errors(detail, prefix: str = "") -> list[str]:
    """Turn DRF's nested error detail into flat sentences that name the field."""
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                out.extend(flatten_errors(value, prefix))
            else:
                name = f"{prefix}{key}"
                out.extend(flatten_errors(value, f"{name}."))
        return out
    if isinstance(detail, list):
        out = []
        for item in detail:
            out.extend(flatten_errors(item, prefix))
        return out
    text = str(detail)
    field = prefix[:-1] if prefix.endswith(".") else prefix
    if field and not text.startswith(field):
        return [f"{field} {text[0].lower()}{text[1:]}" if text else field]
    return [text]


def is_database_down(exc: Exception) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError))


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


def database_unavailable_errors(exc: Exception) -> list[str]:
    """The 503 sentence for a database error that is not the request's fault (logged here):
    busy (a timeout, a lock) or out of reach (anything else)."""
    sqlstate = _sqlstate(exc)
    sqlite_code = getattr(exc.__cause__ or exc, "sqlite_errorcode", None)
    if sqlstate in BUSY_SQLSTATES or (
        sqlite_code is not None and sqlite_code & 0xFF in BUSY_SQLITE_CODES
    ):
        logger.warning("database busy: %s (sqlstate %s)", type(exc).__name__, sqlstate or "-")
        return [DATABASE_BUSY]
    logger.error("database unavailable: %s", type(exc).__name__)
    return [DATABASE_UNAVAILABLE]


def log_database_error(exc: Exception) -> None:
    """Log a database error without its message: PostgreSQL puts row values in it
    ("Key (member_id)=(...) already exists"), and logs must not carry PHI. The SQLSTATE and
    the stack (code lines only) say what failed and where."""
    sqlstate = _sqlstate(exc) or "-"
    stack = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("database error: %s (sqlstate %s)\n%s", type(exc).__name__, sqlstate, stack)


# --- non-DRF handlers (wired in ecm_admin.urls) -----------------------------


def handler400(request, exception=None):
    return errors_response(["Bad request"], 400)


def handler403(request, exception=None):
    return errors_response(["Admin access required"], 403)


def handler404(request, exception=None):
    return errors_response(["Not found"], 404)


def handler500(request):
    exc = sys.exc_info()[1]
    if exc is not None and is_database_down(exc):
        return errors_response(
            database_unavailable_errors(exc), 503, {"Retry-After": str(DB_RETRY_AFTER_SECONDS)}
        )
    return errors_response([internal_error_message()], 500)
