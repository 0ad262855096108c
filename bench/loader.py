"""Loads the generated rows with ``COPY ... FROM STDIN WITH (FREEZE)`` (psycopg 3 ``write_row``).

``FREEZE`` needs the tables truncated in the same transaction (``bench.dataset.build`` does);
the rows are then written frozen, with no later vacuum pass to mark them visible.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql

from bench.generate import Users, chunk_rows, user_rows
from bench.tables import CHUNK_TABLES, COLUMNS

CHUNK = 50_000  # patients generated and copied at a time


def copy_sql(table: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN WITH (FREEZE)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table]))
    )


def copy_rows(cur: psycopg.Cursor, table: str, rows: Iterable[tuple]) -> None:
    with cur.copy(copy_sql(table)) as copy:
        for row in rows:
            copy.write_row(row)


def load_users(cur: psycopg.Cursor, rng: random.Random) -> Users:
    """Copy the roles, the users and their roles; the users the patients will refer to."""
    rows, users = user_rows(rng)
    for table, table_rows in rows.items():
        copy_rows(cur, table, table_rows)
    return users


def load_patients(
    cur: psycopg.Cursor,
    patients: int,
    seed: int,
    users: Users,
    log: Callable[[str], None],
    started: float,
    today: dt.date,
) -> tuple[dict[str, int], dict[str, float]]:
    """Generate and copy patients ``1 .. patients`` in chunks of ``CHUNK``, with every row
    that hangs off them (authorizations dated around ``today``). Returns the rows copied per
    table, and the seconds spent generating (``(generate)``) and copying each table; progress
    is logged from ``started`` on."""
    rows_copied = dict.fromkeys(CHUNK_TABLES, 0)
    table_seconds = dict.fromkeys(("(generate)", *CHUNK_TABLES), 0.0)
    for start in range(1, patients + 1, CHUNK):
        stop = min(start + CHUNK, patients + 1)
        t0 = time.perf_counter()
        chunk = chunk_rows(seed, start, stop, users, today)
        table_seconds["(generate)"] += time.perf_counter() - t0
        for table, rows in chunk.items():
            t0 = time.perf_counter()
            copy_rows(cur, table, rows)
            rows_copied[table] += len(rows)
            table_seconds[table] += time.perf_counter() - t0
        done = stop - 1
        if done == patients or (done // CHUNK) % 4 == 0:
            elapsed = time.perf_counter() - started
            log(f"  copied {done:,} / {patients:,} patients ({elapsed:.0f}s)")
    return rows_copied, table_seconds
