"""The assignment history loses its ``case_load`` column: an entry's case load is its
patient's (one per patient), so ``patient_id`` already says it.

Every care-team change appends to this table. The column's index took an entry at a random
place for each appended row, and its foreign key one more check at commit: together close to
half the time of a bulk assignment. History entries now also outlive a deleted case load (they
go with their patient only).

Reversing adds the column back (nullable, with its foreign key and index) and fills it from
the case loads.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "care_team_lcmassignmenthistory"


def _restored_field(apps) -> models.ForeignKey:
    field = models.ForeignKey(
        apps.get_model("care_team", "CaseLoad"),
        on_delete=django.db.models.deletion.CASCADE,
        null=True,
        related_name="+",
    )
    field.set_attributes_from_name("case_load")
    return field


def drop_column(apps, schema_editor):
    history = apps.get_model("care_team", "LcmAssignmentHistory")
    schema_editor.remove_field(history, history._meta.get_field("case_load"))


def restore_column(apps, schema_editor):
    history = apps.get_model("care_team", "LcmAssignmentHistory")
    schema_editor.add_field(history, _restored_field(apps))
    schema_editor.execute(
        f"UPDATE {TABLE} SET case_load_id = (SELECT c.id FROM care_team_caseload c"
        f" WHERE c.patient_id = {TABLE}.patient_id)"
    )


class Migration(migrations.Migration):
    dependencies = [("care_team", "0004_caseload_frequent_vacuum")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_column, restore_column)],
            state_operations=[
                migrations.RemoveField(model_name="lcmassignmenthistory", name="case_load")
            ],
        )
    ]
