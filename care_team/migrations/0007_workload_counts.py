"""PostgreSQL: every Lead Care Manager's workload (counted patients by role and acuity), kept
exact by triggers on the case loads and the eligibility rows (care_team/sql)."""

from django.db import migrations

from ecm_admin.migration_ops import postgresql_script


class Migration(migrations.Migration):
    dependencies = [
        ("care_team", "0006_lead_care_manager_profile"),
        ("patients", "0010_acuity_sort_indexes"),
    ]

    operations = [
        postgresql_script("care_team", "workload_counts.sql", "workload_counts_drop.sql"),
    ]
