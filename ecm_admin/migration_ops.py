"""Operations shared by the apps' migrations."""

from collections.abc import Sequence
from pathlib import Path

from django.apps import apps as global_apps
from django.db import migrations

# Vacuum a table once 0.5 % of its rows (plus 1,000) are dead or newly inserted, instead of
# PostgreSQL's 20 % (vacuum) and 20 % (inserts). See ``frequent_vacuum``.
FREQUENT_VACUUM = {
    "autovacuum_vacuum_threshold": 1000,
    "autovacuum_vacuum_scale_factor": 0.005,
    "autovacuum_vacuum_insert_threshold": 1000,
    "autovacuum_vacuum_insert_scale_factor": 0.005,
    "autovacuum_analyze_scale_factor": 0.02,
}


def frequent_vacuum(table: str) -> migrations.RunPython:
    """PostgreSQL only: autovacuum ``table`` soon after a batch of writes.

    Counts over the table's indexes are index-only scans, which skip the table itself only on
    pages the visibility map marks all-visible; every update or insert clears that mark on its
    page until the table is vacuumed. With PostgreSQL's defaults a table of 1,000,000 rows
    waits for 200,000 changes: after a bulk assignment of 100,000 rows the counts would read the
    table (5x slower) until as many changes again. Other databases: nothing to do.
    """
    options = ", ".join(f"{name} = {value}" for name, value in FREQUENT_VACUUM.items())
    names = ", ".join(FREQUENT_VACUUM)

    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'ALTER TABLE "{table}" SET ({options})')

    def revert(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'ALTER TABLE "{table}" RESET ({names})')

    return migrations.RunPython(apply, revert, elidable=False)


def postgresql_script(
    app_label: str, forward: str | Sequence[str], backward: str | Sequence[str]
) -> migrations.RunPython:
    """PostgreSQL only: run ``<app>/sql/<forward>`` (and ``<backward>`` to reverse), each a
    script of several statements (functions with ``$$`` bodies, triggers), as one simple
    query; a list of scripts runs in its order. Other databases: nothing to do.

    A script is the one definition of what it creates; a later change is a new script (a
    migration must keep doing what it did when it was applied).
    """

    def runner(names: str | Sequence[str]):
        names = [names] if isinstance(names, str) else list(names)

        def run(apps, schema_editor):
            if schema_editor.connection.vendor != "postgresql":
                return
            folder = Path(global_apps.get_app_config(app_label).path) / "sql"
            for name in names:
                script = (folder / name).read_text()
                with schema_editor.connection.cursor() as cursor:
                    cursor.execute(script)

        return run

    return migrations.RunPython(runner(forward), runner(backward), elidable=False)
