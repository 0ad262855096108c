"""The local stand-in for docker-compose.yml, for ``bench/two_instances.py``.

Two gunicorn instances of the app (production settings, ``gunicorn.conf.py``) on one
PostgreSQL database, and nginx in front of them with ``deploy/nginx.conf`` rendered for local
ports and paths. Every process runs in its own process group and listens on 127.0.0.1 only;
``stop()`` ends that group and nothing else. nginx gets a prefix, pid file, logs and
temporary files of its own under a temporary folder.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"
HOST = "127.0.0.1"

# What deploy/nginx.conf says for the compose network, and must say exactly once each.
COMPOSE_UPSTREAMS = ("server app1:8000", "server app2:8000")
COMPOSE_LISTEN = "listen 80;"
COMPOSE_ACCESS_LOG = "/var/log/nginx/access.log"
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def _replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    if count != 1:
        raise ValueError(f"deploy/nginx.conf: expected {old!r} once, found it {count} times")
    return text.replace(old, new)


def render_site(text: str, app_ports: Sequence[int], listen_port: int, access_log: Path) -> str:
    """``deploy/nginx.conf`` with the two instances, the listening address and the access log
    moved from the compose network to 127.0.0.1; everything else as written."""
    if len(app_ports) != len(COMPOSE_UPSTREAMS):
        raise ValueError(f"expected {len(COMPOSE_UPSTREAMS)} app ports, got {len(app_ports)}")
    for upstream, port in zip(COMPOSE_UPSTREAMS, app_ports, strict=True):
        text = _replace_once(text, upstream, f"server {HOST}:{port}")
    text = _replace_once(text, COMPOSE_LISTEN, f"listen {HOST}:{listen_port};")
    return _replace_once(text, COMPOSE_ACCESS_LOG, str(access_log))


def render_main(site: Path, root: Path) -> str:
    """The main configuration around the site, as the official image's own nginx.conf is:
    pid file, error log and temporary files under ``root``; the site included in ``http``."""
    temp_paths = "".join(f"    {name}_temp_path {root / 'temp' / name};\n" for name in TEMP_PATHS)
    return (
        "daemon off;\n"
        "worker_processes 2;\n"
        f"pid {root / 'nginx.pid'};\n"
        f"error_log {root / 'logs' / 'error.log'} notice;\n"
        "events {\n    worker_connections 1024;\n}\n"
        "http {\n"
        "    default_type application/octet-stream;\n"
        f"{temp_paths}"
        f"    include {site};\n"
        "}\n"
    )


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((path for path in NGINX_PATHS if os.access(path, os.X_OK)), None)


def install_nginx(log) -> str:
    """Debian's ``nginx`` package, with apt-get, when running as root (else say how)."""
    how = "apt-get install --no-install-recommends nginx"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"nginx is not installed; install it first (Debian: {how})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"]
    log(f"nginx is missing: {how}")
    if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        log("apt-get install failed; apt-get update, then again")
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    found = find_nginx()
    if not found:
        raise RuntimeError("apt-get installed nginx, but no nginx binary was found")
    return found


def nginx_version(binary: str) -> str:
    done = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


class Process:
    """A command in its own process group, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name, self.command, self.env, self.log_path = name, command, env, log_path
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    def start(self) -> None:
        self._log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, first_signal: int = signal.SIGTERM, timeout: float = 30) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, first_signal)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def wait_http(port: int, path: str, proc: Process, timeout: float = 60) -> None:
    """Until ``GET path`` answers 200 on the port (or the process exits, or time runs out)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not proc.running():
            raise RuntimeError(f"{proc.name} exited: {proc.log_tail()}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return
            last = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer 200 on {path} within {timeout:.0f}s ({last})")


def gunicorn(name: str, port: int, env: dict[str, str], log_dir: Path) -> Process:
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    env = dict(env, GUNICORN_BIND=f"{HOST}:{port}")
    return Process(name, command, env, log_dir / f"{name}.log")


class Nginx(Process):
    """nginx with ``deploy/nginx.conf`` rendered into ``root`` (a temporary folder)."""

    def __init__(self, binary: str, root: Path, listen_port: int, app_ports: Sequence[int]):
        self.root = root
        (root / "logs").mkdir(parents=True, exist_ok=True)
        (root / "temp").mkdir(exist_ok=True)
        # As root, nginx's workers run as an unprivileged user: they must reach the temp dirs.
        root.chmod(0o711)
        (root / "temp").chmod(0o711)
        self.access_log = root / "logs" / "access.log"
        site = root / "site.conf"
        site.write_text(
            render_site(NGINX_CONF.read_text(), app_ports, listen_port, self.access_log)
        )
        self.config = root / "nginx.conf"
        self.config.write_text(render_main(site, root))
        self.binary, self.port = binary, listen_port
        args = ["-p", f"{root}/", "-c", str(self.config), "-e", str(root / "logs" / "error.log")]
        super().__init__("nginx", [binary, *args], dict(os.environ), root / "logs" / "nginx.out")
        self.test_args = [binary, "-t", *args]

    def test(self) -> str:
        """``nginx -t`` on the rendered configuration; raises with its output on failure."""
        done = subprocess.run(self.test_args, capture_output=True, text=True)
        output = (done.stderr + done.stdout).strip()
        if done.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{output}")
        return output

    def stop(self, first_signal: int = signal.SIGQUIT, timeout: float = 10) -> None:
        super().stop(first_signal, timeout)  # SIGQUIT: graceful shutdown


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` when it does not exist; True when created."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info.get("dbname")
    if not name:
        raise ValueError(f"no database name in {url!r}")
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def manage(args: Sequence[str], env: dict[str, str], timeout: float = 600) -> str:
    """``manage.py`` with the given environment; its standard output, or raises with stderr."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout
