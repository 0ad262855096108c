"""The bench database: its URL, creation and migration, the environment of the app processes
the harness starts, and the queries the harness makes on the data set."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.tables import APP_TABLES
from bench.workload import Log, log

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/ecm_bench"


def database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise SystemExit(f"--database-url must name a database: {url}")
    return name


def maintenance_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def ensure_database(url: str, log: Log = log) -> bool:
    """Create the database when it does not exist; True when it was created."""
    name = database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log(f"created database {name}")
    return True


def app_env(url: str, secret_key: str) -> dict[str, str]:
    """Environment of every app process the harness starts (production settings, plain HTTP)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ecm_admin.settings",
        DATABASE_URL=url,
        SECRET_KEY=secret_key,
        DEBUG="0",
        HTTPS_ONLY="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    # The per-token rate limit (600 a minute by default) would answer the load with 429s;
    # a limit this high keeps the throttle's own cost in the measurement without refusing.
    env.setdefault("API_RATE_LIMIT_PER_MINUTE", "1000000000")
    return env


def run_migrate(url: str, secret_key: str, log: Log = log) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks"],
        cwd=REPO_ROOT,
        env=app_env(url, secret_key),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise SystemExit(f"manage.py migrate failed:\n{tail}")
    applied = [line for line in result.stdout.splitlines() if "Applying" in line]
    log(f"migrate: {len(applied)} migration(s) applied in {time.perf_counter() - started:.1f}s")


def checkpoint(url: str) -> bool:
    """Flush the dirty pages of earlier work (``CHECKPOINT``), so that a checkpoint does not
    land inside the next measured write. False when the role may not (no superuser or
    ``pg_checkpoint``): the run goes on without it."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def active_user_ids(conn: psycopg.Connection, role: str) -> list[int]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT u.id FROM accounts_user u JOIN accounts_userrole ur ON ur.user_id = u.id"
            " JOIN accounts_role r ON r.id = ur.role_id"
            " WHERE r.name = %s AND u.is_active ORDER BY u.id",
            (role,),
        )
    ]


def table_rows(conn: psycopg.Connection, tables: Sequence[str] = APP_TABLES) -> dict[str, int]:
    """Row counts (exact) of the app tables."""
    return {
        table: conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()[0]
        for table in tables
    }


def dataset_contents(conn: psycopg.Connection) -> dict[str, Any]:
    """What the report says of the data set: its ECM patients, the database's size, the rows
    of each app table and the last migration applied per app."""
    patients = conn.execute(
        "SELECT count(*) FROM patients_ecmeligibilityinformation e"
        " JOIN patients_patient p ON p.id = e.patient_id"
    ).fetchone()[0]
    rows = table_rows(conn)
    migrations = dict(
        conn.execute(
            "SELECT app, max(name) FROM django_migrations"
            " WHERE app IN ('accounts', 'patients', 'care_team', 'audit')"
            " GROUP BY app ORDER BY app"
        ).fetchall()
    )
    size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return {"patients": patients, "size": size, "rows": rows, "migrations": migrations}
