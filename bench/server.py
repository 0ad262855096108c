"""The app served as in production: gunicorn with ``gunicorn.conf.py``, on a free port of
127.0.0.1, in its own process group (``stop()`` ends that group, and only it)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.database import REPO_ROOT

HOST = "127.0.0.1"  # the only host the harness talks to
READY_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own process group; ``stop()`` ends that group (and only it)."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int = 0):
        self.env = env
        self.log_path = log_path
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_file = None
        self.command = [
            sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
            "ecm_admin.wsgi:application",
        ]  # fmt: skip

    def start(self) -> None:
        env = dict(self.env, GUNICORN_BIND=f"{HOST}:{self.port}")
        self.log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()  # any answer at all means it is serving
                conn.close()
                return
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s; see {self.log_path}")

    def workers(self, settle: float = 1.0, timeout: float = 10.0) -> int | None:
        """The master's worker processes, once their number has held for ``settle`` seconds:
        gunicorn forks them one after another, and the first answers before the last exists."""
        count, since = self._children(), time.monotonic()
        deadline = since + timeout
        while count is not None and time.monotonic() < deadline:
            time.sleep(0.1)
            now_count = self._children()
            if now_count != count:
                count, since = now_count, time.monotonic()
            elif time.monotonic() - since >= settle:
                break
        return count

    def _children(self) -> int | None:
        if self.proc is None:
            return None
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return None
        return len(children.split())

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.log_file is not None:
            self.log_file.close()
