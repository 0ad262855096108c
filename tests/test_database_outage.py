"""A database outage, for real: the app talks to PostgreSQL through a TCP forwarder started
here, which the test cuts, turns into a black hole, and restores. The real server is never
touched.

While the database is unreachable every request gets 503 JSON with ``Retry-After`` within
the configured connect timeout; once it is back the same process serves 200 again, with
persistent connections (``CONN_MAX_AGE``) and health checks as in production. Requests go
through Django's ``WSGIHandler`` (not the test client, which keeps connections open across
requests), so the per-request connection handling is the production one.
"""

import contextlib
import io
import json
import selectors
import socket
import threading
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory

from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONNECT_TIMEOUT = 2


class TcpForwarder:
    """127.0.0.1:<port> → target. ``cut()`` refuses connections, ``blackhole()`` accepts and
    never answers, ``restore()`` forwards again on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.mode = "forward"
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = None
        self.port = 0
        self._stop = threading.Event()
        self._listen()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _listen(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self.listener = listener

    def _accept_loop(self):
        while not self._stop.is_set():
            listener = self.listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.sockets.append(client)
            if self.mode == "blackhole":
                continue  # hold it open, never answer
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket):
        selector = selectors.DefaultSelector()
        try:
            a.setblocking(False)
            b.setblocking(False)
            selector.register(a, selectors.EVENT_READ, b)
            selector.register(b, selectors.EVENT_READ, a)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.setblocking(True)
                    key.data.sendall(data)
                    key.data.setblocking(False)
        except OSError:
            return
        finally:
            selector.close()
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def _drop_all(self):
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def cut(self):
        """Refuse new connections and break the open ones."""
        listener, self.listener = self.listener, None
        listener.close()
        self._drop_all()

    def blackhole(self):
        """Accept connections but never answer (a hung network path)."""
        self.mode = "blackhole"
        if self.listener is None:
            self._listen()

    def restore(self):
        self._drop_all()
        self.mode = "forward"
        if self.listener is None:
            self._listen()

    def stop(self):
        self._stop.set()
        if self.listener is not None:
            self.listener.close()
        self._drop_all()
        self.thread.join(timeout=5)


def wsgi_get(path: str, token: str) -> tuple[int, dict, bytes]:
    environ = RequestFactory()._base_environ(
        PATH_INFO=path, REQUEST_METHOD="GET", HTTP_X_USER_TOKEN=token
    )
    environ["wsgi.input"] = io.BytesIO(b"")
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(headers)

    result = WSGIHandler()(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # request_finished: Django's per-request connection handling
    return captured["status"], captured["headers"], body


@pytest.fixture
def forwarder():
    settings_dict = connection.settings_dict
    saved = {
        key: settings_dict.get(key)
        for key in ("HOST", "PORT", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "OPTIONS")
    }
    target = (settings_dict.get("HOST") or "127.0.0.1", int(settings_dict.get("PORT") or 5432))
    proxy = TcpForwarder(target)
    connection.close()
    settings_dict.update(
        HOST="127.0.0.1",
        PORT=str(proxy.port),
        CONN_MAX_AGE=60,
        CONN_HEALTH_CHECKS=True,
        OPTIONS={**(saved["OPTIONS"] or {}), "connect_timeout": CONNECT_TIMEOUT},
    )
    try:
        yield proxy
    finally:
        connection.close()
        settings_dict.update(saved)
        proxy.stop()
        connection.close()


def assert_unavailable(status, headers, body):
    assert status == 503
    assert headers["Content-Type"].startswith("application/json")
    assert int(headers["Retry-After"]) > 0
    errors = json.loads(body)["errors"]
    assert errors and "database" in errors[0]
    assert b"Traceback" not in body and b"psycopg" not in body and b"connect" not in body.lower()


def test_outage_is_503_within_the_connect_timeout_and_recovers(forwarder):
    token = factories.ApiTokenFactory(user=factories.admin_user())
    patient = factories.ecm_patient()
    path = f"/v1/admin/clinic/ecm/patients/{patient.pk}"
    # The factories wrote through the real server; the app now goes through the forwarder.
    connection.close()

    status, _, _ = wsgi_get(path, token.raw)
    assert status == 200
    assert connection.connection is not None  # a persistent connection through the forwarder

    forwarder.cut()  # the server "goes away": refused, and the open connection broken
    started = time.monotonic()
    assert_unavailable(*wsgi_get(path, token.raw))
    assert_unavailable(*wsgi_get("/healthz", token.raw))
    assert time.monotonic() - started < CONNECT_TIMEOUT + 3

    forwarder.blackhole()  # packets vanish: only the connect timeout ends the wait
    started = time.monotonic()
    assert_unavailable(*wsgi_get(path, token.raw))
    elapsed = time.monotonic() - started
    assert CONNECT_TIMEOUT - 0.5 <= elapsed < CONNECT_TIMEOUT + 3

    forwarder.restore()  # the server is back: the same process serves again
    status, _, body = wsgi_get(path, token.raw)
    assert status == 200, body
    assert json.loads(body)["patient"]["id"] == patient.pk
    assert wsgi_get("/healthz", token.raw)[0] == 200
