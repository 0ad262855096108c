"""Statement and lock timeouts on the service's PostgreSQL connections (``DB_STATEMENT_TIMEOUT``,
``DB_LOCK_TIMEOUT``; ``ecm_admin.db_timeouts``), and the 503 a request gets when it hits one.

A request that waits on a row another transaction holds, or whose statement runs too long,
gets 503 JSON with ``Retry-After`` and a sentence saying the database is busy, within about
the timeout: never a hang, never a 500, nothing written. ``manage.py migrate`` runs without
the statement timeout.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.db.models.signals import pre_migrate
from django.http import HttpResponse
from django.test import Client
from django.urls import path
from rest_framework.test import APIClient
from rest_framework.views import APIView

from audit.commands import AuditedCommand
from ecm_admin.db_timeouts import milliseconds, session_options
from ecm_admin.exceptions import DATABASE_BUSY, DATABASE_UNAVAILABLE, DB_RETRY_AFTER_SECONDS
from patients.models import Patient
from tests import factories
from tests.test_settings_env import assert_refused, load_settings, run_settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
BASE = "/v1/admin/clinic/ecm"
POSTGRES_URL = "postgresql://ecm@db.internal/ecm_admin"


# --- configuration ---------------------------------------------------------------------------


def test_defaults_are_20_seconds_per_statement_and_5_per_lock_wait():
    values = load_settings(SECRET_KEY="s" * 50, DATABASE_URL=POSTGRES_URL)
    assert values["OPTIONS"]["options"] == (
        "-c jit=off -c statement_timeout=20000 -c lock_timeout=5000"
    )


def test_timeouts_are_read_in_seconds_and_0_turns_one_off():
    values = load_settings(
        SECRET_KEY="s" * 50,
        DATABASE_URL=POSTGRES_URL,
        DB_STATEMENT_TIMEOUT="2.5",
        DB_LOCK_TIMEOUT="0",
    )
    assert "-c statement_timeout=2500 -c lock_timeout=0" in values["OPTIONS"]["options"]


def test_options_given_in_the_database_url_come_last_so_they_win():
    values = load_settings(
        SECRET_KEY="s" * 50,
        DATABASE_URL=f"{POSTGRES_URL}?options=-c%20statement_timeout%3D60000",
    )
    options = values["OPTIONS"]["options"]
    assert options.endswith("-c statement_timeout=60000")
    assert options.index("statement_timeout=20000") < options.index("statement_timeout=60000")


@pytest.mark.parametrize("value", ["abc", "-1", "20s", "nan", "inf"])
@pytest.mark.parametrize("name", ["DB_STATEMENT_TIMEOUT", "DB_LOCK_TIMEOUT"])
def test_a_bad_value_stops_the_start_naming_the_variable(name, value):
    result = run_settings(SECRET_KEY="s" * 50, DATABASE_URL=POSTGRES_URL, **{name: value})
    assert_refused(result, name, "number of seconds")


def test_a_bad_value_stops_the_start_on_sqlite_too():
    """SQLite does not apply them, but a typo must not wait for the move to PostgreSQL."""
    result = run_settings(SECRET_KEY="s" * 50, DB_LOCK_TIMEOUT="five")
    assert_refused(result, "DB_LOCK_TIMEOUT")


def test_no_positive_timeout_rounds_down_to_off():
    assert milliseconds(0) == 0
    assert milliseconds(0.0001) == 1
    assert milliseconds(0.5) == 500
    assert session_options(20, 5) == "-c statement_timeout=20000 -c lock_timeout=5000"


# --- the 503 for a busy database (any database) -----------------------------------------------


def _operational_error(cause: Exception) -> OperationalError:
    """As Django raises it: the driver's exception as ``__cause__``."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


def _sqlite_busy() -> sqlite3.OperationalError:
    """A real SQLITE_BUSY: a write while another connection holds the database."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "busy.sqlite3"
        holder = sqlite3.connect(path, isolation_level=None)
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            holder.execute("CREATE TABLE t (x)")
            holder.execute("BEGIN EXCLUSIVE")
            try:
                other.execute("INSERT INTO t VALUES (1)")
            except sqlite3.OperationalError as exc:
                return exc
            raise AssertionError("the second write did not wait for the first")
        finally:
            other.close()
            holder.close()


CAUSES = {
    "statement timeout": (lambda: psycopg.errors.QueryCanceled("canceling statement"), "busy"),
    "lock timeout": (lambda: psycopg.errors.LockNotAvailable("canceling statement"), "busy"),
    "deadlock": (lambda: psycopg.errors.DeadlockDetected("deadlock detected"), "busy"),
    "sqlite locked": (_sqlite_busy, "busy"),
    "connection refused": (lambda: psycopg.OperationalError("connection refused"), "down"),
}


class RaisingApiView(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []  # no rate count: the database is what fails here

    def get(self, request):
        raise _operational_error(CAUSES[request.GET["cause"]][0]())


def raising_plain_view(request):
    raise _operational_error(CAUSES[request.GET["cause"]][0]())


def sleeping_view(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(5)")
    return HttpResponse("slept")


urlpatterns = [
    path("api-view", RaisingApiView.as_view()),
    path("plain-view", raising_plain_view),
    path("sleep", sleeping_view),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("route", ["api-view", "plain-view"])
@pytest.mark.parametrize("cause", list(CAUSES))
def test_a_busy_database_is_a_503_that_says_so(route, cause, caplog):
    response = Client().get(f"/{route}", {"cause": cause})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == str(DB_RETRY_AFTER_SECONDS)
    expected = DATABASE_BUSY if CAUSES[cause][1] == "busy" else DATABASE_UNAVAILABLE
    assert response.json() == {"errors": [expected]}
    assert "canceling statement" not in caplog.text  # the driver's message is not logged


# --- PostgreSQL: the settings reach the connections --------------------------------------------


def _show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_application_connections_have_both_timeouts():
    assert _show("statement_timeout") == "20s"
    assert _show("lock_timeout") == "5s"


@pytest.mark.postgres
@pytest.mark.django_db
def test_migrate_runs_without_the_statement_timeout_and_restores_it():
    seen = []

    def probe(sender, using, **kwargs):
        seen.append((_show("statement_timeout"), _show("lock_timeout")))

    pre_migrate.connect(probe, dispatch_uid="test_probe_statement_timeout")
    try:
        call_command("migrate", verbosity=0)
    finally:
        pre_migrate.disconnect(dispatch_uid="test_probe_statement_timeout")
    assert seen and set(seen) == {("0", "5s")}
    assert _show("statement_timeout") == "20s"


def _manage_py(url: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args, "--noinput", "--verbosity", "0"],
        cwd=PROJECT_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "SECRET_KEY": "s" * 50,
            "DATABASE_URL": url,
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> None:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]


@pytest.mark.postgres
@pytest.mark.django_db
def test_manage_py_migrate_is_not_cut_by_the_statement_timeout():
    """A migration kept busy 10 times longer than the statement timeout (here: waiting for a
    table another session holds, as a long index build would keep it running) completes."""
    name = f"{connection.settings_dict['NAME']}_migrate_{uuid.uuid4().hex[:8]}"
    admin = _raw_connection(dbname="postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    holder = migrate = None
    try:
        url = _url(name)
        _finish(_manage_py(url, "migrate", "contenttypes", "0001"))  # creates django_migrations
        holder = _raw_connection(dbname=name)
        holder.execute("LOCK TABLE django_migrations IN ACCESS EXCLUSIVE MODE")
        migrate = _manage_py(url, "migrate", DB_STATEMENT_TIMEOUT="0.2", DB_LOCK_TIMEOUT="60")
        deadline = time.monotonic() + 60
        # Another session: within the holder's transaction the statistics would not change.
        while not admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            [name],
        ).fetchone()[0]:
            assert migrate.poll() is None, migrate.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "migrate never reached django_migrations"
            time.sleep(0.05)
        time.sleep(2)  # ten statement timeouts
        holder.rollback()
        _finish(migrate)
        with psycopg.connect(url) as check:
            applied = check.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
        assert applied > 10
    finally:
        if migrate is not None and migrate.poll() is None:
            migrate.kill()
            migrate.communicate()
        if holder is not None:
            holder.close()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# --- PostgreSQL: a request that hits a timeout ----------------------------------------------------


def _url(name: str) -> str:
    settings = connection.settings_dict
    user = settings.get("USER") or ""
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgresql://{credentials}{host}:{port}/{name}"


def _raw_connection(dbname: str | None = None, autocommit: bool = False) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=dbname or settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        autocommit=autocommit,
    )


@pytest.fixture
def session_timeouts(monkeypatch):
    """``apply(statement, lock)``: the application's next connections use these timeouts (in
    seconds), as if they had been configured."""

    def apply(statement: float, lock: float) -> None:
        monkeypatch.setitem(
            connection.settings_dict["OPTIONS"],
            "options",
            f"-c jit=off {session_options(statement, lock)}",
        )
        connection.close()

    yield apply
    connection.close()  # the next connection starts with the configured options again


@pytest.fixture
def row_held():
    """``hold(patient_id)``: another connection locks the patient's row, as a stuck
    transaction would. The server ends that session after 30 s idle, so a request that
    ignored the timeouts would fail the test instead of hanging it."""
    holders = []

    def hold(patient_id: int) -> psycopg.Connection:
        holder = _raw_connection()
        holders.append(holder)
        holder.execute("SET idle_in_transaction_session_timeout = '30s'")
        holder.execute("SELECT id FROM patients_patient WHERE id = %s FOR UPDATE", [patient_id])
        return holder

    yield hold
    for holder in holders:
        holder.rollback()
        holder.close()


def _update_phone(client: APIClient, patient: Patient, phone: str):
    return client.put(f"{BASE}/patients/{patient.id}", {"patient": {"phone": phone}}, format="json")


def _assert_busy(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(DB_RETRY_AFTER_SECONDS)
    assert response.json() == {"errors": [DATABASE_BUSY]}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("statement", "lock", "sqlstate"),
    [(0, 0.5, "55P03"), (0.5, 0, "57014")],
    ids=["lock-timeout", "statement-timeout"],
)
def test_a_request_waiting_on_a_held_row_gets_a_503_not_a_hang(
    admin_client, session_timeouts, row_held, caplog, statement, lock, sqlstate
):
    patient = factories.ecm_patient(patient__phone="+18055550100")
    session_timeouts(statement, lock)
    holder = row_held(patient.id)
    caplog.set_level(logging.WARNING, logger="ecm_admin.errors")

    started = time.monotonic()
    response = _update_phone(admin_client, patient, "+18055550199")
    elapsed = time.monotonic() - started

    _assert_busy(response)
    assert elapsed < 10  # the holder keeps the row for 30 s
    assert f"sqlstate {sqlstate}" in caplog.text
    holder.rollback()  # the stuck transaction ends
    patient.refresh_from_db()
    assert patient.phone == "+18055550100"  # nothing was written
    retried = _update_phone(admin_client, patient, "+18055550199")
    assert retried.status_code == 200, retried.content
    patient.refresh_from_db()
    assert patient.phone == "+18055550199"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls(__name__)
def test_a_statement_past_the_statement_timeout_gets_a_503(session_timeouts):
    session_timeouts(0.2, 5)
    started = time.monotonic()
    response = Client().get("/sleep")
    assert time.monotonic() - started < 4  # pg_sleep(5) was cancelled
    _assert_busy(response)


class ProbeCommand(AuditedCommand):
    """A data command that notes the timeouts it runs with."""

    def handle(self, *args, **options):
        self.seen = (_show("statement_timeout"), _show("lock_timeout"))


@pytest.mark.postgres
@pytest.mark.django_db
def test_data_commands_run_without_the_statement_timeout_but_keep_the_lock_timeout():
    command = ProbeCommand()
    call_command(command)
    assert command.seen == ("0", "5s")
    assert _show("statement_timeout") == "20s"  # restored for whatever the process does next
