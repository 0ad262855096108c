"""DRF's exception handler (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``): every failure of an
API view becomes ``{"errors": [...]}`` with the right status (the sentences and exceptions:
``ecm_admin.exceptions``)."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ecm_admin.exceptions import (
    DB_RETRY_AFTER_SECONDS,
    MalformedRequest,
    PayloadTooLarge,
    TooManyFailedAttempts,
    UnprocessableEntity,
    database_unavailable_errors,
    flatten_errors,
    internal_error_message,
    is_database_down,
    log_database_error,
)

logger = logging.getLogger("ecm_admin.errors")


def api_exception_handler(exc, context):
    """DRF exception handler: every failure becomes ``{"errors": [...]}``."""
    # Every exception is answered here, so none reaches Django's ATOMIC_REQUESTS wrapper:
    # mark the request's transaction (if any) for rollback, as DRF's own handler does.
    set_rollback()
    if isinstance(exc, Http404):
        return Response({"errors": ["Not found"]}, status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response({"errors": ["Admin access required"]}, status=403)
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if isinstance(exc, DjangoValidationError):
        return Response({"errors": flatten_errors(exc.messages)}, status=422)

    if isinstance(exc, exceptions.APIException):
        headers = {}
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            request = context.get("request")
            authenticator = getattr(request, "_authenticator", None) or _first_authenticator(
                context
            )
            header = authenticator.authenticate_header(request) if authenticator else None
            headers["WWW-Authenticate"] = header or "Token"
            status_code = 401
        elif isinstance(exc, exceptions.ValidationError):
            status_code = 422
        else:
            status_code = exc.status_code
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)
        if status_code == 503:  # a store the service needs does not answer: retry soon
            headers["Retry-After"] = str(DB_RETRY_AFTER_SECONDS)
        if isinstance(exc, UnprocessableEntity):
            errors = exc.errors
        elif isinstance(exc, exceptions.ValidationError):
            errors = ["Validation failed: " + e for e in flatten_errors(exc.detail)]
        elif isinstance(exc, exceptions.NotAuthenticated):
            errors = ["Authentication required"]
        elif isinstance(exc, exceptions.Throttled) and not isinstance(exc, TooManyFailedAttempts):
            wait = headers.get("Retry-After")
            errors = [
                f"Rate limit exceeded; try again in {wait} seconds"
                if wait
                else "Rate limit exceeded; try again later"
            ]
        elif isinstance(exc, MalformedRequest):
            errors = exc.errors
        elif isinstance(exc, exceptions.ParseError):
            errors = ["Malformed JSON in request body"]
        elif isinstance(exc, exceptions.UnsupportedMediaType):
            errors = [f"Unsupported media type {exc.detail!s}; send application/json"]
        else:
            errors = flatten_errors(exc.detail)
        return Response(
            {"errors": errors or ["Request failed"]}, status=status_code, headers=headers
        )

    if is_database_down(exc):
        return Response(
            {"errors": database_unavailable_errors(exc)},
            status=503,
            headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DatabaseError):
        log_database_error(exc)
    else:
        logger.exception("unhandled error")
    return Response({"errors": [internal_error_message()]}, status=500)


def _first_authenticator(context):
    view = context.get("view")
    if view is None:
        return None
    authenticators = view.get_authenticators()
    return authenticators[0] if authenticators else None
