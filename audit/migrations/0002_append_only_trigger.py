"""PostgreSQL only: access events can be inserted, never updated or deleted.

A ``BEFORE UPDATE OR DELETE`` row trigger raises, whoever runs the statement (the
application, the Django admin, a psql session as the application's role). ``TRUNCATE`` does
not fire row triggers: the test suite's flush still works, and emptying the table stays an
explicit, privileged operation. Also a GIN index for ``patient_ids @> '[N]'`` (audit_export
--patient). SQLite has neither; there the application simply never updates or deletes.
The SQL is in ``audit/sql/append_only.sql``.
"""

from django.db import migrations

from ecm_admin.migration_ops import postgresql_script


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [postgresql_script("audit", "append_only.sql", "append_only_drop.sql")]
