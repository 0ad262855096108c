"""What the real server answers to requests gunicorn refuses before the application sees them.

gunicorn is started as in production (``gunicorn.conf.py``, DEBUG off, a SECRET_KEY, plain
HTTP) once per worker class (``gthread``, and ``sync`` for ``GUNICORN_THREADS=1``), on a
socket this module opens on a free port and hands to it (``fd://``), so parallel test runs
never race for a port. Its database is the PostgreSQL test database when the suite runs on
PostgreSQL, else a migrated SQLite file of its own. Each case is raw bytes over a socket;
every answer must be the ``{"errors": [...]}`` envelope with the application's own security
headers, the status gunicorn chooses, and no byte of what was sent: neither in the body nor
in the server's log.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from tests.http_server_app import BAD_HEADER_PATH, RAISE_PATH, SECRET

PROJECT_DIR = Path(__file__).resolve().parent.parent
APPLICATION = "tests.http_server_app:application"
START_TIMEOUT = 60
IO_TIMEOUT = 10
# In the offending part of each request below; it must never come back, nor reach the log.
PHI = SECRET
# The documented limits (README, "Limits"; gunicorn.conf.py).
REQUEST_LINE_LIMIT = 4094
HEADER_LINE_LIMIT = 8190
HEADER_FIELDS_LIMIT = 100
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# Headers that legitimately differ between two responses; every other header the application
# puts on its own errors must be on gunicorn's too, with the same value.
PER_RESPONSE_HEADERS = {"date", "server", "connection", "content-length", "x-request-id", "vary"}


@dataclass
class Server:
    port: int
    log_path: Path
    worker: str

    def log(self, since: int = 0) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    trailing: bytes  # anything the server sent after the first response

    def json(self):
        return json.loads(self.body)


class _Received(io.BytesIO):
    def close(self):
        """HTTPResponse closes its file when done: what follows must stay readable."""


class _Replay:
    """What the server sent, for ``http.client.HTTPResponse`` to parse."""

    def __init__(self, data: bytes):
        self.file = _Received(data)

    def makefile(self, *args, **kwargs):
        return self.file


def exchange(server: Server, raw: bytes, method: str = "GET") -> Answer:
    """Send ``raw`` on a new connection, read everything until the server closes it, and
    parse the first response; ``trailing`` is whatever came after it."""
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(raw)
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    replay = _Replay(received)
    response = http.client.HTTPResponse(replay, method=method)
    response.begin()
    body = response.read()
    return Answer(response.status, response.headers, body, replay.file.read())


def request(
    path: str = "/healthz",
    *headers: str,
    method: str = "GET",
    body: bytes = b"",
    close: bool = True,
) -> bytes:
    """A request with ``Host`` and, unless ``close`` is false, ``Connection: close`` (so that
    the server closes the connection after an answer from the application too)."""
    fixed = ["Host: 127.0.0.1", *(["Connection: close"] if close else [])]
    lines = [f"{method} {path} HTTP/1.1", *fixed, *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


# --- the server ------------------------------------------------------------------------------


def _postgres_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgresql://{credentials}{host}:{port}/{settings_dict['NAME']}"


def _environment(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "HTTPS_ONLY": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        **extra,
    }


@pytest.fixture(scope="module")
def database_url(request, tmp_path_factory) -> str:
    if connection.vendor == "postgresql":
        request.getfixturevalue("django_db_setup")  # the test database, migrated
        return _postgres_url(connection.settings_dict)
    url = f"sqlite:///{tmp_path_factory.mktemp('http-server') / 'db.sqlite3'}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=PROJECT_DIR,
        env=_environment(DATABASE_URL=url),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return url


def _wait_until_ready(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    return
            finally:
                probe.close()
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer /healthz in {START_TIMEOUT}s:\n{log_path.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's process group (the master and its workers), SIGKILL if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers left behind, if any
    process.wait(timeout=10)


@pytest.fixture(scope="module", params=["gthread", "sync"])
def server(request, database_url, tmp_path_factory):
    worker = request.param
    directory = tmp_path_factory.mktemp(f"gunicorn-{worker}")
    log_path = directory / "gunicorn.log"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    env = _environment(
        DATABASE_URL=database_url,
        GUNICORN_BIND=f"fd://{listener.fileno()}",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2" if worker == "gthread" else "1",
        LOG_LEVEL="INFO",
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", APPLICATION],
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
            start_new_session=True,
        )
    try:
        _wait_until_ready(port, process, log_path)
        yield Server(port, log_path, worker)
    finally:
        _stop(process)
        listener.close()


@pytest.fixture(scope="module")
def application_error(server) -> Answer:
    """An error the application answers itself (an unknown path): the reference headers."""
    answer = exchange(server, request("/no-such-page"))
    assert answer.status == 404
    assert answer.json() == {"errors": ["Not found"]}
    return answer


def assert_envelope(answer: Answer, status: int, reference: Answer) -> str:
    """The JSON envelope with one sentence, the application's headers, nothing sent twice;
    returns the sentence."""
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/json"
    payload = answer.json()
    assert list(payload) == ["errors"]
    assert len(payload["errors"]) == 1 and payload["errors"][0]
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Request-ID"]
    for name, value in reference.headers.items():
        if name.lower() not in PER_RESPONSE_HEADERS:
            assert answer.headers[name] == value, name
    assert answer.headers["Connection"] == "close"
    assert answer.trailing == b""
    return payload["errors"][0]


# --- what gunicorn refuses -------------------------------------------------------------------

TOO_LONG_PATH = "/v1/admin/clinic/ecm/patients?search=" + PHI + "&x=" + "a" * REQUEST_LINE_LIMIT

REFUSED = {
    "request line over the limit": (request(TOO_LONG_PATH), 414, "Request line is too long"),
    "header line over the limit": (
        request("/healthz", "X-Note: " + PHI + "a" * HEADER_LINE_LIMIT),
        431,
        "Request headers are too large",
    ),
    "more header fields than the limit": (
        request("/healthz", *(f"X-Field-{n}: {PHI}" for n in range(HEADER_FIELDS_LIMIT + 1))),
        431,
        "Request headers are too large",
    ),
    "duplicate Content-Length": (
        request("/v1/auth/tokens", "Content-Length: 2", "Content-Length: 2", method="POST"),
        400,
        "Content-Length header is invalid",
    ),
    "negative Content-Length": (
        request("/v1/auth/tokens", "Content-Length: -1", method="POST"),
        400,
        "Content-Length header is invalid",
    ),
    "Content-Length with chunked": (
        request(
            "/v1/auth/tokens",
            "Content-Length: 5",
            "Transfer-Encoding: chunked",
            method="POST",
            body=b"0\r\n\r\n",
        ),
        400,
        "Content-Length header is invalid",
    ),
    "control character in a header": (
        request("/healthz", f"X-Note: {PHI}\x01"),
        400,
        "A request header is malformed",
    ),
    "header line without a colon": (
        request("/healthz", f"X-Note {PHI}"),
        400,
        "A request header is malformed",
    ),
    "header folded over two lines": (
        request("/healthz", "X-Note: first", f" {PHI}"),
        400,
        "A request header is folded",
    ),
    "unsupported transfer coding": (
        request("/v1/auth/tokens", f"Transfer-Encoding: {PHI}", method="POST"),
        501,
        "Transfer-Encoding is not supported",
    ),
    "malformed request line": (
        f"GET /healthz?name={PHI} HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n".encode(),
        400,
        "HTTP version is not valid",
    ),
    "invalid method": (
        request("/healthz", method=f"G@T{PHI}"),
        400,
        "Request method is not valid",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_requests_get_the_json_envelope(server, application_error, case):
    raw, status, sentence = REFUSED[case]
    log_start = server.log_size()
    answer = exchange(server, raw)
    text = assert_envelope(answer, status, application_error)
    assert text.startswith(sentence)
    assert UUID4.fullmatch(answer.headers["X-Request-ID"])
    assert PHI not in text
    assert PHI.encode() not in answer.body
    assert PHI not in server.log(since=log_start)


def test_limits_in_the_sentences_are_the_configured_ones(server, application_error):
    line = exchange(server, REFUSED["request line over the limit"][0])
    assert assert_envelope(line, 414, application_error) == (
        f"Request line is too long: at most {REQUEST_LINE_LIMIT} bytes for the method, the path "
        "with its query string and the HTTP version"
    )
    headers = exchange(server, REFUSED["header line over the limit"][0])
    assert assert_envelope(headers, 431, application_error) == (
        f"Request headers are too large: at most {HEADER_FIELDS_LIMIT} header fields, each at "
        f"most {HEADER_LINE_LIMIT} bytes"
    )


def test_requests_at_the_limits_reach_the_application(server):
    """The documented limits are the accepted maxima: one byte or one field more is refused."""
    prefix, suffix = "GET /", " HTTP/1.1"
    longest = "a" * (REQUEST_LINE_LIMIT - len(prefix) - len(suffix))
    raw = f"{prefix}{longest}{suffix}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    at_limit = exchange(server, raw)
    assert at_limit.status == 404 and at_limit.json() == {"errors": ["Not found"]}
    over = exchange(server, raw.replace(b"GET /", b"GET /a", 1))
    assert over.status == 414

    name = "X-Pad: "
    value = "a" * (HEADER_LINE_LIMIT - len(name) - len("\r\n"))
    assert exchange(server, request("/healthz", name + value)).status == 200
    assert exchange(server, request("/healthz", name + value + "a")).status == 431

    fields = [f"X-Field-{n}: 1" for n in range(HEADER_FIELDS_LIMIT - 2)]  # + Host, Connection
    assert exchange(server, request("/healthz", *fields)).status == 200
    assert exchange(server, request("/healthz", *fields, "X-One-More: 1")).status == 431


def test_a_safe_request_id_sent_before_the_fault_is_kept(server, application_error):
    kept = exchange(
        server,
        request("/v1/auth/tokens", "X-Request-ID: trace-42.a", "Content-Length: -1", method="POST"),
    )
    assert_envelope(kept, 400, application_error)
    assert kept.headers["X-Request-ID"] == "trace-42.a"
    replaced = exchange(
        server,
        request("/v1/auth/tokens", "X-Request-ID: <script>", "Content-Length: -1", method="POST"),
    )
    assert UUID4.fullmatch(replaced.headers["X-Request-ID"])


def test_a_refused_head_request_gets_headers_only(server, application_error):
    answer = exchange(
        server, request("/healthz", "Content-Length: -1", method="HEAD"), method="HEAD"
    )
    assert answer.status == 400
    assert answer.body == b""
    assert int(answer.headers["Content-Length"]) > 0
    assert answer.headers["Content-Type"] == "application/json"


def test_a_malformed_body_left_unread_gets_no_second_answer(server):
    """The application refuses chunked bodies (411) without reading them; on a kept-alive
    connection gunicorn then reads the rest of the request, finds it malformed, and must close
    the connection rather than answer the same request twice."""
    raw = request(
        "/v1/admin/clinic/ecm/patients/filter",
        "Transfer-Encoding: chunked",
        "Content-Type: application/json",
        method="POST",
        body=f"ZZ{PHI}\r\n{{}}\r\n0\r\n\r\n".encode(),
        close=False,
    )
    log_start = server.log_size()
    answer = exchange(server, raw, method="POST")
    assert answer.status == 411
    assert answer.json()["errors"]
    assert answer.trailing == b""  # closed, with nothing behind the 411
    assert PHI not in server.log(since=log_start)


# --- failures past Django --------------------------------------------------------------------


@pytest.mark.parametrize("path", [RAISE_PATH, BAD_HEADER_PATH])
def test_a_failure_past_django_is_a_json_500_without_its_message(server, application_error, path):
    log_start = server.log_size()
    answer = exchange(server, request(path))
    text = assert_envelope(answer, 500, application_error)
    request_id = answer.headers["X-Request-ID"]
    assert text == f"Internal server error (request id {request_id})"
    log = server.log(since=log_start)
    assert request_id in log  # the operators can find it
    assert SECRET not in log and SECRET not in text


def test_the_service_itself_still_answers(server):
    answer = exchange(server, request("/healthz"))
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    worker_class = "ThreadWorker" if server.worker == "gthread" else "SyncWorker"
    assert f"Using worker: ecm_admin.gunicorn_workers.{worker_class}" in server.log()
