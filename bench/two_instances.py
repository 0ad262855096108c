"""Two app instances behind nginx, locally: ``python -m bench.two_instances``.

What docker-compose.yml runs, without Docker: two gunicorn instances of the app (production
settings) on one PostgreSQL database, nginx in front with ``deploy/nginx.conf``
(``bench.local_stack``), and then it shows, through nginx:

1. the limits hold across both instances: with ``API_RATE_LIMIT_PER_MINUTE=N``, 2N requests
   with one token, spread round robin over the two, get exactly N answers and N 429s; with
   ``AUTH_FAILURE_LIMIT=M``, wrong sign-ins from one client get M 401s and then 429, whichever
   instance answers, and the app records the client's address (X-Forwarded-For), not nginx's.
   Once per counter store: the default one, and ``CACHE_URL=redis://...``;
2. nginx answers its own errors (400, 404, 413, 414, 431, and 502 once both instances are
   down) as ``{"errors": [...]}`` with the API's headers; a body of exactly 2 MiB still
   reaches the app, and large bodies the app answers without reading get its answer;
3. a slow-body flood (many connections each sending a large body a few bytes a second) does
   not stop ``/healthz`` through nginx; the same flood sent straight to one gunicorn instance
   does (the contrast that shows why the proxy is there).

It prints a report, writes it to ``bench/out/two_instances.md`` and ``.json``, and exits 1
when a check fails. Every process it starts is stopped, and its temporary folder removed, at
the end, on errors and on Ctrl-C / SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg

from bench import local_stack
from bench.local_stack import REPO_ROOT
from bench.proxy_checks import (
    Check,
    auth_failure_check,
    flood_check,
    proxy_error_checks,
    rate_limit_check,
    unavailable_check,
    wait_through_proxy,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/ecm_two_instances"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_OUT = REPO_ROOT / "bench" / "out"
EMAIL = "two.instances@example.org"


def log(message: str) -> None:
    print(message, flush=True)


def _git_head() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


class Run:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="ecm-two-instances-"))
        self.apps: list[local_stack.Process] = []
        self.nginx: local_stack.Nginx | None = None
        self.checks: list[Check] = []
        self.token_issued = False
        self.base_env = self._base_env()
        self.interrupted = False

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.args.database_url,
            SECRET_KEY=secrets.token_urlsafe(50),
            DEBUG="0",
            HTTPS_ONLY="0",
            TRUSTED_PROXY_COUNT="1",
            API_RATE_LIMIT_PER_MINUTE=str(self.args.rate_limit),
            AUTH_FAILURE_LIMIT=str(self.args.failure_limit),
            LOG_LEVEL="WARNING",
        )
        if self.args.workers:
            env["WEB_CONCURRENCY"] = str(self.args.workers)
        env.pop("CACHE_URL", None)
        return env

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> str:
        binary = local_stack.find_nginx() or local_stack.install_nginx(log)
        if local_stack.ensure_database(self.args.database_url):
            log("created the database")
        log("migrating (once, before any instance starts)")
        local_stack.manage(["migrate", "--noinput"], self.base_env)
        names = ["--first-name", "Two", "--last-name", "Instances", "--roles", "admin"]
        local_stack.manage(["create_user", "--email", EMAIL, *names], self.base_env)
        out = local_stack.manage(
            ["create_token", "--email", EMAIL, "--days", "1", "--name", "two-instances"],
            self.base_env,
        )
        self.token_issued = True
        self.token = out.strip().splitlines()[-1]
        return binary

    def start_apps(self, env: dict[str, str]) -> None:
        self.apps = [
            local_stack.gunicorn(f"app{n}", port, env, self.root / "logs")
            for n, port in enumerate(self.args.app_ports, start=1)
        ]
        for app in self.apps:
            app.start()
        for app, port in zip(self.apps, self.args.app_ports, strict=True):
            local_stack.wait_http(port, "/healthz", app, timeout=self.args.ready_timeout)

    def stop_apps(self) -> None:
        for app in self.apps:
            app.stop()
        self.apps = []

    def start_nginx(self, binary: str) -> None:
        self.nginx = local_stack.Nginx(binary, self.root, self.args.port, self.args.app_ports)
        self.nginx.test()
        self.nginx.start()
        local_stack.wait_http(self.args.port, "/healthz", self.nginx, timeout=30)

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> int:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        binary = self.prepare()
        self.version = local_stack.nginx_version(binary)
        log(f"{self.version}; instances on {self.args.app_ports}, nginx on {self.args.port}")
        proxy_checked = False
        for store in self.args.stores:
            env = dict(self.base_env)
            cache_url = self.args.redis_url if store == "redis" else store
            label = "default" if store == "default" else f"CACHE_URL={cache_url}"
            log(f"\n== counter store: {label}")
            try:
                if store != "default":
                    env["CACHE_URL"] = cache_url
                if cache_url.startswith("db://"):
                    local_stack.manage(["createcachetable"], env)
                self.start_apps(env)
            except RuntimeError as exc:
                self.stop_apps()
                last_line = str(exc).strip().splitlines()[-1]
                self.checks.append(Check("instances start", label, False, last_line))
                log(f"   the instances did not start: {exc}")
                continue
            if self.nginx is None:
                self.start_nginx(binary)
            wait_through_proxy(self.args.port)
            self._record(rate_limit_check(self.args, self.token, self.nginx.access_log, label))
            self._record(auth_failure_check(self.args, self.nginx.access_log, label))
            if not proxy_checked:
                proxy_checked = True
                for check in proxy_error_checks(self.args):
                    self._record(check)
                for check in flood_check(self.args):
                    self._record(check)
            self.stop_apps()
        if self.nginx is not None:
            self._record(unavailable_check(self.args))
        return 0 if all(check.passed is not False for check in self.checks) else 1

    def _record(self, check: Check) -> None:
        self.checks.append(check)
        mark = {True: "PASS", False: "FAIL", None: "info"}[check.passed]
        log(f"   {mark}  {check.name}: {check.detail}")

    # --- report and cleanup ----------------------------------------------------------------

    def report(self) -> str:
        args = self.args
        failed = [c for c in self.checks if c.passed is False]
        lines = [
            "# Two instances behind nginx",
            "",
            f"- {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, code {_git_head()}, "
            f"{getattr(self, 'version', 'nginx ?')}, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            f"- two gunicorn instances (gunicorn.conf.py, "
            f"{args.workers or 'default'} workers each) on one PostgreSQL database, "
            f"nginx with deploy/nginx.conf in front; TRUSTED_PROXY_COUNT=1",
            f"- API_RATE_LIMIT_PER_MINUTE={args.rate_limit}, "
            f"AUTH_FAILURE_LIMIT={args.failure_limit}; flood: {args.flood_connections} "
            f"connections, Content-Length {args.flood_length}, {args.flood_bytes} bytes "
            f"every {args.flood_tick:g} s, for {args.flood_seconds:g} s",
            "",
            "| check | store | result | detail |",
            "|---|---|---|---|",
        ]
        for check in self.checks:
            mark = {True: "pass", False: "**FAIL**", None: "info"}[check.passed]
            detail = " ".join(check.detail.split()).replace("|", "\\|")
            lines.append(f"| {check.name} | {check.store or '—'} | {mark} | {detail} |")
        lines += ["", f"{len(failed)} check(s) failed." if failed else "Every check passed."]
        if self.interrupted:
            lines.append("Interrupted before the end: the checks above are the ones that ran.")
        return "\n".join(lines) + "\n"

    def write(self, text: str) -> None:
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "two_instances.md").write_text(text)
        data = {"checks": [check.as_dict() for check in self.checks], "args": vars(self.args)}
        (out / "two_instances.json").write_text(json.dumps(data, indent=2, default=str) + "\n")

    def cleanup(self) -> None:
        self.stop_apps()
        if self.nginx is not None:
            self.nginx.stop()
            if self.args.keep_logs:
                log(f"logs kept in {self.root / 'logs'}")
        if self.token_issued:
            try:
                local_stack.manage(["revoke_tokens", "--email", EMAIL], self.base_env, 60)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                log(f"could not revoke the run's token: {exc}")
        if not self.args.keep_logs:
            shutil.rmtree(self.root, ignore_errors=True)


def _ports(value: str) -> list[int]:
    ports = [int(part) for part in value.split(",") if part.strip()]
    if len(ports) != 2:
        raise argparse.ArgumentTypeError("two ports, comma-separated")
    return ports


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument(
        "--stores",
        default="default,redis",
        type=lambda v: [s.strip() for s in v.split(",") if s.strip()],
        help="counter stores to run the limit checks with: default (no CACHE_URL), redis "
        "(--redis-url), or any other CACHE_URL value",
    )
    parser.add_argument("--port", type=int, default=8000, help="nginx's port")
    parser.add_argument("--app-ports", type=_ports, default=[8001, 8002])
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY of each instance")
    parser.add_argument("--rate-limit", type=int, default=40, help="API_RATE_LIMIT_PER_MINUTE")
    parser.add_argument("--failure-limit", type=int, default=5, help="AUTH_FAILURE_LIMIT")
    parser.add_argument("--flood-connections", type=int, default=60)
    parser.add_argument("--flood-length", type=int, default=100_000, help="Content-Length")
    parser.add_argument("--flood-bytes", type=int, default=2, help="bytes sent per tick")
    parser.add_argument("--flood-tick", type=float, default=1.0, help="seconds between sends")
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    parser.add_argument(
        "--health-deadline", type=float, default=1.0, help="seconds a /healthz poll may take"
    )
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.rate_limit < 1 or args.failure_limit < 1:
        parser.error("--rate-limit and --failure-limit must be at least 1")
    if len({args.port, *args.app_ports}) != 3:
        parser.error("nginx and the two instances need three different ports")
    return args


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run(args)
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    code = 2
    try:
        code = run.run()
    except KeyboardInterrupt:
        log("interrupted: stopping")
        run.interrupted = True
        code = 130
    except (RuntimeError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
        log(f"error: {exc}")
        code = 2
    finally:
        try:
            if run.checks:
                text = run.report()
                print("\n" + text, flush=True)
                run.write(text)
        finally:
            run.cleanup()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return code


if __name__ == "__main__":
    sys.exit(main())
