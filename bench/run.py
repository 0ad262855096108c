"""The benchmark driver: ``python -m bench --patients 100000`` (or ``python bench/run.py``).

1. build (or reuse) the data set on PostgreSQL (``bench.dataset``), issue an admin token;
2. capture the SQL of every read request in a short Django process (``bench.capture``), to
   replay it with psycopg: once after each request of the c=1 load, and the median total is
   the route's database time;
3. serve the app with gunicorn as in production (``gunicorn.conf.py``), drive each read route
   over HTTP with keep-alive connections at concurrency 1 and at ``--concurrency``;
4. time the writes: ``POST /lead_care_managers/bulk_assign`` of 1,000 items, and the
   ``import_members`` / ``bulk_assign_lcms`` commands on 100,000-row CSV files;
5. write ``bench/out/report.md`` and ``report.json``, and print the report.

The HTTP load comes from Python threads with ``http.client`` (no new dependency; ``wrk`` is
not installed here and cannot replay the varying paths and JSON bodies without Lua scripts).
A request costs the client well under a millisecond, small next to the latencies measured,
and the latency is taken around the whole exchange on the client side.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import http.client
import itertools
import json
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg.pq import TransactionStatus

from bench import dataset, workload
from bench.workload import (
    API,
    OVERHEAD_TARGET_MS,
    READ_ROUTE_NAMES,
    TARGET_PATIENTS,
    WRITE_NAMES,
    WRITE_TARGET_S,
    ReadRoute,
    Request,
    fmt_ms,
    markdown_table,
    median,
    percentile,
    plan_hints,
    sql_outline,
    verdict,
)

REPO_ROOT = dataset.REPO_ROOT
DEFAULT_OUT = REPO_ROOT / "bench" / "out"
HOST = "127.0.0.1"  # the only host the harness talks to
REQUEST_TIMEOUT_S = 60
READY_TIMEOUT_S = 60
SAMPLE_IDS = 50


def log(message: str) -> None:
    print(message, flush=True)


# --- the machine ----------------------------------------------------------------------------------


def machine_description(conn: psycopg.Connection) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    settings = {
        name: conn.execute(f"SHOW {name}").fetchone()[0]
        for name in (
            "server_version",
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "random_page_cost",
            "max_parallel_workers_per_gather",
            "jit",
            "autovacuum",
        )
    }
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "ram_gb": ram_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": settings.pop("server_version"),
        "postgresql_settings": settings,
        "load_average_at_start": list(os.getloadavg()),
        "git": _git_head(),
    }


# The app's tables and their indexes (and the derived tables of its migrations).
APP_TABLE_PATTERNS = ["patients\\_%", "care\\_team\\_%", "accounts\\_%", "audit\\_%"]


def prewarm(conn: psycopg.Connection) -> dict[str, Any]:
    """Load the app's tables and indexes into PostgreSQL's shared buffers (``pg_prewarm``).

    A server that has been answering requests holds its working set in memory; right after a
    data set build or a restart it does not, and a host may also evict the OS's file cache
    (some virtual machines page out memory left untouched for a minute or two). Without this,
    a run measures reads from disk as well, differently every time. Returns what was loaded,
    or why nothing was.
    """
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    except psycopg.Error as exc:
        return {"error": str(exc).strip().splitlines()[0]}
    blocks, data_bytes = conn.execute(
        "SELECT coalesce(sum(pg_prewarm(c.oid)), 0),"
        " coalesce(sum(pg_relation_size(c.oid)), 0)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')"
        " AND c.relname LIKE ANY (%s)",
        (APP_TABLE_PATTERNS,),
    ).fetchone()
    buffers = conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))").fetchone()[0]
    return {"blocks": blocks, "data_mb": data_bytes / 2**20, "shared_buffers_mb": buffers / 2**20}


def _git_head() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "unknown"


# --- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own process group; ``stop()`` ends that group (and only it)."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_file = None
        self.command: list[str] = []

    def start(self) -> None:
        bind = f"{HOST}:{self.port}"
        if (REPO_ROOT / "gunicorn.conf.py").exists():
            self.command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
            self.command.append("ecm_admin.wsgi:application")
        else:
            self.command = [sys.executable, "-m", "gunicorn", "ecm_admin.wsgi:application"]
            self.command += ["--workers", "3", "--bind", bind]
        env = dict(self.env, GUNICORN_BIND=bind)
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


# --- HTTP load ------------------------------------------------------------------------------------


@dataclass
class Phase:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)  # 2xx responses only
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    first_body: bytes | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": sum(self.statuses.values()) + len(self.errors),
            "ok": self.ok,
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
            "errors": self.errors[:5],
            "p50_ms": percentile(self.latencies_ms, 50),
            "p95_ms": percentile(self.latencies_ms, 95),
            "p99_ms": percentile(self.latencies_ms, 99),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
            "rps": self.ok / self.wall_s if self.wall_s else None,
            "wall_s": self.wall_s,
        }


def _headers(token: str, body: bytes | None) -> dict[str, str]:
    headers = {"X-User-Token": token, "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return headers


def drive(
    port: int,
    token: str,
    variants: Sequence[Request],
    *,
    requests: int,
    concurrency: int,
    max_seconds: float,
    offset: int = 0,
    after_each: Callable[[int], None] | None = None,
) -> Phase:
    """Send ``requests`` requests (at most ``max_seconds``) from ``concurrency`` threads.

    ``after_each(variant_index)`` runs in the sending thread after each answered request,
    before the next is sent (outside the measured time).
    """
    phase = Phase(concurrency)
    lock = threading.Lock()
    counter = itertools.count()
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds
    encoded = [
        (r.method, r.path, None if r.body is None else json.dumps(r.body).encode())
        for r in variants
    ]

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            while not stop.is_set():
                with lock:
                    index = next(counter)
                if index >= requests or time.monotonic() > deadline:
                    return
                variant = (offset + index) % len(encoded)
                method, path, body = encoded[variant]
                for attempt in (1, 2):
                    if conn is None:
                        conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
                    started = time.perf_counter()
                    try:
                        conn.request(method, path, body=body, headers=_headers(token, body))
                        response = conn.getresponse()
                        data = response.read()
                    except (OSError, http.client.HTTPException) as exc:
                        conn.close()
                        conn = None
                        if attempt == 1:
                            continue  # the server closed a kept-alive connection: once more
                        with lock:
                            phase.errors.append(f"{type(exc).__name__}: {exc}")
                        break
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    with lock:
                        phase.statuses[response.status] += 1
                        if 200 <= response.status < 300:
                            phase.latencies_ms.append(elapsed_ms)
                        if phase.first_body is None:
                            phase.first_body = data
                    if response.will_close:
                        conn.close()
                        conn = None
                    if after_each is not None:
                        after_each(variant)
                    break
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    finally:
        stop.set()
    phase.wall_s = time.perf_counter() - started
    return phase


def one_request(port: int, token: str, request: Request) -> tuple[int, float, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
    body = None if request.body is None else json.dumps(request.body).encode()
    try:
        started = time.perf_counter()
        conn.request(request.method, request.path, body=body, headers=_headers(token, body))
        response = conn.getresponse()
        data = response.read()
        return response.status, time.perf_counter() - started, data
    finally:
        conn.close()


# --- database time --------------------------------------------------------------------------------


def replay_connection(url: str, options: str = "") -> psycopg.Connection:
    """A connection for replaying the app's SQL: autocommit, no automatic server-side prepared
    statements (the app uses none), and the app's own session options (``jit=off``...)."""
    return psycopg.connect(url, autocommit=True, prepare_threshold=None, options=options)


def replay_pass(
    conn: psycopg.Connection,
    statements: Sequence[str],
    failures: set[str],
    per_statement: list[float] | None = None,
) -> float:
    """Run one request's statements one after the other, fetching every row, as the app does;
    the total in milliseconds (each statement's time appended to ``per_statement``)."""
    total = 0.0
    for statement in statements:
        started = time.perf_counter()
        try:
            cursor = conn.execute(statement.encode())
            if cursor.description is not None:
                cursor.fetchall()
        except psycopg.Error as exc:  # e.g. a replayed INSERT hits a unique key
            failures.add(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.rollback()
        elapsed = (time.perf_counter() - started) * 1000
        total += elapsed
        if per_statement is not None:
            per_statement.append(elapsed)
    return total


def replay(conn: psycopg.Connection, variants: list[dict], repetitions: int) -> dict[str, Any]:
    """Median total time of one route's captured SQL, replayed on ``conn``.

    Per variant: one warm-up pass, then ``repetitions`` timed passes. The route's database
    time is the median over variants of the per-variant medians; the statements of the first
    variant are ranked by their median time.
    """
    failures: set[str] = set()
    totals: list[float] = []
    statement_ms: list[list[float]] = [[] for _ in variants[0]["sql"]] if variants else []
    for variant in variants:
        per_pass: list[float] = []
        for rep in range(repetitions + 1):
            times: list[float] = []
            total = replay_pass(conn, variant["sql"], failures, times)
            if rep:
                per_pass.append(total)
                if variant is variants[0]:
                    for position, elapsed in enumerate(times):
                        statement_ms[position].append(elapsed)
        totals.append(median(per_pass))
    medians = {pos: median(ms) for pos, ms in enumerate(statement_ms) if ms}
    whole = sum(medians.values()) or 1.0
    statements = [
        {"position": pos, "median_ms": ms, "share": ms / whole, "sql": variants[0]["sql"][pos]}
        for pos, ms in medians.items()
    ]
    statements.sort(key=lambda item: item["median_ms"], reverse=True)
    return {
        "db_ms": median(totals),
        "statements": statements,
        "replay_failures": sorted(failures),
    }


def explain(url: str, statement: str, options: str = "") -> tuple[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of a read statement, and short hints drawn from the plan."""
    if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
        return "", []
    with replay_connection(url, options) as conn:
        rows = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS) " + statement.encode()).fetchall()
    plan = "\n".join(row[0] for row in rows)
    return plan, plan_hints(plan)


# --- commands -------------------------------------------------------------------------------------


@dataclass
class CommandRun:
    name: str
    seconds: float | None
    returncode: int | None
    summary: str
    stderr_tail: str = ""


def available_commands(env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


def run_command(
    name: str, argv: list[str], env: dict[str, str], out_dir: Path, timeout: float
) -> CommandRun:
    """``manage.py <argv>`` timed; killed (its process group) when it overruns or on Ctrl-C."""
    stdout_path = out_dir / f"{name}.stdout.txt"
    stderr_path = out_dir / f"{name}.stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *argv],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except BaseException:  # timeout, Ctrl-C: end what we started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                raise
            return CommandRun(name, None, None, f"killed after {timeout:.0f}s (timeout)")
        seconds = time.perf_counter() - started
    out_lines = stdout_path.read_text(errors="replace").splitlines()
    err_lines = stderr_path.read_text(errors="replace").splitlines()
    summary = next((line for line in reversed(out_lines) if line.strip()), "")
    tail = "\n".join(line for line in err_lines[-5:])
    return CommandRun(name, seconds, returncode, summary, tail)


def write_csv(path: Path, columns: Sequence[str], rows) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


# --- the harness ----------------------------------------------------------------------------------


@dataclass
class ReadResult:
    name: str
    label: str
    status: str = "ok"  # ok | route missing (404) | error ...
    queries: list[int] = field(default_factory=list)
    # The median of the replays made one after each request of the c=1 load (see
    # ``Harness._measure_http``); ``db_ms_apart``: the median of a replay made apart from it.
    db_ms: float | None = None
    db_ms_apart: float | None = None
    capture_ms: float | None = None
    c1: dict[str, Any] | None = None
    cn: dict[str, Any] | None = None
    target_ms: float | None = None
    total_count: int | None = None
    total_count_exact: bool | None = None
    top_statements: list[dict] = field(default_factory=list)
    plan_hints: list[str] = field(default_factory=list)
    explain_file: str | None = None

    @property
    def p50_c1(self) -> float | None:
        return self.c1["p50_ms"] if self.c1 else None

    @property
    def overhead_ms(self) -> float | None:
        if self.p50_c1 is None or self.db_ms is None:
            return None
        return self.p50_c1 - self.db_ms

    @property
    def ratio(self) -> float | None:
        if self.p50_c1 is None or not self.db_ms:
            return None
        return self.p50_c1 / self.db_ms

    def verdicts(self) -> tuple[str, str]:
        latency = verdict(self.p50_c1, self.target_ms)
        if latency == "PASS" and self.total_count_exact is False:
            latency = "FAIL (total_count)"
        limit = None if self.db_ms is None else self.db_ms + OVERHEAD_TARGET_MS
        return latency, verdict(self.p50_c1, limit)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        latency, overhead = self.verdicts()
        data.update(
            overhead_ms=self.overhead_ms,
            ratio=self.ratio,
            latency_verdict=latency,
            overhead_verdict=overhead,
            overhead_target_ms=OVERHEAD_TARGET_MS,
        )
        return data


@dataclass
class WriteResult:
    name: str
    label: str
    status: str = "ok"
    runs: list[dict] = field(default_factory=list)
    target_s: float | None = None
    queries: int | None = None
    note: str = ""

    @property
    def worst_s(self) -> float | None:
        times = [run["seconds"] for run in self.runs if run.get("seconds") is not None]
        return max(times) if times else None

    def verdict(self) -> str:
        if self.status != "ok":
            return "n/a"
        if any(not run.get("ok") for run in self.runs):
            return "FAIL (errors)"
        return verdict(self.worst_s, self.target_s)


class Harness:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.url = args.database_url
        self.out = Path(args.out)
        self.secret_key = secrets.token_urlsafe(50)
        self.env = dataset.app_env(self.url, self.secret_key)
        self.server: Server | None = None
        self.token: str | None = None
        self.only = set(args.only.split(",")) if args.only else None
        self.rng = random.Random(args.seed)
        self.notes: list[str] = []
        self.marker_patients = args.patients
        self.writes_started = False
        self.captured: dict[str, list[dict]] = {}
        # The app's PostgreSQL session options (from its settings, read by ``bench.capture``):
        # the replays run with them too.
        self.session_options = ""

    def wanted(self, name: str) -> bool:
        return self.only is None or name in self.only

    # -- the run --

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "explain").mkdir(exist_ok=True)
        started = time.perf_counter()
        build = self._dataset()
        if dataset.restore_after_writes(self.url) is not None:
            log("undid the writes an interrupted earlier run left behind")
        with psycopg.connect(self.url, autocommit=True) as conn:
            machine = machine_description(conn)
            patients = conn.execute(
                "SELECT count(*) FROM patients_ecmeligibilityinformation e"
                " JOIN patients_patient p ON p.id = e.patient_id"
            ).fetchone()[0]
            rows = dataset.table_rows(conn)
            migrations = dict(
                conn.execute(
                    "SELECT app, max(name) FROM django_migrations"
                    " WHERE app IN ('accounts', 'patients', 'care_team', 'audit')"
                    " GROUP BY app ORDER BY app"
                ).fetchall()
            )
            db_size = conn.execute(
                "SELECT pg_size_pretty(pg_database_size(current_database()))"
            ).fetchone()[0]
            sample_ids = self._sample_patient_ids(conn)
            lcm_ids = dataset.active_user_ids(conn, "ecm")
            provider_ids = dataset.active_user_ids(conn, "provider")
            warmed = prewarm(conn) if self.args.prewarm else {"skipped": True}
        log(f"data set: {patients:,} ECM patients, database {db_size}")
        if "error" in warmed:
            self.notes.append(f"Nothing was prewarmed ({warmed['error']}).")
        elif "blocks" in warmed:
            log(f"prewarmed {warmed['data_mb']:,.0f} MB of tables and indexes")
            if warmed["data_mb"] > warmed["shared_buffers_mb"]:
                self.notes.append(
                    f"The app's tables and indexes ({warmed['data_mb']:,.0f} MB) do not fit in"
                    f" shared_buffers ({warmed['shared_buffers_mb']:,.0f} MB): statements"
                    " also read from the OS cache, or from disk where the host evicted it."
                )
        busy = machine["load_average_at_start"][0]
        if busy > 1.0:
            self.notes.append(
                f"The machine was busy when the run started (load average {busy:.2f} on"
                f" {machine['cores']} cores): other processes shared the CPU, so the figures"
                " are noisier and slower than on an idle machine."
            )
        self.token = dataset.issue_token(self.url, self.env, log)

        routes = [
            route
            for route in workload.read_routes(patients=patients, sample_ids=sample_ids)
            if self.wanted(route.name)
        ]
        writes_wanted = not self.args.skip_writes and any(map(self.wanted, WRITE_NAMES))
        bulk_bodies = []
        if writes_wanted and self.wanted("bulk_assign"):
            pool = list(range(1, self.marker_patients + 1))
            bulk_bodies = [
                workload.bulk_assign_body(
                    self.rng,
                    patient_ids=pool,
                    lcm_ids=lcm_ids,
                    provider_ids=provider_ids,
                    size=min(1000, len(pool)),
                )
                for _ in range(self.args.bulk_runs + 1)
            ]
        reads = self._measure_database(routes)
        writes: list[WriteResult] = []

        self.server = Server(self.env, self.out / "gunicorn.log")
        log(f"starting gunicorn on {HOST}:{self.server.port} ...")
        self.server.start()
        self.server.wait_ready()
        workers = self.server.workers()
        log(f"gunicorn ready ({workers} workers): {' '.join(self.server.command[1:])}")
        for route, result in zip(routes, reads, strict=True):
            self._measure_http(route, result, patients)
        if writes_wanted:
            writes = self._writes(bulk_bodies, lcm_ids, provider_ids)
        self.server.stop()

        report = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "prewarm": warmed,
            "dataset": {
                "database": dataset.database_name(self.url),
                "patients": patients,
                "size": db_size,
                "rows": rows,
                "migrations": migrations,
                "build": asdict(build) if build else None,
            },
            "settings": {
                "concurrency": self.args.concurrency,
                "requests": self.args.requests,
                "warmup": self.args.warmup,
                "max_seconds": self.args.max_seconds,
                "db_repetitions": self.args.db_reps,
                "gunicorn": " ".join(self.server.command[1:]),
                "gunicorn_workers": workers,
            },
            "reads": [result.as_dict() for result in reads],
            "writes": [{**asdict(w), "verdict": w.verdict()} for w in writes],
            "notes": self.notes,
            "load_average_at_end": list(os.getloadavg()),
            "elapsed_s": time.perf_counter() - started,
        }
        markdown = render_markdown(report, reads, writes)
        (self.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
        (self.out / "report.md").write_text(markdown)
        print(markdown, flush=True)
        log(f"written {self.out / 'report.md'} and {self.out / 'report.json'}")
        failed = [r.name for r in reads if "FAIL" in " ".join(r.verdicts())]
        failed += [w.name for w in writes if w.verdict().startswith("FAIL")]
        return 1 if self.args.strict and failed else 0

    def cleanup(self) -> None:
        if self.server is not None:
            self.server.stop()
        try:
            removed = dataset.remove_imported_members(self.url)
            if removed:
                log(f"removed the {removed:,} members the import created")
            if self.writes_started:
                log("putting the data set back as built (undoing the writes) ...")
                touched = dataset.restore_after_writes(self.url)
                log(f"  undone: {touched}")
        except Exception as exc:  # the report is out already; say what was left behind
            log(f"cleanup failed ({type(exc).__name__}: {exc}); rebuild with --rebuild")
        if self.token is not None:
            with contextlib.suppress(Exception):
                dataset.revoke_token(self.url)

    # -- steps --

    def _dataset(self) -> dataset.BuildResult | None:
        if self.args.skip_build:
            dataset.ensure_database(self.url, log)
            if not self.args.no_migrate:
                dataset.run_migrate(self.url, self.secret_key, log)
            with psycopg.connect(self.url, autocommit=True) as conn:
                marker = dataset.read_marker(conn)
            if marker is None:
                raise SystemExit("--skip-build: no bench data set in this database; build it")
            self.marker_patients = marker.patients
            log(f"--skip-build: using the data set of {marker.patients:,} patients as it is")
            return None
        build = dataset.ensure_dataset(
            self.url,
            self.args.patients,
            seed=self.args.dataset_seed,
            rebuild=self.args.rebuild,
            secret_key=self.secret_key,
            migrate=not self.args.no_migrate,
            log=log,
        )
        self.marker_patients = self.args.patients
        return build

    def _sample_patient_ids(self, conn: psycopg.Connection) -> list[int]:
        rng = random.Random(self.args.seed)
        population = range(1, self.marker_patients + 1)
        wanted = rng.sample(population, min(SAMPLE_IDS * 2, len(population)))
        found = {
            row[0]
            for row in conn.execute(
                "SELECT patient_id FROM patients_ecmeligibilityinformation"
                " WHERE patient_id = ANY(%s)",
                (wanted,),
            )
        }
        ids = [pid for pid in wanted if pid in found][:SAMPLE_IDS]
        if not ids:
            raise SystemExit("no ECM patients in the data set")
        return ids

    def _capture(self, routes: list[dict], what: str) -> dict[str, list[dict]]:
        """Run ``bench.capture`` on ``routes`` (``{"name", "variants", "write"?}``)."""
        spec_path = self.out / "capture_spec.json"
        captured_path = self.out / f"captured_sql_{what}.json"
        spec_path.write_text(json.dumps({"token": self.token, "routes": routes}))
        try:
            result = subprocess.run(
                [sys.executable, "-m", "bench.capture", str(spec_path), str(captured_path)],
                cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=900,
                check=False,
            )  # fmt: skip
        finally:
            spec_path.unlink(missing_ok=True)  # it holds the token
        if result.returncode != 0:
            raise RuntimeError(f"bench.capture failed:\n{result.stderr[-3000:]}")
        captured = json.loads(captured_path.read_text())
        self.session_options = captured["options"]
        return captured["routes"]

    def _measure_database(self, routes: list[ReadRoute]) -> list[ReadResult]:
        if not routes:
            return []
        log(f"capturing the SQL of {len(routes)} read routes (django.test.Client) ...")
        captured = self._capture(
            [{"name": r.name, "variants": [asdict(v) for v in r.variants]} for r in routes],
            "reads",
        )
        reads = []
        replayable: dict[str, list[dict]] = {}
        for route in routes:
            variants = captured.get(route.name, [])
            result_ = ReadResult(route.name, route.label, target_ms=route.target_ms)
            reads.append(result_)
            statuses = {v["status"] for v in variants}
            if statuses == {200}:
                replayable[route.name] = variants
                result_.queries = sorted({len(v["sql"]) for v in variants})
                result_.capture_ms = median([v["ms"] for v in variants])
            elif 404 in statuses:
                result_.status = "route missing (404)"
            else:
                head = variants[0]["body_head"][:120] if variants else ""
                result_.status = f"error {sorted(statuses)}: {head}"
        self.captured = replayable
        return reads

    def _database_time(self, result: ReadResult, conn: psycopg.Connection) -> None:
        """Replay the route's SQL apart from the HTTP load (``--db-reps`` passes): the time of
        each statement, and the plan of the slowest SELECT."""
        variants = self.captured[result.name]
        timing = replay(conn, variants, self.args.db_reps)
        result.db_ms_apart = timing["db_ms"]
        self._note_replay_failures(result, timing["replay_failures"])
        result.top_statements = [
            {**item, "sql": item["sql"][:2000], "outline": sql_outline(item["sql"])}
            for item in timing["statements"][:3]
        ]
        if self.args.no_explain:
            return
        selects = [
            item
            for item in timing["statements"]
            if item["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
        ]
        if selects:
            slowest = selects[0]["sql"]  # the slowest read statement
            plan, hints = explain(self.url, slowest, self.session_options)
            if plan:
                path = self.out / "explain" / f"{result.name}.txt"
                path.write_text(slowest + "\n\n" + plan + "\n")
                result.explain_file = os.path.relpath(path, REPO_ROOT)
                result.plan_hints = hints

    def _note_replay_failures(self, result: ReadResult, failures: Sequence[str]) -> None:
        for failure in failures:
            note = f"{result.name}: a statement failed on replay: {failure}"
            if note not in self.notes:
                self.notes.append(note)

    def _measure_http(self, route: ReadRoute, result: ReadResult, patients: int) -> None:
        """The route over HTTP at c=1 and at ``--concurrency``, and its database time.

        The database time is measured in step with the c=1 load: after each request is
        answered, the SQL that request ran (captured for the same variant) is replayed once
        on a connection of the harness, and the route's database time is the median of those
        replays. Both medians then come from the same seconds: on a shared virtual machine
        the same statement takes 9 ms, then 15 ms, from one second to the next (the LCM list's
        counts; the host's steal time), so a database time measured before or after the load,
        even the lower of two, compares a fast moment with a slow one.
        """
        if result.status != "ok":
            log(f"  {route.name}: {result.status}, skipped")
            return
        args = self.args
        port, token = self.server.port, self.token
        variants = self.captured[route.name]
        paired: list[float] = []
        failures: set[str] = set()
        with replay_connection(self.url, self.session_options) as conn:
            self._database_time(result, conn)

            def replay_after(variant: int) -> None:
                paired.append(replay_pass(conn, variants[variant]["sql"], failures))

            drive(port, token, route.variants, requests=args.warmup, concurrency=1, max_seconds=30)
            c1 = drive(
                port, token, route.variants, requests=args.requests, concurrency=1,
                max_seconds=args.max_seconds, after_each=replay_after,
            )  # fmt: skip
        cn = drive(
            port, token, route.variants, requests=args.requests, concurrency=args.concurrency,
            max_seconds=args.max_seconds, offset=7,
        )  # fmt: skip
        result.c1, result.cn = c1.summary(), cn.summary()
        result.db_ms = median(paired) if paired else None
        self._note_replay_failures(result, sorted(failures))
        if c1.ok == 0:
            codes = dict(c1.statuses)
            result.status = f"no successful response {codes} {c1.errors[:1]}"
        if route.checks_total and c1.first_body:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                total = json.loads(c1.first_body)["pagination"]["total_count"]
                result.total_count = total
                result.total_count_exact = total == patients
        log(
            f"  {route.name:<26} c=1 p50 {fmt_ms(result.p50_c1):>8} ms | "
            f"c={args.concurrency} p50 {fmt_ms(result.cn['p50_ms']):>8} ms "
            f"p95 {fmt_ms(result.cn['p95_ms']):>8} ms {fmt_ms(result.cn['rps'])} req/s | "
            f"db {fmt_ms(result.db_ms)} ms (apart {fmt_ms(result.db_ms_apart)} ms)"
        )

    def _writes(
        self, bulk_bodies: list[dict], lcm_ids: list[int], provider_ids: list[int]
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        dataset.snapshot_before_writes(self.url)
        self.writes_started = True
        if self.wanted("bulk_assign"):
            self._checkpoint()
            results.append(self._bulk_assign(bulk_bodies))
        commands = available_commands(self.env)
        if self.wanted("import_members"):
            self._checkpoint()
            results += self._import_members(commands)
        if self.wanted("bulk_assign_lcms"):
            self._checkpoint()
            results.append(self._bulk_assign_lcms(commands, lcm_ids, provider_ids))
        return results

    def _checkpoint(self) -> None:
        """Each write starts with the earlier work's dirty pages flushed (see README)."""
        if not dataset.checkpoint(self.url):
            log("CHECKPOINT not allowed for this role: writes may include earlier flushes")

    def _bulk_assign(self, bodies: list[dict]) -> WriteResult:
        size = len(bodies[0]["assignments"]) if bodies else 0
        result = WriteResult(
            "bulk_assign",
            f"POST /lead_care_managers/bulk_assign ({size:,} items)",
            target_s=WRITE_TARGET_S["bulk_assign"],
        )
        path = f"{API}/lead_care_managers/bulk_assign"
        log("bulk_assign: capturing the SQL of one request in-process ...")
        captured = self._capture(
            [
                {
                    "name": "bulk_assign",
                    "write": True,
                    "variants": [asdict(Request("POST", path, bodies[0]))],
                }
            ],
            "bulk_assign",
        )["bulk_assign"][0]
        if captured["status"] == 404:
            result.status = "route missing (404)"
            return result
        result.queries = len(captured["sql"])
        result.note = f"in-process (Django test client) run: {captured['ms'] / 1000:.2f}s"
        bodies = bodies[1:]
        log(f"bulk_assign: {len(bodies)} sequential requests of {size:,} items over HTTP ...")
        for body in bodies:
            request = Request("POST", f"{API}/lead_care_managers/bulk_assign", body)
            status, seconds, data = one_request(self.server.port, self.token, request)
            if status == 404:
                result.status = "route missing (404)"
                return result
            run: dict[str, Any] = {"seconds": seconds, "status": status, "ok": status == 200}
            with contextlib.suppress(ValueError, AttributeError):
                answer = json.loads(data)
                run["successful_count"] = answer.get("successful_count")
                run["failed_count"] = answer.get("failed_count")
                if answer.get("failed_count"):
                    run["ok"] = False
                    failed = [r for r in answer.get("results", []) if r.get("status") != "success"]
                    run["first_failure"] = failed[0] if failed else None
            result.runs.append(run)
            log(f"  {seconds:.3f}s status {status} successful {run.get('successful_count')}")
        return result

    def _import_members(self, commands: set[str]) -> list[WriteResult]:
        rows = self.args.import_rows
        results = [
            WriteResult(
                "import_members_create",
                f"manage.py import_members ({rows:,} new members)",
                target_s=WRITE_TARGET_S["import_members_create"],
            ),
            WriteResult(
                "import_members_rerun",
                f"manage.py import_members (same {rows:,} rows again: no change)",
                target_s=WRITE_TARGET_S["import_members_rerun"],
            ),
        ]
        if "import_members" not in commands:
            for result in results:
                result.status = "command missing"
            return results
        removed = dataset.remove_imported_members(self.url)
        if removed:
            log(f"removed {removed:,} members left by an earlier import run")
        path = self.out / "import_members.csv"
        count = write_csv(
            path, workload.IMPORT_MEMBER_COLUMNS, workload.import_member_rows(rows, self.args.seed)
        )
        for result in results:
            log(f"{result.label} ...")
            run = run_command(
                result.name, ["import_members", str(path)], self.env, self.out,
                self.args.command_timeout,
            )  # fmt: skip
            result.runs.append(_command_run(run))
            log(f"  {fmt_ms(run.seconds, 2)}s exit {run.returncode}: {run.summary}")
        results[0].note = f"{count:,} rows, {path.stat().st_size / 1e6:.1f} MB"
        return results

    def _bulk_assign_lcms(
        self, commands: set[str], lcm_ids: list[int], provider_ids: list[int]
    ) -> WriteResult:
        rows = self.args.assign_rows
        result = WriteResult(
            "bulk_assign_lcms",
            f"manage.py bulk_assign_lcms ({rows:,} rows)",
            target_s=WRITE_TARGET_S["bulk_assign_lcms"],
        )
        if "bulk_assign_lcms" not in commands:
            result.status = "command missing"
            return result
        path = self.out / "bulk_assign_lcms.csv"
        write_csv(
            path,
            workload.BULK_ASSIGN_COLUMNS,
            workload.bulk_assign_rows(
                rows,
                self.args.seed,
                patient_ids=range(1, self.marker_patients + 1),
                lcm_ids=lcm_ids,
                provider_ids=provider_ids,
            ),
        )
        results_path = self.out / "bulk_assign_lcms.results.csv"
        log(f"{result.label} ...")
        run = run_command(
            result.name,
            ["bulk_assign_lcms", str(path), "--reason", "bench", "--results", str(results_path)],
            self.env, self.out, self.args.command_timeout,
        )  # fmt: skip
        result.runs.append(_command_run(run))
        log(f"  {fmt_ms(run.seconds, 2)}s exit {run.returncode}: {run.summary}")
        return result


def _command_run(run: CommandRun) -> dict[str, Any]:
    return {
        "seconds": run.seconds,
        "returncode": run.returncode,
        "ok": run.returncode == 0,
        "summary": run.summary,
        "stderr_tail": run.stderr_tail,
    }


# --- the report -----------------------------------------------------------------------------------


def _prewarmed(warmed: dict[str, Any]) -> str:
    if "blocks" in warmed:
        return (
            f"the app's tables and indexes ({warmed['data_mb']:,.0f} MB) loaded into"
            f" shared_buffers with pg_prewarm before measuring"
        )
    if "error" in warmed:
        return f"no ({warmed['error']})"
    return "no (--no-prewarm): a cold server"


def render_markdown(report: dict, reads: list[ReadResult], writes: list[WriteResult]) -> str:
    machine, data, settings = report["machine"], report["dataset"], report["settings"]
    c = settings["concurrency"]
    lines = ["# ECM Admin API benchmark", ""]
    pg = machine["postgresql_settings"]
    lines += [
        f"- Generated {report['generated_at']}, code {machine['git']}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM;"
        f" {machine['os']}; Python {machine['python']}",
        f"- PostgreSQL {machine['postgresql']} (shared_buffers {pg['shared_buffers']},"
        f" work_mem {pg['work_mem']}, effective_cache_size {pg['effective_cache_size']},"
        f" random_page_cost {pg['random_page_cost']}, jit {pg['jit']},"
        f" autovacuum {pg['autovacuum']})",
        "- Prewarmed: " + _prewarmed(report.get("prewarm", {})),
        f"- Data set: {data['patients']:,} ECM patients, database {data['size']} ("
        + ", ".join(f"{t} {n:,}" for t, n in data["rows"].items())
        + ")",
    ]
    lines.append(
        "- Schema (last migration applied): "
        + ", ".join(f"{app} {name}" for app, name in data["migrations"].items())
    )
    build = data.get("build")
    if build and not build.get("skipped"):
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in build["phases"].items())
        lines.append(f"- Build time: {build['seconds']:.1f}s ({phases})")
    elif build:
        lines.append(f"- Build: reused (built earlier in {build['seconds']:.0f}s)")
    load = machine["load_average_at_start"]
    lines += [
        f"- Server: `{settings['gunicorn']}` ({settings['gunicorn_workers']} workers)",
        f"- Load: {settings['requests']} requests per route and concurrency (after"
        f" {settings['warmup']} warm-up requests, at most {settings['max_seconds']:.0f}s),"
        f" keep-alive HTTP/1.1 from Python threads; load average at start"
        f" {load[0]:.2f}, at end {report['load_average_at_end'][0]:.2f}",
        "- DB time: the request's captured SQL replayed on a psycopg connection with the"
        " app's session options, once after each request of the c=1 load (in step with it);"
        ' the median of those replays. "DB apart": the median of'
        f" {settings['db_repetitions']} passes replayed just before the load (median over"
        " variants)",
    ]
    if data["patients"] != TARGET_PATIENTS:
        lines.append(
            f"- **The targets are stated for {TARGET_PATIENTS:,} patients; this run has"
            f" {data['patients']:,}.**"
        )
    lines += ["", "## Read routes (milliseconds)", ""]
    header = [
        "route", "request", "SQL q/req", "DB time", "DB apart", "c=1 p50", f"c={c} p50",
        f"c={c} p95",
        f"c={c} req/s", "overhead (c=1 p50 - DB)", "ratio", "target", "latency",
        "p50 ≤ DB+10",
    ]  # fmt: skip
    rows = []
    for r in reads:
        if r.status != "ok":
            rows.append([r.name, r.label, *["-"] * 10, r.status, "-"])
            continue
        latency, overhead = r.verdicts()
        label = r.label
        if r.total_count is not None:
            exact = "exact" if r.total_count_exact else "WRONG"
            label += f" (total_count {r.total_count:,}: {exact})"
        rows.append(
            [
                r.name,
                label,
                "/".join(map(str, r.queries)),
                fmt_ms(r.db_ms, 2),
                fmt_ms(r.db_ms_apart, 2),
                fmt_ms(r.p50_c1),
                fmt_ms(r.cn["p50_ms"]),
                fmt_ms(r.cn["p95_ms"]),
                fmt_ms(r.cn["rps"]),
                fmt_ms(r.overhead_ms),
                "-" if r.ratio is None else f"{r.ratio:.1f}x",
                f"≤ {r.target_ms:.0f}",
                latency,
                overhead,
            ]
        )
    lines += [markdown_table(header, rows), ""]
    lines.append(
        "Latency verdicts use the c=1 p50 (client-side, whole HTTP exchange). "
        "Errors or non-2xx answers, if any, are listed below."
    )
    problems = []
    for r in reads:
        for phase in (r.c1, r.cn):
            if phase and (phase["errors"] or set(phase["statuses"]) - {"200"}):
                problems.append(
                    f"- {r.name} c={phase['concurrency']}: statuses {phase['statuses']}"
                    f" errors {phase['errors']}"
                )
    lines += problems
    if writes:
        lines += ["", "## Writes (seconds)", ""]
        rows = []
        for w in writes:
            times = ", ".join(
                "-" if run.get("seconds") is None else f"{run['seconds']:.2f}" for run in w.runs
            )
            details = []
            if w.queries is not None:
                details.append(f"{w.queries} SQL queries per request")
            for run in w.runs:
                if run.get("summary"):
                    details.append(run["summary"])
                elif run.get("successful_count") is not None:
                    details.append(f"{run['successful_count']} ok / {run['failed_count']} failed")
                if not run.get("ok") and run.get("stderr_tail"):
                    details.append("stderr: " + run["stderr_tail"][-300:])
                if run.get("first_failure"):
                    details.append(f"first failure: {json.dumps(run['first_failure'])[:200]}")
            if w.note:
                details.append(w.note)
            status = w.status if w.status != "ok" else times
            rows.append(
                [w.name, w.label, status, f"≤ {w.target_s:.0f}", w.verdict(), "; ".join(details)]
            )
        header = ["operation", "what", "time(s)", "target", "verdict", "details"]
        lines += [markdown_table(header, rows)]
    lines += [
        "",
        "## Where the database time goes",
        "",
        "The slowest statements of each request (median ms on replay, share of the request's"
        " DB time), and hints from `EXPLAIN (ANALYZE, BUFFERS)` of the slowest SELECT.",
        "",
    ]
    for r in reads:
        if not r.top_statements:
            continue
        hints = list(r.plan_hints)
        if not any("Seq Scan" in hint for hint in hints):
            hints.insert(0, "no sequential scan")
        explained = f" (`{r.explain_file}`)" if r.explain_file else ""
        lines.append(
            f"- **{r.name}** ({'/'.join(map(str, r.queries))} statements, DB apart"
            f" {fmt_ms(r.db_ms_apart, 2)} ms); plan{explained}: {'; '.join(hints)}"
        )
        for item in r.top_statements:
            lines.append(
                f"  - {item['median_ms']:.2f} ms ({item['share'] * 100:.0f}%): `{item['outline']}`"
            )
    if report["notes"]:
        lines += ["", "## Notes", ""]
    for note in report["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


# --- CLI ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the ECM Admin API on a PostgreSQL data set (see bench/README.md).",
    )
    parser.add_argument("--patients", type=int, default=100_000, help="data set size")
    parser.add_argument("--database-url", default=dataset.DEFAULT_DATABASE_URL)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="per route and concurrency")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per route")
    parser.add_argument(
        "--max-seconds", type=float, default=60, help="time bound of each measured phase"
    )
    parser.add_argument("--db-reps", type=int, default=7, help="timed replays of the SQL")
    parser.add_argument("--skip-build", action="store_true", help="use the data set as it is")
    parser.add_argument("--rebuild", action="store_true", help="build even if already built")
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument(
        "--no-prewarm",
        dest="prewarm",
        action="store_false",
        help="do not load the tables into shared_buffers first (measure a cold server)",
    )
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not run manage.py migrate first"
    )
    parser.add_argument(
        "--only",
        help="comma-separated names: " + ", ".join((*READ_ROUTE_NAMES, *WRITE_NAMES)),
    )
    parser.add_argument("--bulk-runs", type=int, default=3, help="bulk_assign requests")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--assign-rows", type=int, default=100_000)
    parser.add_argument("--command-timeout", type=float, default=900)
    parser.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE")
    parser.add_argument("--seed", type=int, default=7, help="seed of the request samples")
    parser.add_argument("--dataset-seed", type=int, default=dataset.DEFAULT_SEED)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="report folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.only:
        unknown = set(args.only.split(",")) - {*READ_ROUTE_NAMES, *WRITE_NAMES}
        if unknown:
            parser.error(f"--only: unknown names {', '.join(sorted(unknown))}")
    for name in ("concurrency", "requests", "db_reps", "bulk_runs", "import_rows", "assign_rows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if urlsplit_host(args.database_url) not in ("127.0.0.1", "localhost", "", None):
        log(f"note: the database is not local: {urlsplit_host(args.database_url)}")
    return args


def urlsplit_host(url: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    harness = Harness(args)
    # Ctrl-C and SIGTERM both end in KeyboardInterrupt, so the cleanup below always runs
    # (SIGINT explicitly: a shell starts background jobs with SIGINT ignored).
    previous = {
        sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return harness.run()
    except KeyboardInterrupt:
        log("interrupted: stopping")
        return 130
    finally:
        harness.cleanup()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
