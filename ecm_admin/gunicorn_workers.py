"""gunicorn workers whose own error answers are the service's JSON envelope.

gunicorn refuses some requests itself, before the application sees them: a request line
longer than ``limit_request_line`` (414), header fields over ``limit_request_field_size`` or
more than ``limit_request_fields`` of them (431), a malformed request line or header, a
repeated or negative ``Content-Length``, ``Content-Length`` together with chunked, a control
character in a header (400), a transfer coding it does not implement (501); and it answers
500 when the application raises past Django. Its stock answer is an HTML page without the
headers every other response carries, and it repeats what was sent (the request line, a
header), which can carry PHI.

These workers answer with the same statuses, but as ``{"errors": ["sentence"]}``, with
``Content-Type: application/json``, the security headers of the application's responses,
an ``X-Request-ID`` (the caller's, when it was read and is safe to repeat, else a new one)
and ``Connection: close``. The sentence names what was wrong, never what was sent; so does
the log line, which gunicorn would otherwise write with the offending bytes in it.

``gunicorn.conf.py`` selects ``ThreadWorker`` (threads > 1) or ``SyncWorker``.
"""

from __future__ import annotations

import json
import traceback
import uuid
from datetime import datetime
from http import HTTPStatus
from ssl import SSLError

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.message import Request
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker

INTERNAL_ERROR = "Internal server error"
MALFORMED_HEADER = "A request header is malformed or contains a character that is not allowed"


def refusal(exc: BaseException, cfg) -> tuple[int, str] | None:
    """The status and sentence for a request gunicorn refused, or None when ``exc`` is not the
    client's fault (the application failed: 500)."""
    # A header the application tried to send is its own fault (these subclass the client's).
    if isinstance(exc, (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName)):
        return None
    if isinstance(exc, errors.LimitRequestLine):
        return 414, (
            f"Request line is too long: at most {cfg.limit_request_line} bytes for the method, "
            "the path with its query string and the HTTP version"
        )
    if isinstance(exc, errors.LimitRequestHeaders):
        return 431, (
            f"Request headers are too large: at most {cfg.limit_request_fields} header fields, "
            f"each at most {cfg.limit_request_field_size} bytes"
        )
    if isinstance(exc, errors.UnsupportedTransferCoding):
        return 501, "Transfer-Encoding is not supported; send the body with Content-Length"
    if isinstance(exc, errors.ExpectationFailed):
        return 417, "Expect header cannot be met; only 100-continue is supported"
    if isinstance(exc, errors.InvalidHeader):
        # ``hdr`` is a fixed name for these two (message.py); for other headers it may be
        # the whole line as sent, so it is never repeated.
        if exc.hdr == "CONTENT-LENGTH":
            return 400, (
                "Content-Length header is invalid: send it once, as a non-negative integer, "
                "and not together with Transfer-Encoding"
            )
        if exc.hdr == "TRANSFER-ENCODING":
            return 400, "Transfer-Encoding header is invalid"
        return 400, MALFORMED_HEADER
    if isinstance(exc, errors.InvalidHeaderName):
        return 400, MALFORMED_HEADER
    if isinstance(exc, errors.ObsoleteFolding):
        return 400, "A request header is folded over several lines, which is not allowed"
    if isinstance(exc, errors.InvalidRequestLine):
        return 400, "Request line is malformed"
    if isinstance(exc, errors.InvalidRequestMethod):
        return 400, "Request method is not valid"
    if isinstance(exc, errors.InvalidHTTPVersion):
        return 400, "HTTP version is not valid or not supported; use HTTP/1.1"
    if isinstance(exc, errors.InvalidSchemeHeaders):
        return 400, "Forwarded scheme headers contradict each other"
    if isinstance(
        exc, (errors.InvalidChunkSize, errors.ChunkMissingTerminator, errors.InvalidChunkExtension)
    ):
        return 400, "Chunked request body is malformed"
    if isinstance(exc, (errors.InvalidProxyLine, errors.InvalidProxyHeader)):
        return 400, "PROXY protocol header is invalid"
    if isinstance(exc, errors.ForbiddenProxyRequest):
        return 403, "PROXY protocol is not accepted from this address"
    if isinstance(exc, errors.InvalidH2CPreface):
        return 400, "HTTP/2 connection preface is invalid"
    if isinstance(exc, SSLError):
        return 403, "TLS handshake failed"
    return None


def security_headers() -> tuple[tuple[str, str], ...]:
    """The headers ``RequestContextMiddleware`` and Django's ``SecurityMiddleware`` put on
    every response of the application (HSTS as configured: clients ignore it over plain
    HTTP)."""
    headers = [
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
    ]
    from django.conf import settings

    if not settings.configured:  # the application is not loaded (yet): the fixed ones only
        return tuple(headers)
    if settings.SECURE_REFERRER_POLICY:
        headers.append(("Referrer-Policy", settings.SECURE_REFERRER_POLICY))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    if settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    return tuple(headers)


def request_id_for(req) -> str:
    """The caller's ``X-Request-ID`` when the headers were read and it is safe to repeat
    (the application's rule), else a new UUID4."""
    from ecm_admin.request_context import incoming_request_id

    for name, value in getattr(req, "headers", None) or ():
        if name == "X-REQUEST-ID":
            return incoming_request_id(value)
    return str(uuid.uuid4())


def error_response(status: int, sentence: str, request_id: str, *, head: bool = False) -> bytes:
    """The whole HTTP/1.1 response: status line, headers, and the JSON body (none for HEAD;
    its length is announced all the same)."""
    body = json.dumps({"errors": [sentence]}).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Date: {util.http_date()}",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in security_headers()),
        f"X-Request-ID: {request_id}",
    ]
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_bytes if head else head_bytes + body


class JsonErrorsMixin:
    """Replaces ``Worker.handle_error``: same statuses and access log line, JSON body, the
    service's headers, and a log line without request content."""

    def handle_error(self, req, client, addr, exc):
        started = datetime.now()
        if req is None and isinstance(getattr(exc, "req", None), Request):
            req = exc.req  # a header was refused: the request line and headers were read
        request_id = request_id_for(req)
        refused = refusal(exc, self.cfg)
        if refused is not None:
            status, sentence = refused
            self.log.warning(
                "request refused before the application: %s (%s) [%s]",
                status,
                type(exc).__name__,
                request_id,
            )
        else:
            status, sentence = 500, f"{INTERNAL_ERROR} (request id {request_id})"
            # The stack without the exception's message, which may quote the request.
            stack = "".join(traceback.format_tb(exc.__traceback__))
            self.log.error(
                "error handling request: %s [%s]\n%s", type(exc).__name__, request_id, stack
            )
        if req is not None:
            self._log_access(req, client, addr, status, started)
        head = req is not None and req.method == "HEAD"
        try:
            util.write_nonblock(client, error_response(status, sentence, request_id, head=head))
        except Exception:
            self.log.debug("Failed to send error message.")

    def _log_access(self, req, client, addr, status, started):
        addr = addr or ("", -1)  # a unix socket
        try:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"] = addr[0]
            environ["REMOTE_PORT"] = str(addr[1])
            if req.path:  # the access log shows the path (never the query string)
                environ["PATH_INFO"] = util.unquote_to_wsgi_str(req.path)
            resp = Response(req, client, self.cfg)
            resp.status = f"{status} {HTTPStatus(status).phrase}"
            self.log.access(resp, req, environ, datetime.now() - started)
        except Exception:
            self.log.debug("Failed to log the refused request.")


class ThreadWorker(JsonErrorsMixin, GunicornThreadWorker):
    """gunicorn's ``gthread`` worker, answering its own errors in JSON.

    After answering a request on a kept-alive connection, gunicorn reads whatever of its body
    the application left unread. A body found malformed there (a bad chunk, say) belongs to
    a request that already has its answer: the connection is closed, and no second response
    is written behind the first. (``_keepalive_after`` is where gunicorn 27 does that read;
    tests/test_http_server.py fails if a gunicorn upgrade moves it.)
    """

    def _keepalive_after(self, conn, keepalive):
        try:
            return super()._keepalive_after(conn, keepalive)
        except errors.ParseException as exc:
            self.log.debug("Closing connection: unread body malformed (%s).", type(exc).__name__)
            return False


class SyncWorker(JsonErrorsMixin, GunicornSyncWorker):
    """gunicorn's ``sync`` worker, answering its own errors in JSON."""
