"""The read routes measured: their SQL captured, their database time, their HTTP latency.

The database time is measured in step with the c=1 load: after each request is answered, the
SQL that request ran (captured for the same variant) is replayed once on a connection of the
harness, and the route's database time is the median of those replays. Just before the load
the route is also replayed apart (``--db-reps`` passes), which ranks its statements, and the
slowest SELECT is run under ``EXPLAIN (ANALYZE, BUFFERS)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import psycopg

from bench import replay
from bench.database import REPO_ROOT
from bench.driver import drive
from bench.results import ReadResult
from bench.workload import ReadRoute, fmt_ms, log, median, sql_outline

SAMPLE_IDS = 50


def sample_patient_ids(conn: psycopg.Connection, patients: int, seed: int) -> list[int]:
    """Up to ``SAMPLE_IDS`` ids of ECM patients among ``1 .. patients``, drawn with ``seed``."""
    rng = random.Random(seed)
    population = range(1, patients + 1)
    wanted = rng.sample(population, min(SAMPLE_IDS * 2, len(population)))
    found = {
        row[0]
        for row in conn.execute(
            "SELECT patient_id FROM patients_ecmeligibilityinformation WHERE patient_id = ANY(%s)",
            (wanted,),
        )
    }
    ids = [pid for pid in wanted if pid in found][:SAMPLE_IDS]
    if not ids:
        raise SystemExit("no ECM patients in the data set")
    return ids


# The active LCM holding the most ECM patients (as oLCM or iLCM, a patient once), and how many.
_LARGEST_CASELOAD = """
    SELECT held.user_id, count(*) FROM (
        SELECT olcm_id AS user_id, patient_id FROM care_team_caseload WHERE olcm_id IS NOT NULL
        UNION
        SELECT ilcm_id, patient_id FROM care_team_caseload WHERE ilcm_id IS NOT NULL
    ) held
    JOIN patients_ecmeligibilityinformation e ON e.patient_id = held.patient_id
    JOIN accounts_user u ON u.id = held.user_id AND u.is_active
    WHERE EXISTS (SELECT 1 FROM accounts_userrole ur JOIN accounts_role r ON r.id = ur.role_id
                  WHERE ur.user_id = u.id AND r.name = 'ecm')
    GROUP BY held.user_id ORDER BY count(*) DESC, held.user_id LIMIT 1
"""


def largest_caseload(conn: psycopg.Connection) -> tuple[int, int]:
    """``(user id, patients held)`` of the active LCM holding the most patients."""
    row = conn.execute(_LARGEST_CASELOAD).fetchone()
    if row is None:
        raise SystemExit("no Lead Care Manager holds a patient in the data set")
    return row[0], row[1]


class ReadMeasurement:
    """Measures the read routes of one run; failures of replayed statements go to ``notes``."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        url: str,
        out: Path,
        env: dict[str, str],
        token: str,
        notes: list[str],
    ):
        self.args = args
        self.url = url
        self.out = out
        self.env = env
        self.token = token
        self.notes = notes
        self.captured: dict[str, list[dict]] = {}
        # The app's PostgreSQL session options (from its settings, read by ``bench.capture``):
        # the replays run with them too.
        self.session_options = ""

    def capture(self, routes: list[ReadRoute]) -> list[ReadResult]:
        """The SQL of every variant of every route; a result per route (its status says when
        a route is missing or answers an error)."""
        if not routes:
            return []
        log(f"capturing the SQL of {len(routes)} read routes (django.test.Client) ...")
        self.session_options, captured = replay.capture(
            [{"name": r.name, "variants": [asdict(v) for v in r.variants]} for r in routes],
            "reads",
            token=self.token,
            env=self.env,
            out=self.out,
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
        timing = replay.replay(conn, variants, self.args.db_reps)
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
            plan, hints = replay.explain(self.url, slowest, self.session_options)
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

    def measure_http(self, route: ReadRoute, result: ReadResult, patients: int, port: int) -> None:
        """The route over HTTP at c=1 and at ``--concurrency``, and its database time.

        Both medians come from the same seconds: on a shared virtual machine the same
        statement takes 9 ms, then 15 ms, from one second to the next (the LCM list's counts;
        the host's steal time), so a database time measured before or after the load, even
        the lower of two, compares a fast moment with a slow one.
        """
        if result.status != "ok":
            log(f"  {route.name}: {result.status}, skipped")
            return
        args = self.args
        token = self.token
        variants = self.captured[route.name]
        paired: list[float] = []
        failures: set[str] = set()
        with replay.replay_connection(self.url, self.session_options) as conn:
            self._database_time(result, conn)

            def replay_after(variant: int) -> None:
                paired.append(replay.replay_pass(conn, variants[variant]["sql"], failures))

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
        expected = route.expected_total if route.expected_total is not None else patients
        if (route.checks_total or route.expected_total is not None) and c1.first_body:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                total = json.loads(c1.first_body)["pagination"]["total_count"]
                result.total_count = total
                result.total_count_exact = total == expected
        log(
            f"  {route.name:<26} c=1 p50 {fmt_ms(result.p50_c1):>8} ms | "
            f"c={args.concurrency} p50 {fmt_ms(result.cn['p50_ms']):>8} ms "
            f"p95 {fmt_ms(result.cn['p95_ms']):>8} ms {fmt_ms(result.cn['rps'])} req/s | "
            f"db {fmt_ms(result.db_ms)} ms (apart {fmt_ms(result.db_ms_apart)} ms)"
        )
