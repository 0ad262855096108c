"""PostgreSQL: how many ECM patients' search text contains each 3-character term, kept exact.

A search for a 3-letter term is the broadest there is (``mar`` matches 17 % of patients), and
its exact ``total_count`` made it the slowest: counting through the trigram index visits every
match, then rechecks it in the search table. ``patients_searchgramcount`` holds, for every
3-character string of ASCII letters and digits (lower case), how many search rows contain it,
so that count is one indexed sum.

The table holds signed deltas: each statement on the search table adds one row per string it
changed (``+n`` for texts gaining it, ``-n`` for texts losing it), and the count is their sum.
Writers therefore never update a shared row and never wait for each other. A statement of at
most 100 rows then merges the rows of the strings it touched into one each;
rows locked by a concurrent merge are skipped (``SKIP LOCKED``), never waited for, and merged
by a later one. A larger statement (an import chunk) leaves its deltas for
``patients_search_grams_compact()``, which ``import_members`` calls at the end of a run; the
sums are exact either way.

The strings of a text are taken by ``show_trgm`` (pg_trgm, in C) when the text is plain ASCII:
there, pg_trgm's trigrams without padding are exactly its 3-character substrings of letters and
digits, lower-cased. Other texts (accented names) are cut with ``substr`` one by one, so no
locale rule or trigram hash decides anything. Readers use the table only for a term whose
``UPPER()`` is 3 ASCII letters or digits and lower-cases back to ASCII (``patients.search.search_gram_count``).

``patients_search_rebuild()`` now rebuilds this table too. The SQL is in ``patients/sql``:
``search_gram_counts.sql`` and the current ``patients_search_rebuild()``, ``search_rebuild.sql``.
"""

from django.db import migrations

from ecm_admin.migration_ops import postgresql_script


class Migration(migrations.Migration):
    dependencies = [("patients", "0008_eligibility_frequent_vacuum")]

    operations = [
        postgresql_script(
            "patients",
            ["search_gram_counts.sql", "search_rebuild.sql"],
            # Reversed: migration 0006's patients_search_rebuild() again.
            ["search_gram_counts_drop.sql", "search_rebuild_0006.sql"],
        ),
    ]
