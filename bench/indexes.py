"""What a bulk load bypasses and puts back: secondary indexes, triggers' derived tables,
identity sequences.

The build drops the secondary indexes before loading and recreates them from their own
definitions afterwards (so indexes added by migrations are kept), loads with triggers off
(``session_replication_role = replica``) and then rebuilds what the app's triggers maintain.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from bench.tables import APP_TABLES, DERIVED_TABLES


def derived_tables(cur: psycopg.Cursor) -> list[str]:
    """The tables triggers derive from the app tables (PostgreSQL migrations), when present."""
    return [
        table
        for table in DERIVED_TABLES
        if cur.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None
    ]


# The functions that rewrite what the app's triggers maintain (the search table and its counts,
# the stored patient count; the Lead Care Managers' workload counts; the authorization worklist's
# end dates and counts by day), as their migrations do.
REBUILD_FUNCTIONS = (
    "patients_search_rebuild",
    "care_team_workload_rebuild",
    "patients_authorization_coverage_rebuild",
)


def rebuild_derived(cur: psycopg.Cursor) -> None:
    """Triggers are off while loading: rebuild what they maintain, as the migrations do."""
    for function in REBUILD_FUNCTIONS:
        if cur.execute("SELECT to_regproc(%s)", (function,)).fetchone()[0] is not None:
            cur.execute(sql.SQL("SELECT {}()").format(sql.Identifier(function)))


def drop_secondary_indexes(cur: psycopg.Cursor, tables: Sequence[str]) -> list[str]:
    """Drop the indexes of these tables that no constraint depends on; their definitions."""
    indexes = cur.execute(
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
    for name, _ in indexes:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [definition for _, definition in indexes]


def create_indexes(cur: psycopg.Cursor, definitions: Sequence[str]) -> None:
    for definition in definitions:
        cur.execute(definition)


def reset_sequences(cur: psycopg.Cursor) -> None:
    """Each identity sequence restarts after the highest id loaded."""
    for table in APP_TABLES:
        cur.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({t}, 'id'), COALESCE(MAX(id), 0) + 1, false)"
                " FROM {table}"
            ).format(t=sql.Literal(table), table=sql.Identifier(table))
        )
