"""The benchmark driver: ``python -m bench --patients 100000`` (or ``python bench/run.py``).

1. build (or reuse) the data set on PostgreSQL (``bench.dataset``), issue an admin token;
2. capture the SQL of every read request in a short Django process (``bench.capture``), to
   replay it with psycopg: once after each request of the c=1 load, and the median total is
   the route's database time (``bench.reads``, ``bench.replay``);
3. serve the app with gunicorn as in production (``bench.server``), drive each read route
   over HTTP with keep-alive connections at concurrency 1 and at ``--concurrency``
   (``bench.driver``);
4. the read routes again at ``--concurrency``, idle and then while ``import_members`` and
   back-to-back ``bulk_assign`` requests run (``bench.mixed``);
5. time the writes (``bench.writes``): ``POST /lead_care_managers/bulk_assign`` of 1,000
   items, and the ``import_members`` / ``bulk_assign_lcms`` commands on 100,000-row CSV files;
   then the planning (``bench.planning``): ``POST /lead_care_managers/auto_assign`` applying
   1,000 patients, ``plan_caseloads`` planning and applying a fill of 100,000,
   ``transfer_caseload`` applying the spread of an LCM's 5,000 patients;
6. write ``bench/out/report.md`` and ``report.json``, and print the report (``bench.report``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import dataset, restore, tokens, workload
from bench.database import (
    active_user_ids,
    app_env,
    database_name,
    dataset_contents,
    ensure_database,
    run_migrate,
)
from bench.machine import machine_description, prewarm
from bench.mixed import MixedMeasurement
from bench.options import parse_args
from bench.planning import PlanningMeasurement
from bench.reads import ReadMeasurement, largest_caseload, sample_patient_ids
from bench.report import render_markdown
from bench.results import WriteResult
from bench.server import HOST, Server
from bench.workload import MIXED_NAME, WRITE_NAMES, log
from bench.writes import WriteMeasurement, bulk_assign_bodies


class Harness:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.url = args.database_url
        self.out = Path(args.out)
        self.secret_key = secrets.token_urlsafe(50)
        self.env = app_env(self.url, self.secret_key)
        self.server: Server | None = None
        self.token: str | None = None
        self.only = set(args.only.split(",")) if args.only else None
        self.notes: list[str] = []
        self.marker_patients = args.patients
        self.writes_started = False

    def wanted(self, name: str) -> bool:
        return self.only is None or name in self.only

    # -- the run --

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "explain").mkdir(exist_ok=True)
        started = time.perf_counter()
        build = self._dataset()
        if restore.restore_after_writes(self.url) is not None:
            log("undid the writes an interrupted earlier run left behind")
        with psycopg.connect(self.url, autocommit=True) as conn:
            machine = machine_description(conn)
            contents = dataset_contents(conn)
            sample_ids = sample_patient_ids(conn, self.marker_patients, self.args.seed)
            # The mixed load reads every route, the caseload one included.
            caseload_read = self.wanted("lcm_patients") or self.wanted(MIXED_NAME)
            caseload = largest_caseload(conn) if caseload_read else (1, 0)
            lcm_ids = active_user_ids(conn, "ecm")
            provider_ids = active_user_ids(conn, "provider")
            warmed = prewarm(conn) if self.args.prewarm else {"skipped": True}
        patients = contents["patients"]
        log(f"data set: {patients:,} ECM patients, database {contents['size']}")
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
        self.token = tokens.issue_token(self.url, self.env, log)

        all_routes = workload.read_routes(
            patients=patients, sample_ids=sample_ids, caseload=caseload
        )
        routes = [route for route in all_routes if self.wanted(route.name)]
        writes_wanted = not self.args.skip_writes and any(map(self.wanted, WRITE_NAMES))
        mixed_wanted = not self.args.skip_writes and self.wanted(MIXED_NAME)
        bulk_bodies = []
        if writes_wanted and self.wanted("bulk_assign"):
            bulk_bodies = bulk_assign_bodies(
                self.args.seed,
                self.marker_patients,
                lcm_ids,
                provider_ids,
                self.args.bulk_runs + 1,
            )
        measurement = ReadMeasurement(
            self.args, url=self.url, out=self.out, env=self.env, token=self.token,
            notes=self.notes,
        )  # fmt: skip
        reads = measurement.capture(routes)
        writes: list[WriteResult] = []

        self.server = Server(self.env, self.out / "gunicorn.log", self.args.port)
        log(f"starting gunicorn on {HOST}:{self.server.port} ...")
        self.server.start()
        self.server.wait_ready()
        workers = self.server.workers()
        log(f"gunicorn ready ({workers} workers): {' '.join(self.server.command[1:])}")
        for route, result in zip(routes, reads, strict=True):
            measurement.measure_http(route, result, patients, self.server.port)
        mixed = None
        if mixed_wanted:  # the routes named in --only, or all of them
            named = [route for route in all_routes if self.only and route.name in self.only]
            mixed = self._mixed(named or all_routes, lcm_ids, provider_ids)
        if writes_wanted:
            writes = self._writes(bulk_bodies, lcm_ids, provider_ids)
        self.server.stop()

        report = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "prewarm": warmed,
            "dataset": {
                "database": database_name(self.url),
                **contents,
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
            "mixed": mixed,
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
        if mixed is not None and mixed["verdict"] != "PASS":
            failed.append(MIXED_NAME)
        return 1 if self.args.strict and failed else 0

    def cleanup(self) -> None:
        if self.server is not None:
            self.server.stop()
        try:
            removed = restore.remove_imported_members(self.url)
            if removed:
                log(f"removed the {removed:,} members the import created")
            if self.writes_started:
                log("putting the data set back as built (undoing the writes) ...")
                touched = restore.restore_after_writes(self.url)
                log(f"  undone: {touched}")
        except Exception as exc:  # the report is out already; say what was left behind
            log(f"cleanup failed ({type(exc).__name__}: {exc}); rebuild with --rebuild")
        if self.token is not None:
            with contextlib.suppress(Exception):
                tokens.revoke_token(self.url)

    # -- steps --

    def _dataset(self) -> dataset.BuildResult | None:
        if self.args.skip_build:
            ensure_database(self.url, log)
            if not self.args.no_migrate:
                run_migrate(self.url, self.secret_key, log)
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

    def _mixed(self, routes: list, lcm_ids: list[int], provider_ids: list[int]) -> dict | None:
        self.writes_started = True  # it snapshots; an interruption is undone by cleanup()
        return MixedMeasurement(
            self.args, url=self.url, out=self.out, env=self.env, token=self.token,
            port=self.server.port, server_pgid=self.server.proc.pid,
            patients=self.marker_patients,
        ).measure(routes, lcm_ids, provider_ids)  # fmt: skip

    def _writes(
        self, bulk_bodies: list[dict], lcm_ids: list[int], provider_ids: list[int]
    ) -> list[WriteResult]:
        restore.snapshot_before_writes(self.url)
        self.writes_started = True
        common = dict(
            url=self.url, out=self.out, env=self.env, token=self.token, port=self.server.port,
            patients=self.marker_patients, wanted=self.wanted,
        )  # fmt: skip
        writes = WriteMeasurement(self.args, **common).measure(bulk_bodies, lcm_ids, provider_ids)
        return writes + PlanningMeasurement(self.args, **common).measure()


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
