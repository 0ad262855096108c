"""Reads under write load (``--only mixed``; part of a full run unless ``--skip-writes``).

The read routes are sent round robin (the same mix in both windows, so every route is sampled
alike) from ``--concurrency`` keep-alive clients:

1. idle: after ``--warmup`` requests per route, ``--requests`` per route (at most
   ``--max-seconds``);
2. loaded: ``manage.py import_members`` of ``--import-rows`` new members (the CSV the import
   measurement uses) starts (under ``nice -n N`` with ``--import-nice N``; paced with
   ``--import-rate N``: ``import_members --rows-per-second N``), and beside it
   ``--mixed-bulk-runs`` (1) ``POST /lead_care_managers/bulk_assign`` requests of 1,000
   distinct patients run one after the other (0: back to back until the import ends); the
   reads go on from the import's start until it has ended and the last bulk request has been
   answered.

A route passes when its loaded p95 is at most ``LOADED_P95_LIMIT`` (2) times its idle p95 and
no request of either window failed (any status other than 2xx, or no answer). The import's and
the bulk requests' own times and outcomes are reported, and so is where the time went: the
CPU by process group (``bench.cpu``) and what PostgreSQL's active connections were waiting for
(``pg_stat_activity`` sampled every ``SAMPLE_S``). The data set is put back as the other
writes leave it (``bench.restore``): imported members deleted, case loads restored. The
verdicts and the report's section are in ``bench.mixed_report``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bench import restore, workload
from bench.commands import Running, write_csv
from bench.cpu import CpuWindow, ProcessTimes
from bench.database import checkpoint
from bench.driver import Client, Phase, encode, run_threads
from bench.mixed_report import LOADED_P95_LIMIT, bulk_run, compare, failures, overall
from bench.workload import API, ReadRoute, fmt_ms, log, sql_outline

SAMPLE_S = 0.25
BULK_PATH = f"{API}/lead_care_managers/bulk_assign"
IMPORT_APPLICATION = "bench import_members"
MONITOR_APPLICATION = "bench monitor"


# --- the load -------------------------------------------------------------------------------


def drive_mix(
    port: int,
    token: str,
    routes: Sequence[ReadRoute],
    *,
    concurrency: int,
    max_seconds: float,
    per_route: int | None = None,
    until: Callable[[], bool] | None = None,
    offset: int = 0,
) -> tuple[dict[str, Phase], float]:
    """The routes round robin (request ``i`` goes to route ``i % len(routes)``, each route
    turning through its variants) from ``concurrency`` threads: ``per_route`` requests each,
    or until ``until()`` is true; at most ``max_seconds``. Each route's phase, and the wall
    time."""
    phases = {route.name: Phase(concurrency) for route in routes}
    encoded = [encode(route.variants) for route in routes]
    total = None if per_route is None else per_route * len(routes)
    lock = threading.Lock()
    counter = iter(range(10**12))
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        client = Client(port, token)
        try:
            while not stop.is_set():
                with lock:
                    index = next(counter)
                if total is not None and index >= total:
                    return
                if time.monotonic() > deadline or (until is not None and until()):
                    return
                route, turn = divmod(index, len(routes))[::-1]
                variants = encoded[route]
                answer = client.send(*variants[(offset + turn) % len(variants)])
                with lock:
                    answer.record(phases[routes[route].name])
        finally:
            client.close()

    wall = run_threads(worker, concurrency, stop)
    for phase in phases.values():
        phase.wall_s = wall
    return phases, wall


class Monitor:
    """Samples, every ``SAMPLE_S``, the processes' CPU and PostgreSQL's active connections
    (what each waits for), from ``start()`` to ``finish()``; ``tick`` runs at each sample."""

    def __init__(self, url: str, groups: dict[str, int], tick: Callable[[], None] | None = None):
        self.url = url
        self.groups = groups  # process group id -> its name (gunicorn, import_members)
        self.tick = tick
        self.roles: dict[int, str] = {}  # PostgreSQL pid -> whose connection
        self.cpu = CpuWindow(self._group)
        self.active: Counter = Counter()
        self.lock_waits: Counter = Counter()
        self.samples = 0
        self.error: str | None = None
        self.started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _group(self, pid: int, process: ProcessTimes) -> str:
        if pid == os.getpid():
            return "load driver"
        if process.pgid in self.groups:
            return self.groups[process.pgid]
        if process.comm == "postgres":
            return f"PostgreSQL ({self.roles.get(pid, 'other')})"
        return "other processes"

    def start(self) -> Monitor:
        self.started = time.perf_counter()
        self.cpu.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        """Samples until ``finish()``; without a database connection (or once a sample
        fails) the CPU is still sampled and ``tick`` still runs."""
        conn = None
        try:
            conn = psycopg.connect(
                self.url, connect_timeout=5, autocommit=True,
                application_name=MONITOR_APPLICATION,
            )  # fmt: skip
        except psycopg.Error as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        try:
            while not self._stop.wait(SAMPLE_S):
                if conn is not None and self.error is None:
                    try:
                        self._sample(conn)
                    except psycopg.Error as exc:
                        self.error = f"{type(exc).__name__}: {exc}"
                self.cpu.sample()
                if self.tick is not None:
                    self.tick()
        finally:
            if conn is not None:
                conn.close()

    def _sample(self, conn: psycopg.Connection) -> None:
        rows = conn.execute(
            "SELECT pid, backend_type, application_name, state, wait_event_type, wait_event,"
            " left(query, 400), datname = current_database()"
            " FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        ).fetchall()
        self.samples += 1
        for pid, kind, app, state, wait_type, wait, query, ours in rows:
            if kind != "client backend":
                who = "background"
            elif app == IMPORT_APPLICATION:
                who = "import"
            elif app == MONITOR_APPLICATION:
                who = "monitor"
            else:
                who = "app" if ours else "other databases"
            self.roles[pid] = who
            if state != "active" or not ours or who == "monitor":
                continue
            self.active[f"{who}: {f'{wait_type}:{wait}' if wait_type else 'CPU'}"] += 1
            if wait_type == "Lock":
                self.lock_waits[f"{who} ({wait}): {sql_outline(query or '', 160)}"] += 1

    def finish(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=10)
        return {
            "cpu": self.cpu.finish(time.perf_counter() - self.started),
            "waits": {
                "samples": self.samples,
                "error": self.error,
                "active": dict(self.active.most_common()),
                "lock_waits": dict(self.lock_waits.most_common(10)),
            },
        }


def bulk_bodies(
    seed: int, patients: int, lcm_ids: Sequence[int], provider_ids: Sequence[int], size: int
) -> Iterator[dict]:
    """Bulk-assign bodies without end, each of ``size`` distinct patients among 1..patients."""
    rng = random.Random(seed)
    pool = range(1, patients + 1)
    while True:
        yield workload.bulk_assign_body(
            rng, patient_ids=pool, lcm_ids=lcm_ids, provider_ids=provider_ids, size=size
        )


def bulk_loop(
    port: int,
    token: str,
    bodies: Iterator[dict],
    stop: threading.Event,
    runs: list[dict],
    most: int = 0,
) -> None:
    """Bulk requests one after the other until ``stop`` (at least one; none after a 404), or
    ``most`` of them when it is not 0."""
    client = Client(port, token)
    try:
        while True:
            answer = client.send("POST", BULK_PATH, json.dumps(next(bodies)).encode())
            runs.append(bulk_run(answer))
            if stop.is_set() or answer.status == 404 or len(runs) == most:
                return
            if answer.status is None:
                time.sleep(0.1)  # no answer: not a tight loop
    finally:
        client.close()


class MixedMeasurement:
    """The two windows of one run against the server on ``port`` (``server_pgid``: gunicorn's
    process group), then the data set put back."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        url: str,
        out: Path,
        env: dict[str, str],
        token: str,
        port: int,
        server_pgid: int,
        patients: int,
    ):
        self.args = args
        self.url = url
        self.out = out
        self.env = env
        self.token = token
        self.port = port
        self.server_pgid = server_pgid
        self.patients = patients

    def measure(
        self, routes: Sequence[ReadRoute], lcm_ids: Sequence[int], provider_ids: Sequence[int]
    ) -> dict[str, Any]:
        args = self.args
        if restore.remove_imported_members(self.url):
            log("mixed: removed the members an earlier import left")
        path = self.out / "mixed_import_members.csv"
        rows = write_csv(
            path,
            workload.IMPORT_MEMBER_COLUMNS,
            workload.import_member_rows(args.import_rows, args.seed),
        )
        restore.snapshot_before_writes(self.url)
        checkpoint(self.url)
        c = args.concurrency
        log(f"mixed: warming up ({args.warmup} requests per route, c={c}) ...")
        drive_mix(
            self.port, self.token, routes, concurrency=c, per_route=args.warmup, max_seconds=60
        )
        log(f"mixed: idle window ({args.requests} requests per route, c={c}) ...")
        idle = self._window(
            routes, per_route=args.requests, max_seconds=args.max_seconds, groups={}
        )
        size = min(1000, self.patients)
        bodies = bulk_bodies(args.seed + 1, self.patients, lcm_ids, provider_ids, size)
        log(f"mixed: loaded window (import_members of {rows:,} rows, bulk_assign of {size:,}) ...")
        loaded, import_run, bulk = self._loaded(routes, path, bodies)
        results = []
        for route in routes:
            i, lo = idle["phases"][route.name], loaded["phases"][route.name]
            ratio, verdict = compare(i, lo)
            results.append({"name": route.name, "label": route.label, "idle": i, "loaded": lo,
                            "ratio": ratio, "verdict": verdict})  # fmt: skip
            log(
                f"  {route.name:<26} p95 idle {fmt_ms(i['p95_ms']):>7} loaded"
                f" {fmt_ms(lo['p95_ms']):>7} ms ({'-' if ratio is None else f'{ratio:.2f}x'})"
                f" failed {failures(i)}/{failures(lo)}: {verdict}"
            )
        import_run["rows"] = rows
        import_run["nice"] = self.args.import_nice
        import_run["rate"] = self.args.import_rate
        log("mixed: putting the data set back ...")
        removed = restore.remove_imported_members(self.url)
        touched = restore.restore_after_writes(self.url)
        for window in (idle, loaded):
            window.pop("phases")
        return {
            "concurrency": c,
            "limit": LOADED_P95_LIMIT,
            "routes": results,
            "windows": {"idle": idle, "loaded": loaded},
            "import": import_run,
            "bulk": {"size": size, "runs": bulk},
            "restored": {"imported members removed": removed, **(touched or {})},
            "verdict": overall(results, import_run, bulk),
        }

    def _window(self, routes, *, groups, tick=None, **load) -> dict[str, Any]:
        load_average = os.getloadavg()[0]
        monitor = Monitor(self.url, {self.server_pgid: "gunicorn", **groups}, tick).start()
        try:
            phases, wall = drive_mix(
                self.port, self.token, routes, concurrency=self.args.concurrency, offset=7, **load
            )
        finally:
            seen = monitor.finish()
        summaries = {name: phase.summary() for name, phase in phases.items()}
        return {
            "seconds": wall,
            "requests": sum(s["requests"] for s in summaries.values()),
            "load_average": load_average,
            "phases": summaries,
            **seen,
        }

    def _loaded(self, routes, path: Path, bodies: Iterator[dict]):
        """The loaded window: the import and the bulk requests started, the reads until both
        have ended. The import's and bulk requests' outcomes."""
        env = dict(self.env, DATABASE_URL=_with_application(self.url, IMPORT_APPLICATION))
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        running = Running(
            "mixed_import_members",
            [
                "import_members",
                str(path),
                *(["--rows-per-second", str(rate)] if (rate := self.args.import_rate) else []),
            ],
            env,
            self.out,
            nice=self.args.import_nice,
        )
        stop_bulk, done = threading.Event(), threading.Event()
        runs: list[dict] = []
        bulk = threading.Thread(
            target=bulk_loop,
            args=(self.port, self.token, bodies, stop_bulk, runs, self.args.mixed_bulk_runs),
            daemon=True,
        )
        bulk.start()
        timeout = self.args.command_timeout

        def tick() -> None:  # in the monitor's thread, every SAMPLE_S
            if not running.poll() and time.perf_counter() - running.started > timeout:
                running.kill()
            if running.poll():
                stop_bulk.set()
                if not bulk.is_alive():
                    done.set()

        try:
            loaded = self._window(
                routes, groups={running.proc.pid: "import_members"}, tick=tick,
                until=done.is_set, max_seconds=timeout + 120,
            )  # fmt: skip
        finally:
            stop_bulk.set()
            running.kill()
            bulk.join(timeout=120)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = running.result()
        cpu_s = (children_after.ru_utime + children_after.ru_stime) - (
            children_before.ru_utime + children_before.ru_stime
        )
        if result.returncode is not None and result.returncode < 0:
            result.summary = f"killed (signal {-result.returncode}): {result.summary}"
        import_run = {
            "seconds": result.seconds,
            "returncode": result.returncode,
            "ok": result.returncode == 0,
            "summary": result.summary,
            "stderr_tail": result.stderr_tail,
            "cpu_s": cpu_s,
        }
        log(f"  import_members: {fmt_ms(result.seconds, 2)}s exit {result.returncode}")
        log(f"    {result.summary}")
        log(f"  bulk_assign: {len(runs)} requests, {sum(r['ok'] for r in runs)} ok")
        return loaded, import_run, runs


def _with_application(url: str, name: str) -> str:
    """``url`` with ``application_name`` (the connection's name in ``pg_stat_activity``)."""
    return f"{url}{'&' if '?' in url else '?'}application_name={quote(name)}"
