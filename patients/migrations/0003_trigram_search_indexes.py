"""Trigram indexes for substring search on PostgreSQL (no-op on other databases).

Search is ``UPPER(<expr>::text) LIKE UPPER('%term%')`` (Django's ``icontains``) on the full
name "First Last", member_id and CIN. A GIN ``gin_trgm_ops`` index on the same ``UPPER()``
expression lets PostgreSQL answer it without reading every row. The index expressions are
compiled by Django from the same expressions the queries use, so they match exactly.
Creating the pg_trgm extension needs a role allowed to (the database owner on PostgreSQL 13+).
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Concat, Upper

INDEXES = [
    (
        "Patient",
        "patient_name_trgm",
        Upper(Concat("first_name", Value(" "), "last_name")),
    ),
    ("EcmEligibilityInformation", "elig_member_id_trgm", Upper("member_id")),
    ("EcmEligibilityInformation", "elig_cin_trgm", Upper("cin")),
]


def _index(name, expression):
    return GinIndex(OpClass(expression, name="gin_trgm_ops"), name=name)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for model_name, name, expression in INDEXES:
        schema_editor.add_index(apps.get_model("patients", model_name), _index(name, expression))


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, name, expression in INDEXES:
        schema_editor.remove_index(
            apps.get_model("patients", model_name), _index(name, expression)
        )


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_sort_and_filter_indexes")]

    operations = [migrations.RunPython(create, drop)]
