"""PostgreSQL: one narrow search table and an exact count of ECM patients, kept by triggers.

``patients_patientsearchtext`` holds one row per ECM patient (one per eligibility row):
``UPPER("First Last" \\x1f member_id \\x1f CIN)``, with a single trigram index. Search is
``search_text LIKE '%' || UPPER(term) || '%'``: the same comparison as ``icontains`` on each
field, without an ``UPPER()`` per row when the matches are rechecked.
A search reads that table alone (74 MB at 1,000,000 patients) instead of a union of three
trigram lookups over the patient and eligibility tables and a join back to eligibility. The
separator (unit separator, U+001F) keeps the three fields apart: a term that does not contain
it matches the text exactly when it matches one of the fields (search falls back to the
field-by-field query for a term that does contain it).

``patients_ecmpatientcount`` holds one row: the number of eligibility rows, that is of ECM
patients, maintained in the same transaction as the rows themselves, so the unfiltered list
reads an exact ``total_count`` in O(1) instead of counting a million index entries.

Both are maintained by statement-level triggers with transition tables (one statement per
INSERT, UPDATE, DELETE, COPY or TRUNCATE, however many rows it touches), so every writer —
the ORM, the importers, the Django admin, raw SQL, COPY — keeps them right. The trigram
indexes of migration 0003 are replaced by the one index here. Nothing of this exists on
SQLite, where search and count read the tables themselves. The SQL is in ``patients/sql``:
``search_table.sql`` and the first version of ``patients_search_rebuild()``,
``search_rebuild_0006.sql``.
"""

from django.db import migrations, models

from ecm_admin.migration_ops import postgresql_script

SEARCH_TABLE = "patients_patientsearchtext"


class Migration(migrations.Migration):
    dependencies = [("patients", "0005_status_acuity_index")]

    operations = [
        migrations.CreateModel(
            name="PatientSearchText",
            fields=[
                ("patient_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("search_text", models.TextField()),
            ],
            options={"db_table": SEARCH_TABLE, "managed": False},
        ),
        # patients_search_rebuild() first: search_table.sql calls it to fill the table.
        postgresql_script(
            "patients",
            ["search_rebuild_0006.sql", "search_table.sql"],
            "search_table_drop.sql",
        ),
    ]
