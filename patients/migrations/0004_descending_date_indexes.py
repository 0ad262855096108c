"""Descending date sorts on PostgreSQL (no-op elsewhere).

Missing dates sort last in both directions (``DESC NULLS LAST``), which a backward walk of an
ascending index cannot give on PostgreSQL; these indexes can. SQLite does not accept
``NULLS LAST`` in an index, and needs none: its NULLs already come last in a descending sort.
"""

from django.db import migrations, models
from django.db.models import F

INDEXES = [
    ("Patient", "patient_sort_dob_desc", "date_of_birth", "id"),
    ("EcmEligibilityInformation", "elig_eff_date_desc", "ecm_benefit_auth_eff_date", "patient"),
    ("EcmEligibilityInformation", "elig_end_date_desc", "ecm_benefit_auth_end_date", "patient"),
]


def _index(name, column, tie_breaker):
    return models.Index(
        F(column).desc(nulls_last=True), F(tie_breaker).desc(), name=name
    )


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, name, column, tie_breaker in INDEXES:
        schema_editor.add_index(
            apps.get_model("patients", model_name), _index(name, column, tie_breaker)
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, name, column, tie_breaker in INDEXES:
        schema_editor.remove_index(
            apps.get_model("patients", model_name), _index(name, column, tie_breaker)
        )


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_trigram_search_indexes")]

    operations = [migrations.RunPython(create, drop)]
