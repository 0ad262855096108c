"""How long a statement may run, and wait for a lock, on the service's PostgreSQL connections.

``DB_STATEMENT_TIMEOUT`` and ``DB_LOCK_TIMEOUT`` (seconds; README, "Configuration") become the
session's ``statement_timeout`` and ``lock_timeout``, passed with the connection's startup
options (``session_options``), so every connection has them from its first statement. A
request whose statement is cancelled by either gets 503 with ``Retry-After``
(``ecm_admin.exceptions``) instead of holding its worker until gunicorn kills it; both
defaults stay below gunicorn's 30-second worker timeout.

The statement timeout is lifted (``statement_timeout_lifted``) for ``manage.py migrate`` (an
index or a data migration on a large table may take minutes: the project's ``migrate``
command, ``ecm_admin/management/commands/migrate.py``) and for the project's data commands
(``audit.commands.AuditedCommand``: merging the search counts of a large import, say). The
lock timeout stays, so a migration never waits behind a stuck transaction while every request
queues behind the migration; it fails instead, and can be run again.

SQLite has neither setting; its own busy timeout (20 s, ``settings.py``) bounds lock waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress


def milliseconds(seconds: float) -> int:
    """PostgreSQL's unit for both settings; 0 turns a timeout off, any other value is at
    least 1 ms (0.0001 s must not turn it off)."""
    if seconds <= 0:
        return 0
    return max(1, round(seconds * 1000))


def session_options(statement_timeout: float, lock_timeout: float) -> str:
    """The ``-c name=value`` startup options for libpq's ``options`` parameter."""
    return (
        f"-c statement_timeout={milliseconds(statement_timeout)} "
        f"-c lock_timeout={milliseconds(lock_timeout)}"
    )


@contextmanager
def statement_timeout_lifted(using: str = "default") -> Iterator[None]:
    """No statement timeout on the ``using`` connection inside the block; afterwards the value
    the connection started with (``RESET``). The lock timeout stays."""
    from django.db import DatabaseError, connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    # No database: the work inside fails on its own, and says so its own way.
    with suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        # Failed work may have left the connection unusable: nothing to restore then.
        with suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
