"""PostgreSQL: how many ECM patients' search text contains each 3-character term, kept exact.

A search for a 3-letter term is the broadest there is (``mar`` matches 17 % of patients), and
its exact ``total_count`` made it the slowest: counting through the trigram index visits every
match, then rechecks it in the search table. ``patients_searchgramcount`` holds, for every
3-character string of ASCII letters and digits (lower case), how many search rows contain it,
so that count is one indexed sum.

The table holds signed deltas: each statement on the search table adds one row per string it
changed (``+n`` for texts gaining it, ``-n`` for texts losing it), and the count is their sum.
Writers therefore never update a shared row and never wait for each other. A statement of at
most ``COMPACT_AT_MOST`` rows then merges the rows of the strings it touched into one each;
rows locked by a concurrent merge are skipped (``SKIP LOCKED``), never waited for, and merged
by a later one. A larger statement (an import chunk) leaves its deltas for
``patients_search_grams_compact()``, which ``import_members`` calls at the end of a run; the
sums are exact either way.

The strings of a text are taken by ``show_trgm`` (pg_trgm, in C) when the text is plain ASCII:
there, pg_trgm's trigrams without padding are exactly its 3-character substrings of letters and
digits, lower-cased. Other texts (accented names) are cut with ``substr`` one by one, so no
locale rule or trigram hash decides anything. Readers use the table only for a term whose
``UPPER()`` is 3 ASCII letters or digits and lower-cases back to ASCII (``search_gram_count``).

``patients_search_rebuild()`` now rebuilds this table too.
"""

from django.db import migrations

SEARCH_TABLE = "patients_patientsearchtext"
GRAM_TABLE = "patients_searchgramcount"
COUNT_TABLE = "patients_ecmpatientcount"
COMPACT_AT_MOST = 100

REBUILD_0006 = f"""
CREATE OR REPLACE FUNCTION patients_search_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {SEARCH_TABLE};
    INSERT INTO {SEARCH_TABLE} (patient_id, search_text)
    SELECT e.patient_id, patients_search_text(p.first_name, p.last_name, e.member_id, e.cin)
    FROM patients_ecmeligibilityinformation e
    JOIN patients_patient p ON p.id = e.patient_id;
    INSERT INTO {COUNT_TABLE} (id, total)
    SELECT 1, count(*) FROM patients_ecmeligibilityinformation
    ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total;
END
$$;
"""

CREATE = f"""
CREATE TABLE {GRAM_TABLE} (
    gram text NOT NULL,
    patients bigint NOT NULL
);
CREATE INDEX patients_searchgramcount_gram ON {GRAM_TABLE} (gram) INCLUDE (patients);

-- The distinct 3-character substrings of letters and digits of an (upper-cased) search text,
-- lower-cased. Plain SQL, so the planner inlines it into the statements below.
CREATE FUNCTION patients_search_grams(search_text text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT g FROM unnest(show_trgm(search_text)) g
    WHERE octet_length(search_text) = char_length(search_text)
        AND length(g) = 3 AND strpos(g, ' ') = 0
    UNION ALL
    SELECT DISTINCT lower(substr(search_text, i, 3))
    FROM generate_series(1, char_length(search_text) - 2) i
    WHERE octet_length(search_text) <> char_length(search_text)
        AND substr(search_text, i, 3) ~ '^[A-Z0-9]{{3}}$'
$$;

-- Merge the delta rows of these strings (by default, of every string with several) into one
-- row each; rows a concurrent merge holds are skipped, left for a later one.
CREATE FUNCTION patients_search_grams_compact(grams text[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    grams := coalesce(
        grams, ARRAY(SELECT gram FROM {GRAM_TABLE} GROUP BY gram HAVING count(*) > 1)
    );
    WITH merged AS (
        DELETE FROM {GRAM_TABLE}
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM {GRAM_TABLE} WHERE gram = ANY (grams) FOR UPDATE SKIP LOCKED
        ))
        RETURNING gram, patients
    )
    INSERT INTO {GRAM_TABLE} (gram, patients)
    SELECT gram, sum(patients) FROM merged GROUP BY gram HAVING sum(patients) <> 0;
END
$$;

CREATE FUNCTION patients_search_text_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    grams text[];
    deltas bigint[];
    written bigint;
BEGIN
    IF current_setting('patients.search_rebuild', true) = 'on' THEN
        RETURN NULL;  -- patients_search_rebuild() counts the whole table itself
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(g), array_agg(n) INTO grams, deltas FROM (
            SELECT g, count(*) AS n
            FROM new_rows, patients_search_grams(new_rows.search_text) g GROUP BY g
        ) counted;
        written := (SELECT count(*) FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(g), array_agg(-n) INTO grams, deltas FROM (
            SELECT g, count(*) AS n
            FROM old_rows, patients_search_grams(old_rows.search_text) g GROUP BY g
        ) counted;
        written := (SELECT count(*) FROM old_rows);
    ELSE
        SELECT array_agg(g), array_agg(n) INTO grams, deltas FROM (
            SELECT g, sum(d) AS n FROM (
                SELECT g, 1 AS d
                FROM new_rows, patients_search_grams(new_rows.search_text) g
                UNION ALL
                SELECT g, -1
                FROM old_rows, patients_search_grams(old_rows.search_text) g
            ) changes
            GROUP BY g HAVING sum(d) <> 0
        ) counted;
        written := (SELECT count(*) FROM new_rows);
    END IF;
    IF grams IS NOT NULL THEN
        INSERT INTO {GRAM_TABLE} (gram, patients) SELECT * FROM unnest(grams, deltas);
        IF written <= {COMPACT_AT_MOST} THEN
            PERFORM patients_search_grams_compact(grams);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION patients_search_text_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {GRAM_TABLE};
    RETURN NULL;
END
$$;

CREATE TRIGGER patients_search_text_inserted
    AFTER INSERT ON {SEARCH_TABLE} REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_written();
CREATE TRIGGER patients_search_text_updated
    AFTER UPDATE ON {SEARCH_TABLE} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_written();
CREATE TRIGGER patients_search_text_deleted
    AFTER DELETE ON {SEARCH_TABLE} REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_written();
CREATE TRIGGER patients_search_text_truncated
    AFTER TRUNCATE ON {SEARCH_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_truncated();

CREATE OR REPLACE FUNCTION patients_search_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('patients.search_rebuild', 'on', true);
    TRUNCATE {SEARCH_TABLE};
    INSERT INTO {SEARCH_TABLE} (patient_id, search_text)
    SELECT e.patient_id, patients_search_text(p.first_name, p.last_name, e.member_id, e.cin)
    FROM patients_ecmeligibilityinformation e
    JOIN patients_patient p ON p.id = e.patient_id;
    PERFORM set_config('patients.search_rebuild', 'off', true);
    TRUNCATE {GRAM_TABLE};
    INSERT INTO {GRAM_TABLE} (gram, patients)
    SELECT g, count(*) FROM {SEARCH_TABLE}, patients_search_grams(search_text) g GROUP BY g;
    INSERT INTO {COUNT_TABLE} (id, total)
    SELECT 1, count(*) FROM patients_ecmeligibilityinformation
    ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total;
END
$$;

INSERT INTO {GRAM_TABLE} (gram, patients)
SELECT g, count(*) FROM {SEARCH_TABLE}, patients_search_grams(search_text) g GROUP BY g;
ANALYZE {GRAM_TABLE};
"""

DROP = f"""
DROP TRIGGER patients_search_text_truncated ON {SEARCH_TABLE};
DROP TRIGGER patients_search_text_deleted ON {SEARCH_TABLE};
DROP TRIGGER patients_search_text_updated ON {SEARCH_TABLE};
DROP TRIGGER patients_search_text_inserted ON {SEARCH_TABLE};
DROP FUNCTION patients_search_text_truncated();
DROP FUNCTION patients_search_text_written();
DROP FUNCTION patients_search_grams_compact(text[]);
DROP FUNCTION patients_search_grams(text);
DROP TABLE {GRAM_TABLE};
{REBUILD_0006}
"""


def _run(script: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        # No parameters: the script goes as one simple query (several statements, $$ bodies).
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(script)

    return run


class Migration(migrations.Migration):
    dependencies = [("patients", "0008_eligibility_frequent_vacuum")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
