"""Puts the data set back as built after the writes a run makes, so that runs on a reused
data set stay comparable: the imported members are deleted, the history and activity rows
added are deleted, and the case loads and the Lead Care Managers' capacities are restored from
a snapshot taken before the writes; the workload counts' delta rows are merged.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from bench.workload import IMPORT_MEMBER_PREFIX


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
# activities: the ids reached in the append-only tables, and a copy of the case loads.
SNAPSHOT_TABLE = "bench_write_snapshot"
CASE_LOAD_SNAPSHOT = "bench_caseload_snapshot"
# The planning measurements set capacities (``bench.planning``): the profiles are copied too.
PROFILE_TABLE = "care_team_leadcaremanagerprofile"
PROFILE_SNAPSHOT = "bench_profile_snapshot"
APPEND_ONLY_TABLES = (
    "care_team_lcmassignmenthistory",
    "patients_activity",
    "patients_ecmstatushistory",
)
CASE_LOAD_COLUMNS = (
    "provider_id", "olcm_id", "ilcm_id", "provider_assigned_at", "olcm_assigned_at",
    "ilcm_assigned_at", "created_at", "updated_at",
)  # fmt: skip


def snapshot_before_writes(url: str) -> None:
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(SNAPSHOT_TABLE)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(CASE_LOAD_SNAPSHOT)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(PROFILE_SNAPSHOT)))
        if _exists(conn, PROFILE_TABLE):
            conn.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT * FROM {}").format(
                    sql.Identifier(PROFILE_SNAPSHOT), sql.Identifier(PROFILE_TABLE)
                )
            )
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
        if _exists(conn, PROFILE_SNAPSHOT):
            profiles, saved = sql.Identifier(PROFILE_TABLE), sql.Identifier(PROFILE_SNAPSHOT)
            conn.execute(sql.SQL("DELETE FROM {}").format(profiles))
            cursor = conn.execute(
                sql.SQL("INSERT INTO {} SELECT * FROM {}").format(profiles, saved)
            )
            touched[f"{PROFILE_TABLE} (restored)"] = cursor.rowcount
            conn.execute(sql.SQL("DROP TABLE {}").format(saved))
        if conn.execute("SELECT to_regproc('care_team_workload_compact')").fetchone()[0]:
            conn.execute("SELECT care_team_workload_compact()")  # the deltas of the writes
        conn.execute(sql.SQL("DROP TABLE {}").format(snapshot))
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(SNAPSHOT_TABLE)))
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        for table in (*APPEND_ONLY_TABLES, "care_team_caseload", "patients_patient",
                      "patients_ecmeligibilityinformation", PROFILE_TABLE,
                      "care_team_workloadcount"):  # fmt: skip
            if _exists(conn, table):
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    return touched


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None
