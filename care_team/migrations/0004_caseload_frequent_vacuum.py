"""PostgreSQL: the case loads are vacuumed soon after a batch of care-team changes.

The LCM list counts each LCM's patients with index-only scans of the case loads; after a bulk
assignment they would read the table itself until the next vacuum (``frequent_vacuum``).
"""

from django.db import migrations

from ecm_admin.migration_ops import frequent_vacuum


class Migration(migrations.Migration):
    dependencies = [("care_team", "0003_history_patient_fk_without_own_index")]

    operations = [frequent_vacuum("care_team_caseload")]
