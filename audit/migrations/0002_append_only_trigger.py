"""PostgreSQL only: access events can be inserted, never updated or deleted.

A ``BEFORE UPDATE OR DELETE`` row trigger raises, whoever runs the statement (the
application, the Django admin, a psql session as the application's role). ``TRUNCATE`` does
not fire row triggers: the test suite's flush still works, and emptying the table stays an
explicit, privileged operation. Also a GIN index for ``patient_ids @> '[N]'`` (audit_export
--patient). SQLite has neither; there the application simply never updates or deletes.
"""

from django.db import migrations

FORWARD = [
    """
    CREATE OR REPLACE FUNCTION audit_accessevent_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit_accessevent is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER audit_accessevent_append_only
        BEFORE UPDATE OR DELETE ON audit_accessevent
        FOR EACH ROW EXECUTE FUNCTION audit_accessevent_append_only()
    """,
    """
    CREATE INDEX IF NOT EXISTS audit_event_patient_ids_gin
        ON audit_accessevent USING gin (patient_ids jsonb_path_ops)
    """,
]
BACKWARD = [
    "DROP INDEX IF EXISTS audit_event_patient_ids_gin",
    "DROP TRIGGER IF EXISTS audit_accessevent_append_only ON audit_accessevent",
    "DROP FUNCTION IF EXISTS audit_accessevent_append_only()",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
