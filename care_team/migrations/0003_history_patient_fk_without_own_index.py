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
    dependencies = [
        ("care_team", "0002_caseload_olcm_ilcm_index"),
        ("patients", "0007_history_patient_fk_without_own_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "care_team_lcmassignmenthistory_patient_id_dcf61b61"',
                    reverse_sql='CREATE INDEX "care_team_lcmassignmenthistory_patient_id_dcf61b61" ON "care_team_lcmassignmenthistory" ("patient_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="lcmassignmenthistory",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lcm_assignment_history",
                        to="patients.patient",
                    ),
                )
            ],
        ),
    ]
