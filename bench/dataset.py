"""Builds the benchmark data set on PostgreSQL: ``python -m bench.dataset --patients 1000000``.

Everything is loaded in one transaction with ``COPY ... FREEZE`` (psycopg 3 ``write_row``):

1. ``TRUNCATE`` the application tables;
2. drop their secondary indexes (those not backing a constraint), remembering the definitions,
   and skip foreign-key triggers (``session_replication_role = replica``): the generator
   writes consistent ids, and the indexes are rebuilt once at the end, much faster than
   maintaining them row by row;
3. copy users, roles and then patients in chunks (patient, eligibility, authorizations,
   status history, activities, case load, LCM assignment history);
4. recreate the indexes, reset the identity sequences, write the marker row; commit;
5. ``VACUUM (ANALYZE)``.

A failure anywhere rolls the whole build back (DDL is transactional in PostgreSQL), so the
indexes added by migrations are never lost. The marker table ``bench_marker``
records the size, seed and generator version: a database that already holds the requested
data set is not rebuilt (``--rebuild`` forces it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from bench import indexes, loader
from bench.database import DEFAULT_DATABASE_URL, ensure_database, run_migrate
from bench.generate import GENERATOR_VERSION, N_USERS, ROLES
from bench.tables import APP_TABLES, COLUMNS
from bench.workload import IMPORT_MEMBER_PREFIX, Log, log

DEFAULT_SEED = 20240115
# The marker's note of the day the authorizations are dated around (``bench.generate``).
AUTHORIZATIONS_DATED = "authorizations_dated"
# A reused data set whose authorizations were dated longer ago than this is noted in the log:
# the worklist filters (which compare them with today) then select other shares of patients.
STALE_AUTHORIZATION_DAYS = 30


# --- the marker -----------------------------------------------------------------------------------


@dataclass
class Marker:
    patients: int
    seed: int
    generator: int
    built_at: dt.datetime
    build_seconds: float
    detail: dict = field(default_factory=dict)


def read_marker(conn: psycopg.Connection) -> Marker | None:
    exists = conn.execute("SELECT to_regclass('public.bench_marker')").fetchone()[0]
    if exists is None:
        return None
    row = conn.execute(
        "SELECT patients, seed, generator, built_at, build_seconds, detail"
        " FROM bench_marker WHERE id = 1"
    ).fetchone()
    return Marker(*row) if row else None


def dataset_matches(conn: psycopg.Connection, patients: int, seed: int) -> Marker | None:
    """The marker, when the database holds exactly the requested data set."""
    marker = read_marker(conn)
    if marker is None or (marker.patients, marker.seed, marker.generator) != (
        patients,
        seed,
        GENERATOR_VERSION,
    ):
        return None
    counted = conn.execute(
        "SELECT count(*) FROM patients_ecmeligibilityinformation WHERE member_id NOT LIKE %s",
        (IMPORT_MEMBER_PREFIX + "%",),
    ).fetchone()[0]
    return marker if counted == patients else None


def _clear_marker(cur: psycopg.Cursor) -> None:
    """The marker table, emptied: the build writes its row once everything is in."""
    cur.execute(
        """
        CREATE TABLE IF NOT EXISTS bench_marker (
            id integer PRIMARY KEY CHECK (id = 1),
            patients bigint NOT NULL,
            seed bigint NOT NULL,
            generator integer NOT NULL,
            built_at timestamptz NOT NULL,
            build_seconds double precision NOT NULL,
            detail jsonb NOT NULL
        )
        """
    )
    cur.execute("DELETE FROM bench_marker")


# --- build ----------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    patients: int
    seconds: float
    phases: dict[str, float]
    rows: dict[str, int]
    skipped: bool = False


def build(
    url: str,
    patients: int,
    seed: int = DEFAULT_SEED,
    log: Log = log,
    today: dt.date | None = None,
) -> BuildResult:
    """Build the data set; its authorizations are dated around ``today`` (default: the UTC
    date now), which the marker records."""
    if patients < 1:
        raise SystemExit("--patients must be at least 1")
    today = today or dt.datetime.now(dt.UTC).date()
    rng = random.Random(seed)
    phases: dict[str, float] = {}
    started = time.perf_counter()
    with psycopg.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers while loading
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute("SET synchronous_commit = off")
        cur.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(map(sql.Identifier, APP_TABLES))
            )
        )
        derived = indexes.derived_tables(cur)
        definitions = indexes.drop_secondary_indexes(cur, [*APP_TABLES, *derived])
        phases["truncate"] = time.perf_counter() - started

        mark = time.perf_counter()
        users = loader.load_users(cur, rng)
        rows_copied: dict[str, int] = dict.fromkeys(COLUMNS, 0)
        rows_copied["accounts_user"] = N_USERS
        copied, table_seconds = loader.load_patients(cur, patients, seed, users, log, mark, today)
        rows_copied.update(copied)
        phases["copy"] = time.perf_counter() - mark
        log("  " + ", ".join(f"{t} {v:.1f}s" for t, v in table_seconds.items()))

        mark = time.perf_counter()
        indexes.rebuild_derived(cur)
        phases["derived"] = time.perf_counter() - mark
        mark = time.perf_counter()
        indexes.create_indexes(cur, definitions)
        indexes.reset_sequences(cur)
        phases["indexes"] = time.perf_counter() - mark
        log(f"  rebuilt {len(definitions)} secondary indexes in {phases['indexes']:.1f}s")

        _clear_marker(cur)
        cur.execute("SET session_replication_role = DEFAULT")
        conn.commit()

    mark = time.perf_counter()
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table in (*APP_TABLES, *derived):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        phases["vacuum_analyze"] = time.perf_counter() - mark
        seconds = time.perf_counter() - started
        rows_copied["accounts_role"] = len(ROLES)
        conn.execute(
            "INSERT INTO bench_marker VALUES (1, %s, %s, %s, now(), %s, %s)",
            (
                patients,
                seed,
                GENERATOR_VERSION,
                seconds,
                json.dumps({"phases": phases, AUTHORIZATIONS_DATED: today.isoformat()}),
            ),
        )
    rows_copied = {k: v for k, v in rows_copied.items() if v}
    return BuildResult(patients, seconds, phases, rows_copied)


def ensure_dataset(
    url: str,
    patients: int,
    *,
    seed: int = DEFAULT_SEED,
    rebuild: bool = False,
    secret_key: str | None = None,
    migrate: bool = True,
    log: Log = log,
) -> BuildResult:
    """Create and migrate the database, then build the data set unless it is already there."""
    created = ensure_database(url, log)
    if migrate or created:
        run_migrate(url, secret_key or secrets.token_urlsafe(50), log)
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        marker = None if rebuild else dataset_matches(conn, patients, seed)
    if marker is not None:
        log(
            f"data set of {patients:,} patients already built on {marker.built_at:%Y-%m-%d %H:%M}"
            f" (in {marker.build_seconds:.0f}s): not rebuilding (--rebuild forces it)"
        )
        dated = marker.detail.get(AUTHORIZATIONS_DATED)
        age = (dt.datetime.now(dt.UTC).date() - dt.date.fromisoformat(dated)).days if dated else 0
        if age > STALE_AUTHORIZATION_DAYS:
            log(
                f"  its authorizations are dated around {dated}, {age} days ago: the worklist"
                " routes select other shares of patients than at the build (--rebuild re-dates"
                " them)"
            )
        return BuildResult(
            patients, marker.build_seconds, marker.detail.get("phases", {}), {}, skipped=True
        )
    log(f"building {patients:,} patients (seed {seed}) ...")
    result = build(url, patients, seed, log)
    phases = ", ".join(f"{name} {secs:.1f}s" for name, secs in result.phases.items())
    log(f"built {patients:,} patients in {result.seconds:.1f}s ({phases})")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset", description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rebuild", action="store_true", help="build even if already built")
    parser.add_argument("--no-migrate", action="store_true", help="skip manage.py migrate")
    args = parser.parse_args(argv)
    ensure_dataset(
        args.database_url,
        args.patients,
        seed=args.seed,
        rebuild=args.rebuild,
        migrate=not args.no_migrate,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
