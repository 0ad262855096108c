"""Per-request context: the request id, the client address, security headers and the log line.

``RequestContextMiddleware`` sits first in ``MIDDLEWARE``. For every request it

- takes the caller's ``X-Request-ID`` when it matches a safe pattern, or makes a UUID4, and
  puts it on ``request.request_id``, in a context variable (so every log record carries it,
  see ``configure_logging``) and in the ``X-Request-ID`` response header;
- adds ``Cache-Control: no-store`` (PHI must not be kept by browsers or proxies),
  ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY`` to every response, also
  to the ones produced before Django's ``SecurityMiddleware`` runs (413, 422 for NUL bytes);
- logs one line per request: method, route template (never the raw path or the query
  string, which may carry PHI such as ``?search=Jane``), status and duration.
"""

from __future__ import annotations

import ipaddress
import logging
import logging.config
import re
import time
import uuid
from contextvars import ContextVar

from django.conf import settings

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and . _ : - only, at most 64 characters: safe in logs, headers and CSV.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
NO_REQUEST_ID = "-"

current_request_id: ContextVar[str] = ContextVar("current_request_id", default=NO_REQUEST_ID)

request_logger = logging.getLogger("ecm_admin.requests")


def get_request_id() -> str:
    return current_request_id.get()


def incoming_request_id(value: str | None) -> str:
    """The caller's id when it is safe to repeat, else a new UUID4."""
    if value and SAFE_REQUEST_ID.fullmatch(value):
        return value
    return str(uuid.uuid4())


def client_ip(request) -> str | None:
    """The client's address.

    Behind ``TRUSTED_PROXY_COUNT`` proxies, each appends the address it received the request
    from to ``X-Forwarded-For``; the client as seen by the outermost trusted proxy is the
    Nth entry from the right. Anything further left was written by the client and is not
    trusted. With no trusted proxy, ``REMOTE_ADDR``.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if entries:
            # Fewer entries than proxies: the leftmost was still written by a trusted proxy.
            candidate = entries[-count] if len(entries) >= count else entries[0]
            if _is_ip(candidate):
                return candidate
    return remote if remote and _is_ip(remote) else None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def route_template(request) -> str:
    """The matched URL pattern as a template (``/v1/.../patients/{patient_id}``), or ``""``.

    Built from the pattern, never from the path, so no value from the URL ends up in a log
    or an audit record.
    """
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    return "/" + regex_to_template(match.route)


_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")


def regex_to_template(route: str) -> str:
    """``v1/admin/^patients/(?P<patient_id>[^/]+)/?$`` → ``v1/admin/patients/{patient_id}``."""
    text = _GROUP.sub(lambda m: "{" + m["name"] + "}", route)
    text = _CONVERTER.sub(lambda m: "{" + m["name"] + "}", text)
    text = text.replace("^", "").replace("$", "").replace("/?", "").replace("\\", "")
    return text


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = incoming_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = current_request_id.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if "Cache-Control" not in response:
                response["Cache-Control"] = "no-store"
            response.setdefault("X-Content-Type-Options", "nosniff")
            response.setdefault("X-Frame-Options", "DENY")
            elapsed_ms = (time.monotonic() - started) * 1000
            request_logger.info(
                "%s %s %s %.0fms",
                request.method,
                route_template(request) or "-",
                response.status_code,
                elapsed_ms,
            )
            return response
        finally:
            current_request_id.reset(token)


# --- logging ------------------------------------------------------------------------------


_factory_installed = False


def install_log_record_factory() -> None:
    """Every log record gets ``request_id`` (``-`` outside a request), whichever logger or
    handler sees it: a format string may name ``%(request_id)s``."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = get_request_id()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def configure_logging(config: dict) -> None:
    """``LOGGING_CONFIG``: the record factory first, so every record from the start carries
    the request id, then ``LOGGING`` as Django applies it (``dictConfig``)."""
    install_log_record_factory()
    logging.config.dictConfig(config)
