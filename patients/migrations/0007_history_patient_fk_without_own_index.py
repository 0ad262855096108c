"""The append-only history tables' ``patient`` foreign keys lose their single-column index.

Each table keeps its ``(patient_id, <time>)`` index (the per-patient, newest-first reads),
which serves every lookup by patient as well: those reads, the foreign-key checks when a
patient is deleted and Django's cascade. The single-column index only cost every appended row
one more index entry (the importers and every care-team change append to these tables).

Only the index is dropped (by the name Django gave it, the same on every database): altering
the field itself would also drop and re-validate the foreign key, a full scan of the table
under an exclusive lock.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("patients", "0006_search_table_and_patient_count")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "patients_activity_patient_id_6a67e5e1"',
                    reverse_sql='CREATE INDEX "patients_activity_patient_id_6a67e5e1" ON "patients_activity" ("patient_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="activity",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="activities",
                        to="patients.patient",
                    ),
                )
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "patients_ecmstatushistory_patient_id_2af87e43"',
                    reverse_sql='CREATE INDEX "patients_ecmstatushistory_patient_id_2af87e43" ON "patients_ecmstatushistory" ("patient_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="ecmstatushistory",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ecm_status_history",
                        to="patients.patient",
                    ),
                )
            ],
        ),
    ]
