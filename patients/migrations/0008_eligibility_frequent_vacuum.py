"""PostgreSQL: the eligibility rows are vacuumed soon after an import changes a batch of them.

The list's counts by status and acuity level are index-only scans of the eligibility table;
after an import they would read the table itself until the next vacuum (``frequent_vacuum``).
"""

from django.db import migrations

from ecm_admin.migration_ops import frequent_vacuum


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_history_patient_fk_without_own_index")]

    operations = [frequent_vacuum("patients_ecmeligibilityinformation")]
