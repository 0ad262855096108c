"""Where a run happened: the machine, PostgreSQL's settings, the code, and the data set's
tables loaded into shared buffers before measuring."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from bench.database import REPO_ROOT


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
