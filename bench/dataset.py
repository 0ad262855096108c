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
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench import names
from bench.workload import CIN_LETTERS, IMPORT_MEMBER_PREFIX, make_npi, weighted

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/ecm_bench"
GENERATOR_VERSION = 1
DEFAULT_SEED = 20240115
CHUNK = 50_000

N_LCMS = 200
N_INACTIVE_LCMS = 10
N_PROVIDERS = 50
N_COORDINATORS = 5
ADMIN_ID = 1
ADMIN_EMAIL = "bench.admin@example.org"
ADMIN_FIRST, ADMIN_LAST = "Bench", "Admin"
TOKEN_NAME = "bench"
# The data set's "today": fixed, so two builds with the same seed are identical.
REFERENCE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# Children first. TRUNCATE ... CASCADE also empties tables added later that reference these.
APP_TABLES = (
    "care_team_lcmassignmenthistory",
    "care_team_caseload",
    "patients_activity",
    "patients_ecmstatushistory",
    "patients_ecmauthorization",
    "patients_ecmeligibilityinformation",
    "patients_patient",
    "accounts_apitoken",
    "accounts_userrole",
    "accounts_role",
    "accounts_user",
)

# Kept by PostgreSQL triggers from the app tables (patients migrations 0006, 0009): the search
# table, the counts per 3-character term, and the stored count of ECM patients (one row); all
# rewritten by ``patients_search_rebuild``.
DERIVED_TABLES = ("patients_patientsearchtext", "patients_searchgramcount")

COLUMNS = {
    "accounts_user": (
        "id", "password", "last_login", "is_superuser", "email", "first_name", "last_name",
        "is_active", "is_staff", "created_at", "updated_at",
    ),
    "accounts_role": ("id", "name", "description"),
    "accounts_userrole": ("id", "user_id", "role_id"),
    "patients_patient": (
        "id", "first_name", "last_name", "date_of_birth", "gender", "phone", "email", "street",
        "city", "state", "zip_code", "services", "created_at", "updated_at",
    ),
    "patients_ecmeligibilityinformation": (
        "id", "patient_id", "member_id", "cin", "ecm_service_auth_id", "ecm_provider_name",
        "ecm_npi", "ecm_benefit_auth_eff_date", "ecm_benefit_auth_end_date", "acuity_level",
        "member_record_status", "created_at", "updated_at",
    ),
    "patients_ecmauthorization": (
        "patient_id", "auth_no", "auth_type", "authorization_type", "status",
        "start_date", "expiration_date", "created_at", "updated_at",
    ),
    "patients_ecmstatushistory": (
        "patient_id", "status", "changed_at", "changed_by", "changed_by_user_id",
    ),
    "patients_activity": (
        "patient_id", "kind", "description", "actor_id", "actor_name", "metadata",
        "created_at",
    ),
    "care_team_caseload": (
        "id", "patient_id", "provider_id", "olcm_id", "ilcm_id", "provider_assigned_at",
        "olcm_assigned_at", "ilcm_assigned_at", "created_at", "updated_at",
    ),
    "care_team_lcmassignmenthistory": (
        "patient_id", "role", "previous_user_id", "new_user_id",
        "acted_by_id", "acted_by_name", "reason", "created_at",
    ),
}  # fmt: skip
# Tables written per chunk of patients, in this order.
CHUNK_TABLES = (
    "patients_patient",
    "patients_ecmeligibilityinformation",
    "patients_ecmauthorization",
    "patients_ecmstatushistory",
    "patients_activity",
    "care_team_caseload",
    "care_team_lcmassignmenthistory",
)

ROLES = (
    (1, "admin", "Admin (may call the API)"),
    (2, "ecm", "ECM (may be a Lead Care Manager)"),
    (3, "provider", "Provider (may be a primary provider)"),
    (4, "coordinator", "Care coordinator"),
)

ACTIVITY_TEXT = {
    "member_imported": "Member imported from the eligibility feed",
    "note": "Outreach call: left a voicemail",
    "lcm_assigned": "Lead Care Manager assigned",
    "status_changed": "Member record status changed",
    "patient_updated": "Contact details updated",
}

Log = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


# --- connection helpers ---------------------------------------------------------------------------


def database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise SystemExit(f"--database-url must name a database: {url}")
    return name


def maintenance_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def ensure_database(url: str, log: Log = _print) -> bool:
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


def run_migrate(url: str, secret_key: str, log: Log = _print) -> None:
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


# --- generation -----------------------------------------------------------------------------------


@dataclass
class Users:
    lcm_ids: list[int]
    lcm_weights: list[float]
    provider_ids: list[int]
    provider_weights: list[float]
    names: dict[int, str]


def _load_users(cur: psycopg.Cursor, rng: random.Random) -> Users:
    created = REFERENCE - dt.timedelta(days=4 * 365)
    users: list[tuple] = []
    user_roles: list[tuple[int, int]] = []
    names_by_id: dict[int, str] = {}

    def add(uid: int, first: str, last: str, email: str, *, active=True, staff=False, roles=()):
        users.append(
            ("!" + secrets.token_hex(20), None, False, email, first, last, active, staff, uid)
        )
        names_by_id[uid] = f"{first} {last}"
        user_roles.extend((uid, role) for role in roles)

    add(ADMIN_ID, ADMIN_FIRST, ADMIN_LAST, ADMIN_EMAIL, staff=True, roles=(1,))
    next_id = ADMIN_ID + 1
    firsts = weighted(rng, names.FIRST_NAMES, N_LCMS + N_PROVIDERS + N_COORDINATORS)
    lasts = weighted(rng, names.LAST_NAMES, N_LCMS + N_PROVIDERS + N_COORDINATORS)
    lcm_ids = list(range(next_id, next_id + N_LCMS))
    inactive = set(rng.sample(lcm_ids, N_INACTIVE_LCMS))
    coordinators_too = set(rng.sample(lcm_ids, 10))
    for k, uid in enumerate(lcm_ids):
        roles = (2, 4) if uid in coordinators_too else (2,)
        email = f"{firsts[k]}.{lasts[k]}.{uid}@ecm.example.org".lower()
        add(uid, firsts[k], lasts[k], email, active=uid not in inactive, roles=roles)
    next_id += N_LCMS
    provider_ids = list(range(next_id, next_id + N_PROVIDERS))
    for j, uid in enumerate(provider_ids):
        k = N_LCMS + j
        email = f"dr.{firsts[k]}.{lasts[k]}.{uid}@clinic.example.org".lower()
        add(uid, firsts[k], lasts[k], email, roles=(3,))
    next_id += N_PROVIDERS
    for j in range(N_COORDINATORS):
        uid, k = next_id + j, N_LCMS + N_PROVIDERS + j
        add(uid, firsts[k], lasts[k], f"coord.{uid}@ecm.example.org", roles=(4,))

    with cur.copy(_copy_sql("accounts_role")) as copy:
        for row in ROLES:
            copy.write_row(row)
    with cur.copy(_copy_sql("accounts_user")) as copy:
        for password, last_login, su, email, first, last, active, staff, uid in users:
            copy.write_row(
                (uid, password, last_login, su, email, first, last, active, staff, created, created)
            )
    with cur.copy(_copy_sql("accounts_userrole")) as copy:
        for rid, (uid, role) in enumerate(user_roles, start=1):
            copy.write_row((rid, uid, role))

    # Some LCMs carry far more patients than others; inactive ones keep a few old assignments.
    lcm_weights = [rng.lognormvariate(0, 0.5) * (0.1 if u in inactive else 1) for u in lcm_ids]
    provider_weights = [rng.lognormvariate(0, 0.8) for _ in provider_ids]
    return Users(lcm_ids, lcm_weights, provider_ids, provider_weights, names_by_id)


def _copy_sql(table: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (FREEZE)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table]))
    )


def _chunk_rows(seed: int, start: int, stop: int, users: Users) -> dict[str, list[tuple]]:
    """Rows of every patient table for patients ``start`` .. ``stop - 1``.

    A chunk depends only on ``(seed, start)``: its generator is seeded from both, case loads
    take the patient's id, and the other child rows get their ids from the identity columns.
    """
    rng = random.Random(f"{seed}:{start}")
    n = stop - start
    firsts = weighted(rng, names.FIRST_NAMES, n)
    lasts = weighted(rng, names.LAST_NAMES, n)
    statuses = weighted(rng, names.MEMBER_STATUSES, n)
    acuities = weighted(rng, names.ACUITY_LEVELS, n)
    genders = weighted(rng, names.GENDERS, n)
    cities = weighted(rng, names.CITIES, n)
    n_auths = rng.choices((1, 2, 3), weights=(50, 35, 15), k=n)
    n_activities = rng.choices((0, 1, 2, 3, 4, 5), weights=(10, 20, 25, 20, 15, 10), k=n)
    olcms = rng.choices(users.lcm_ids, weights=users.lcm_weights, k=n)
    ilcms = rng.choices(users.lcm_ids, weights=users.lcm_weights, k=n)
    providers = rng.choices(users.provider_ids, weights=users.provider_weights, k=n)
    rows: dict[str, list[tuple]] = {table: [] for table in CHUNK_TABLES}
    patients = rows["patients_patient"]
    eligibility = rows["patients_ecmeligibilityinformation"]
    authorizations = rows["patients_ecmauthorization"]
    history = rows["patients_ecmstatushistory"]
    activities = rows["patients_activity"]
    case_loads = rows["care_team_caseload"]
    lcm_history = rows["care_team_lcmassignmenthistory"]
    random_ = rng.random
    timestamp = dt.datetime.fromtimestamp
    utc = dt.UTC
    date = dt.date.fromordinal
    day = dt.timedelta(days=1)
    reference = REFERENCE.timestamp()
    reference_day = REFERENCE.date().toordinal()
    dob_base = dt.date(1935, 1, 1).toordinal()
    year = 365 * 86400
    streets, n_streets = names.STREETS, len(names.STREETS)
    orgs, n_orgs = names.ECM_PROVIDERS, len(names.ECM_PROVIDERS)
    npis = [make_npi(1000 + k) for k in range(n_orgs)]
    services = ["[]"] + [json.dumps(names.SERVICES[k : k + 2]) for k in range(5)]
    auth_statuses = ("approved", "pending", "expired", "denied")
    auth_kinds = ("Initial", "Reauthorization", "Retro")
    kinds = ("member_imported", "note", "lcm_assigned", "status_changed")
    letters = CIN_LETTERS
    admin_name = f"{ADMIN_FIRST} {ADMIN_LAST}"
    for k in range(n):
        pid = start + k
        first, last = firsts[k], lasts[k]
        age = random_() * 3 * year  # created within the three years before the reference
        created = timestamp(reference - age, utc)
        updated = timestamp(reference - age * random_(), utc)
        city, zip_prefix = cities[k]
        patients.append(
            (
                pid,
                first,
                last,
                None if random_() < 0.03 else date(dob_base + int(random_() * 32_000)),
                genders[k],
                ""
                if random_() < 0.1
                else f"({200 + int(random_() * 800)}) 555-{int(random_() * 10_000):04d}",
                f"{first}.{last}{pid % 1000}@example.com".lower() if random_() < 0.4 else "",
                f"{1 + int(random_() * 9998)} {streets[pid % n_streets]}",
                city,
                "CA",
                f"{zip_prefix}{int(random_() * 100):02d}",
                services[0] if random_() < 0.5 else services[1 + pid % 5],
                created,
                updated,
            )
        )
        eff_day = reference_day - int(random_() * 730)
        eff = date(eff_day)
        status = statuses[k]
        eligibility.append(
            (
                pid,
                pid,
                f"MEM{pid:010d}",
                f"{int(random_() * 1e8):08d}{letters[int(random_() * len(letters))]}",
                "" if random_() < 0.1 else f"SA{pid:09d}",
                orgs[pid % n_orgs],
                npis[pid % n_orgs],
                eff,
                None if random_() < 0.2 else date(eff_day + 364),
                acuities[k],
                status,
                created,
                updated,
            )
        )
        for j in range(n_auths[k]):
            start_date = eff + 182 * j * day
            u = random_()
            authorizations.append(
                (
                    pid,
                    f"AUTH{pid:010d}-{j + 1}",
                    "ECM" if random_() < 0.8 else "CS",
                    auth_kinds[j],
                    auth_statuses[0 if u < 0.6 else 1 if u < 0.75 else 2 if u < 0.9 else 3],
                    start_date,
                    start_date + 181 * day,
                    created,
                    updated,
                )
            )
        if random_() < 0.4:  # joined earlier with another status
            earlier = "pending_member" if status == "new_member" else "new_member"
            history.append((pid, earlier, created, "System Import", None))
        history.append((pid, status, updated, "System Import", None))
        for _ in range(n_activities[k]):
            kind = kinds[int(random_() * 4)]
            if kind == "member_imported":
                actor, actor_name = None, "System Import"
            elif random_() < 0.3:
                actor, actor_name = ADMIN_ID, admin_name
            else:
                actor = olcms[k]
                actor_name = users.names[actor]
            activities.append(
                (
                    pid,
                    kind,
                    ACTIVITY_TEXT[kind],
                    actor,
                    actor_name,
                    "{}",
                    timestamp(reference - age * random_(), utc),
                )
            )
        if random_() < 0.9:  # 10% of the patients have no case load yet
            provider = providers[k] if random_() < 0.95 else None
            olcm = olcms[k] if random_() < 0.93 else None
            ilcm = ilcms[k] if random_() < 0.85 else None
            assigned = timestamp(reference - age * random_(), utc)
            case_loads.append(
                (
                    pid,  # the case load's id is its patient's
                    pid,
                    provider,
                    olcm,
                    ilcm,
                    assigned if provider else None,
                    assigned if olcm else None,
                    assigned if ilcm else None,
                    created,
                    assigned,
                )
            )
            for role, user in (("olcm", olcm), ("ilcm", ilcm)):
                if user is not None:
                    lcm_history.append((pid, role, None, user, ADMIN_ID, admin_name, "", assigned))
    return rows


# --- indexes --------------------------------------------------------------------------------------


def _derived_tables(cur: psycopg.Cursor) -> list[str]:
    """The tables triggers derive from the app tables (PostgreSQL migrations), when present."""
    return [
        table
        for table in DERIVED_TABLES
        if cur.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None
    ]


def _rebuild_derived(cur: psycopg.Cursor) -> None:
    """Triggers are off while loading: rebuild what they maintain, as the migration does."""
    if cur.execute("SELECT to_regproc('patients_search_rebuild')").fetchone()[0] is not None:
        cur.execute("SELECT patients_search_rebuild()")


def _secondary_indexes(cur: psycopg.Cursor, tables: Sequence[str]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of these tables that no constraint depends on."""
    return cur.execute(
        """
        SELECT ci.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_class ci ON ci.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND t.relname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY t.relname, ci.relname
        """,
        (list(tables),),
    ).fetchall()


def _reset_sequences(cur: psycopg.Cursor) -> None:
    for table in APP_TABLES:
        cur.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({t}, 'id'), COALESCE(MAX(id), 0) + 1, false)"
                " FROM {table}"
            ).format(t=sql.Literal(table), table=sql.Identifier(table))
        )


# --- build ----------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    patients: int
    seconds: float
    phases: dict[str, float]
    rows: dict[str, int]
    skipped: bool = False


def build(url: str, patients: int, seed: int = DEFAULT_SEED, log: Log = _print) -> BuildResult:
    if patients < 1:
        raise SystemExit("--patients must be at least 1")
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
        derived = _derived_tables(cur)
        indexes = _secondary_indexes(cur, [*APP_TABLES, *derived])
        for name, _ in indexes:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        phases["truncate"] = time.perf_counter() - started

        mark = time.perf_counter()
        users = _load_users(cur, rng)
        rows_copied: dict[str, int] = dict.fromkeys(COLUMNS, 0)
        table_seconds = dict.fromkeys(("(generate)", *CHUNK_TABLES), 0.0)
        rows_copied["accounts_user"] = 1 + N_LCMS + N_PROVIDERS + N_COORDINATORS
        for start in range(1, patients + 1, CHUNK):
            stop = min(start + CHUNK, patients + 1)
            t0 = time.perf_counter()
            chunk = _chunk_rows(seed, start, stop, users)
            table_seconds["(generate)"] += time.perf_counter() - t0
            for table, rows in chunk.items():
                t0 = time.perf_counter()
                with cur.copy(_copy_sql(table)) as copy:
                    for row in rows:
                        copy.write_row(row)
                rows_copied[table] += len(rows)
                table_seconds[table] += time.perf_counter() - t0
            done = stop - 1
            if done == patients or (done // CHUNK) % 4 == 0:
                elapsed = time.perf_counter() - mark
                log(f"  copied {done:,} / {patients:,} patients ({elapsed:.0f}s)")
        phases["copy"] = time.perf_counter() - mark
        log("  " + ", ".join(f"{t} {v:.1f}s" for t, v in table_seconds.items()))

        mark = time.perf_counter()
        _rebuild_derived(cur)
        phases["derived"] = time.perf_counter() - mark
        mark = time.perf_counter()
        for _, definition in indexes:
            cur.execute(definition)
        _reset_sequences(cur)
        phases["indexes"] = time.perf_counter() - mark
        log(f"  rebuilt {len(indexes)} secondary indexes in {phases['indexes']:.1f}s")

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
            (patients, seed, GENERATOR_VERSION, seconds, json.dumps({"phases": phases})),
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
    log: Log = _print,
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
        return BuildResult(
            patients, marker.build_seconds, marker.detail.get("phases", {}), {}, skipped=True
        )
    log(f"building {patients:,} patients (seed {seed}) ...")
    result = build(url, patients, seed, log)
    phases = ", ".join(f"{name} {secs:.1f}s" for name, secs in result.phases.items())
    log(f"built {patients:,} patients in {result.seconds:.1f}s ({phases})")
    return result


# --- helpers for the harness ----------------------------------------------------------------------


def issue_token(url: str, env: dict[str, str], log: Log = _print) -> str:
    """A fresh admin token for this run (earlier bench tokens are deleted); returns it raw.

    Issued by the app's own ``create_token`` command, so whatever a token row needs is
    filled in by the app; when the command is missing or fails, a row is inserted directly
    (SHA-256 digest of an ``ecm_`` token, as ``accounts.models`` stores it).
    """
    revoke_token(url)
    result = subprocess.run(
        [sys.executable, "manage.py", "create_token", "--email", ADMIN_EMAIL, "--days", "3650",
         "--name", TOKEN_NAME],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0 and len(lines) == 1 and lines[0].startswith("ecm_"):
        return lines[0].strip()
    reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
    log(f"create_token did not work ({reason[:200]}); inserting the token row directly")
    raw = "ecm_" + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT id FROM accounts_user WHERE email = %s", (ADMIN_EMAIL,))
        found = row.fetchone()
        if found is None:
            raise SystemExit(f"no {ADMIN_EMAIL} in the database: build the data set first")
        conn.execute(
            "INSERT INTO accounts_apitoken"
            " (name, digest, prefix, created_at, expires_at, revoked_at, last_used_at, user_id)"
            " VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s)",
            (
                TOKEN_NAME,
                hashlib.sha256(raw.encode()).hexdigest(),
                raw[:12],
                now,
                now + dt.timedelta(days=3650),
                found[0],
            ),
        )
    return raw


def revoke_token(url: str) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("DELETE FROM accounts_apitoken WHERE name = %s", (TOKEN_NAME,))


def remove_imported_members(url: str) -> int:
    """Delete the members the import workload created (``MEM9...``) and what hangs off them."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT patient_id FROM patients_ecmeligibilityinformation WHERE member_id LIKE %s",
                (IMPORT_MEMBER_PREFIX + "%",),
            )
        ]
        if not ids:
            return 0
        for table in (
            "care_team_lcmassignmenthistory",
            "care_team_caseload",
            "patients_activity",
            "patients_ecmstatushistory",
            "patients_ecmauthorization",
            "patients_ecmeligibilityinformation",
        ):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE patient_id = ANY(%s)").format(sql.Identifier(table)),
                (ids,),
            )
        conn.execute("DELETE FROM patients_patient WHERE id = ANY(%s)", (ids,))
    return len(ids)


# The writes (bulk assignments, the commands) change case loads and append history and
# activities; the harness puts the data set back as built afterwards, so runs on a reused
# data set stay comparable.
SNAPSHOT_TABLE = "bench_write_snapshot"
CASE_LOAD_SNAPSHOT = "bench_caseload_snapshot"
APPEND_ONLY_TABLES = (
    "care_team_lcmassignmenthistory",
    "patients_activity",
    "patients_ecmstatushistory",
)
CASE_LOAD_COLUMNS = (
    "provider_id", "olcm_id", "ilcm_id", "provider_assigned_at", "olcm_assigned_at",
    "ilcm_assigned_at", "created_at", "updated_at",
)  # fmt: skip


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


def snapshot_before_writes(url: str) -> None:
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(SNAPSHOT_TABLE)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(CASE_LOAD_SNAPSHOT)))
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} (table_name text PRIMARY KEY, max_id bigint)").format(
                sql.Identifier(SNAPSHOT_TABLE)
            )
        )
        for table in APPEND_ONLY_TABLES:
            conn.execute(
                sql.SQL("INSERT INTO {} SELECT %s, COALESCE(MAX(id), 0) FROM {}").format(
                    sql.Identifier(SNAPSHOT_TABLE), sql.Identifier(table)
                ),
                (table,),
            )
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT id, {} FROM care_team_caseload").format(
                sql.Identifier(CASE_LOAD_SNAPSHOT),
                sql.SQL(", ").join(map(sql.Identifier, CASE_LOAD_COLUMNS)),
            )
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(
                sql.Identifier(CASE_LOAD_SNAPSHOT)
            )
        )


def restore_after_writes(url: str) -> dict[str, int] | None:
    """Undo the writes since ``snapshot_before_writes``; rows touched per table, or None."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        if conn.execute("SELECT to_regclass(%s)", (SNAPSHOT_TABLE,)).fetchone()[0] is None:
            return None
        touched: dict[str, int] = {}
        max_ids = dict(
            conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(SNAPSHOT_TABLE)))
        )
        for table in APPEND_ONLY_TABLES:
            cursor = conn.execute(
                sql.SQL("DELETE FROM {} WHERE id > %s").format(sql.Identifier(table)),
                (max_ids.get(table, 0),),
            )
            touched[table] = cursor.rowcount
        snapshot = sql.Identifier(CASE_LOAD_SNAPSHOT)
        cursor = conn.execute(
            sql.SQL(
                "DELETE FROM care_team_caseload c WHERE NOT EXISTS"
                " (SELECT 1 FROM {} s WHERE s.id = c.id)"
            ).format(snapshot)
        )
        touched["care_team_caseload (created)"] = cursor.rowcount
        columns = [sql.Identifier(name) for name in CASE_LOAD_COLUMNS]
        cursor = conn.execute(
            sql.SQL(
                "UPDATE care_team_caseload c SET {assign} FROM {snapshot} s"
                " WHERE s.id = c.id AND ({current}) IS DISTINCT FROM ({saved})"
            ).format(
                assign=sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(col) for col in columns),
                snapshot=snapshot,
                current=sql.SQL(", ").join(sql.SQL("c.{}").format(col) for col in columns),
                saved=sql.SQL(", ").join(sql.SQL("s.{}").format(col) for col in columns),
            )
        )
        touched["care_team_caseload (changed)"] = cursor.rowcount
        conn.execute(sql.SQL("DROP TABLE {}").format(snapshot))
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(SNAPSHOT_TABLE)))
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        for table in (*APPEND_ONLY_TABLES, "care_team_caseload", "patients_patient",
                      "patients_ecmeligibilityinformation"):  # fmt: skip
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    return touched


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
