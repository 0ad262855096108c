"""The service under gunicorn, as in production, for tests that need several worker processes.

``GunicornServer(env)`` starts ``gunicorn -c gunicorn.conf.py`` with the production settings
(``ecm_admin.settings``), a random ``SECRET_KEY``, plain HTTP, and the given environment on top,
in a process group of its own; it waits for ``GET /healthz`` and for every worker to boot, and
ends the group (only it) when the ``with`` block is left. The port is a free one of
``TEST_SERVER_PORTS`` (``8850-8859``) when that is set, else one the system picks.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_SECONDS = 90


def candidate_ports() -> list[int]:
    spec = os.environ.get("TEST_SERVER_PORTS", "").strip()
    if spec:
        first, _, last = spec.partition("-")
        return list(range(int(first), int(last or first) + 1))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return [sock.getsockname()[1]]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


class GunicornServer:
    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 5):
        self.extra_env = env
        self.log_path = log_path
        self.workers = workers
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> GunicornServer:
        for port in candidate_ports():
            if port_is_free(port) and self._start(port):
                return self
        raise RuntimeError(f"gunicorn did not start; its log:\n{self.log()}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self, port: int) -> bool:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "DJANGO_SETTINGS_MODULE": "ecm_admin.settings",
            "PYTHONDONTWRITEBYTECODE": "1",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "HTTPS_ONLY": "0",
            "ALLOWED_HOSTS": HOST,
            "GUNICORN_BIND": f"{HOST}:{port}",
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_THREADS": "2",
            "LOG_LEVEL": "info",
            **self.extra_env,
        }
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends exactly that
        )
        self.port = port
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # exited: the port was taken meanwhile, or worse
                self.stop()
                return False
            if self._healthy() and self.booted_workers() >= self.workers:
                return True
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn not ready in {START_SECONDS} s; its log:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            status, _, _ = self.request("GET", "/healthz", timeout=2)
        except OSError:
            return False
        return status == 200

    def booted_workers(self) -> int:
        return len(re.findall(r"Booting worker with pid", self.log()))

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a connection of its own (so that requests spread over the workers)."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            sent = {"Connection": "close", **(headers or {})}
            if data is not None:
                sent["Content-Type"] = "application/json"
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        self.proc = None
        if getattr(self, "log_file", None) is not None:
            self.log_file.close()
            self.log_file = None
