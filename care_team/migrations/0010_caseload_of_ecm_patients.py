"""A care team belongs to an ECM patient.

The write core only ever gives a care team to a patient with ECM eligibility, and every route
hides the others; but an eligibility record deleted under a care team left one behind,
counted in its LCMs' assignment counts and nowhere else. From here:

- such care teams are ended: each role's holder is recorded in the assignment history as
  removed (so "who was the LCM on date X" still answers for the time they held it), then the
  case load is deleted;
- on PostgreSQL a foreign key from the case load's patient to the eligibility record's
  patient refuses a care team without eligibility and an eligibility record deleted under a
  care team. It is checked at the end of the transaction, so deleting a patient (which
  deletes both, in any order) passes. With it, a caseload is counted from the (holder,
  patient) indexes alone (``care_team.selectors.caseload_page``). Elsewhere the application
  refuses both (the write core; the admin protects an eligibility record with a care team).
"""

from django.db import migrations
from django.utils import timezone

CONSTRAINT = "care_team_caseload_ecm_patient"
REASON = "Care team ended: the patient has no ECM eligibility"


def end_care_teams_without_eligibility(apps, schema_editor):
    CaseLoad = apps.get_model("care_team", "CaseLoad")
    History = apps.get_model("care_team", "LcmAssignmentHistory")
    orphans = CaseLoad.objects.filter(patient__ecm_eligibility_information__isnull=True)
    now = timezone.now()
    history = [
        History(
            patient_id=case_load.patient_id,
            role=role,
            previous_user_id=holder,
            new_user_id=None,
            acted_by_name="System",
            reason=REASON,
            created_at=now,
        )
        for case_load in orphans.only("patient_id", "provider_id", "olcm_id", "ilcm_id")
        for role, holder in (
            ("provider", case_load.provider_id),
            ("olcm", case_load.olcm_id),
            ("ilcm", case_load.ilcm_id),
        )
        if holder is not None
    ]
    History.objects.bulk_create(history, batch_size=1000)
    orphans.delete()


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE care_team_caseload ADD CONSTRAINT {CONSTRAINT}"
        " FOREIGN KEY (patient_id) REFERENCES patients_ecmeligibilityinformation (patient_id)"
        " DEFERRABLE INITIALLY DEFERRED NOT VALID"
    )
    schema_editor.execute(f"ALTER TABLE care_team_caseload VALIDATE CONSTRAINT {CONSTRAINT}")


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE care_team_caseload DROP CONSTRAINT {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [
        ("care_team", "0009_caseload_holder_patient_indexes"),
        ("patients", "0012_authorization_coverage"),
    ]

    operations = [
        migrations.RunPython(end_care_teams_without_eligibility, migrations.RunPython.noop),
        migrations.RunPython(add_constraint, drop_constraint, elidable=False),
    ]
