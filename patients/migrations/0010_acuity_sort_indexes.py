"""The acuity sort walks an index on PostgreSQL (no-op elsewhere).

``sort_by=acuity_level`` orders by the level's rank (low, medium, high; none last in both
directions), a ``CASE`` expression: without an index on that expression every list sorted by
acuity read and sorted all eligibility rows (650-800 ms at 1,000,000 patients). These
indexes hold the same expression as ``patients.sorting.order_patients`` builds, with the
patient id as the tie-breaker, one per direction (missing levels last either way, as in
migration 0004). ``tests/patients/test_query_plans.py`` checks that the list's query uses them.
"""

from django.db import migrations, models
from django.db.models import Case, F, IntegerField, Value, When

# The rank of each level, as ``patients.choices.ACUITY_RANK`` gives it.
RANKS = (("low", 1), ("medium", 2), ("high", 3))


def _rank() -> Case:
    return Case(
        *[When(acuity_level=level, then=Value(rank)) for level, rank in RANKS],
        default=Value(None),
        output_field=IntegerField(),
    )


def _indexes() -> list[models.Index]:
    return [
        models.Index(_rank(), F("patient"), name="elig_acuity_rank"),
        models.Index(
            _rank().desc(nulls_last=True), F("patient").desc(), name="elig_acuity_rank_desc"
        ),
    ]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("patients", "EcmEligibilityInformation")
    for index in _indexes():
        schema_editor.add_index(model, index)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("patients", "EcmEligibilityInformation")
    for index in _indexes():
        schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    dependencies = [("patients", "0009_search_gram_counts")]

    operations = [migrations.RunPython(create, drop)]
