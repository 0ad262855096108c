"""PostgreSQL: what the authorization worklist filters read, kept exact by triggers.

``patients_authorizationcoverage`` holds, per ECM patient with an approved authorization, the
greatest end date of those authorizations and the days they cover; ``patients_authorization
daycount`` the same counted by day, so ``authorization_expiring_within_days`` and
``missing_active_authorization`` alone count 1,000,000 patients by summing a few hundred rows.
See ``patients/sql/authorization_coverage.sql``. Nothing of this exists on SQLite, where the
filters read the authorizations themselves (``patients.worklist``).
"""

from django.db import migrations, models

from ecm_admin.migration_ops import frequent_vacuum, postgresql_script


def fill(apps, schema_editor):
    """PostgreSQL: the kept rows and counts of the patients there are."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT patients_authorization_coverage_rebuild()")
        cursor.execute("ANALYZE patients_authorizationcoverage")
        cursor.execute("ANALYZE patients_authorizationdaycount")


class Migration(migrations.Migration):
    dependencies = [("patients", "0011_member_id_unique_regardless_of_case")]

    operations = [
        migrations.CreateModel(
            name="AuthorizationCoverage",
            fields=[
                ("patient_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("latest_end", models.DateField()),
            ],
            options={"db_table": "patients_authorizationcoverage", "managed": False},
        ),
        postgresql_script(
            "patients", "authorization_coverage.sql", "authorization_coverage_drop.sql"
        ),
        # Index-only reads of the end dates, and a small table of counts merged at every commit.
        frequent_vacuum("patients_authorizationcoverage"),
        frequent_vacuum("patients_authorizationdaycount"),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
    ]
