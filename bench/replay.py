"""The SQL of each request, captured and replayed: the database time of a route.

``capture`` runs ``bench.capture`` (a short Django process) to learn the statements each
request makes, fully bound; ``replay_pass`` runs them again with psycopg, as the app does, on a
connection with the app's own session options.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from bench.database import REPO_ROOT
from bench.workload import median, plan_hints


def capture(
    routes: list[dict], what: str, *, token: str, env: dict[str, str], out: Path
) -> tuple[str, dict[str, list[dict]]]:
    """Run ``bench.capture`` on ``routes`` (``{"name", "variants", "write"?}``): the app's
    PostgreSQL session options, and per route the status, time and SQL of each variant."""
    spec_path = out / "capture_spec.json"
    captured_path = out / f"captured_sql_{what}.json"
    spec_path.write_text(json.dumps({"token": token, "routes": routes}))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bench.capture", str(spec_path), str(captured_path)],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    finally:
        spec_path.unlink(missing_ok=True)  # it holds the token
    if result.returncode != 0:
        raise RuntimeError(f"bench.capture failed:\n{result.stderr[-3000:]}")
    captured = json.loads(captured_path.read_text())
    return captured["options"], captured["routes"]


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
