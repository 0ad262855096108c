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
SQLite, where search and count read the tables themselves.
"""

from django.db import migrations, models

SEARCH_TABLE = "patients_patientsearchtext"
COUNT_TABLE = "patients_ecmpatientcount"

CREATE = f"""
CREATE TABLE {SEARCH_TABLE} (
    patient_id bigint PRIMARY KEY,
    search_text text NOT NULL
);
CREATE TABLE {COUNT_TABLE} (
    id smallint PRIMARY KEY CHECK (id = 1),
    total bigint NOT NULL CHECK (total >= 0)
);

CREATE FUNCTION patients_search_text(first_name text, last_name text, member_id text, cin text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT upper(
        coalesce(first_name, '') || ' ' || coalesce(last_name, '')
        || chr(31) || coalesce(member_id, '') || chr(31) || coalesce(cin, '')
    )
$$;

-- (Re)build both from the tables: used here, and by anything that loads data with triggers off.
CREATE FUNCTION patients_search_rebuild() RETURNS void LANGUAGE plpgsql AS $$
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

CREATE FUNCTION patients_eligibility_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {SEARCH_TABLE} (patient_id, search_text)
    SELECT n.patient_id, patients_search_text(p.first_name, p.last_name, n.member_id, n.cin)
    FROM new_rows n JOIN patients_patient p ON p.id = n.patient_id
    ON CONFLICT (patient_id) DO UPDATE SET search_text = EXCLUDED.search_text;
    UPDATE {COUNT_TABLE} SET total = total + (SELECT count(*) FROM new_rows) WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION patients_eligibility_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An eligibility row moved to another patient: the old patient is no longer an ECM one.
    DELETE FROM {SEARCH_TABLE} s
    USING old_rows o JOIN new_rows n ON n.id = o.id
    WHERE s.patient_id = o.patient_id AND n.patient_id <> o.patient_id
        AND NOT EXISTS (
            SELECT 1 FROM patients_ecmeligibilityinformation e WHERE e.patient_id = o.patient_id
        );
    INSERT INTO {SEARCH_TABLE} (patient_id, search_text)
    SELECT n.patient_id, patients_search_text(p.first_name, p.last_name, n.member_id, n.cin)
    FROM new_rows n
    JOIN old_rows o ON o.id = n.id
    JOIN patients_patient p ON p.id = n.patient_id
    WHERE (n.patient_id, n.member_id, n.cin) IS DISTINCT FROM (o.patient_id, o.member_id, o.cin)
    ON CONFLICT (patient_id) DO UPDATE SET search_text = EXCLUDED.search_text;
    RETURN NULL;
END
$$;

CREATE FUNCTION patients_eligibility_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {SEARCH_TABLE} s USING old_rows o WHERE s.patient_id = o.patient_id;
    UPDATE {COUNT_TABLE} SET total = total - (SELECT count(*) FROM old_rows) WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION patients_eligibility_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {SEARCH_TABLE};
    UPDATE {COUNT_TABLE} SET total = 0 WHERE id = 1;
    RETURN NULL;
END
$$;

-- A patient row written after its eligibility row (the foreign key is deferred), or renamed.
CREATE FUNCTION patients_patient_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {SEARCH_TABLE} (patient_id, search_text)
        SELECT n.id, patients_search_text(n.first_name, n.last_name, e.member_id, e.cin)
        FROM new_rows n JOIN patients_ecmeligibilityinformation e ON e.patient_id = n.id
        ON CONFLICT (patient_id) DO UPDATE SET search_text = EXCLUDED.search_text;
    ELSE
        UPDATE {SEARCH_TABLE} s
        SET search_text = patients_search_text(n.first_name, n.last_name, e.member_id, e.cin)
        FROM new_rows n
        JOIN old_rows o ON o.id = n.id
        JOIN patients_ecmeligibilityinformation e ON e.patient_id = n.id
        WHERE s.patient_id = n.id
            AND (n.first_name, n.last_name) IS DISTINCT FROM (o.first_name, o.last_name);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER patients_eligibility_inserted
    AFTER INSERT ON patients_ecmeligibilityinformation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_eligibility_inserted();
CREATE TRIGGER patients_eligibility_updated
    AFTER UPDATE ON patients_ecmeligibilityinformation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_eligibility_updated();
CREATE TRIGGER patients_eligibility_deleted
    AFTER DELETE ON patients_ecmeligibilityinformation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_eligibility_deleted();
CREATE TRIGGER patients_eligibility_truncated
    AFTER TRUNCATE ON patients_ecmeligibilityinformation
    FOR EACH STATEMENT EXECUTE FUNCTION patients_eligibility_truncated();
CREATE TRIGGER patients_patient_inserted
    AFTER INSERT ON patients_patient REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_patient_written();
CREATE TRIGGER patients_patient_updated
    AFTER UPDATE ON patients_patient REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_patient_written();

SELECT patients_search_rebuild();
CREATE INDEX patient_search_trgm ON {SEARCH_TABLE} USING gin (search_text gin_trgm_ops);
ANALYZE {SEARCH_TABLE};

DROP INDEX IF EXISTS patient_name_trgm;
DROP INDEX IF EXISTS elig_member_id_trgm;
DROP INDEX IF EXISTS elig_cin_trgm;
"""

DROP = f"""
DROP TRIGGER patients_patient_updated ON patients_patient;
DROP TRIGGER patients_patient_inserted ON patients_patient;
DROP TRIGGER patients_eligibility_truncated ON patients_ecmeligibilityinformation;
DROP TRIGGER patients_eligibility_deleted ON patients_ecmeligibilityinformation;
DROP TRIGGER patients_eligibility_updated ON patients_ecmeligibilityinformation;
DROP TRIGGER patients_eligibility_inserted ON patients_ecmeligibilityinformation;
DROP FUNCTION patients_patient_written();
DROP FUNCTION patients_eligibility_truncated();
DROP FUNCTION patients_eligibility_deleted();
DROP FUNCTION patients_eligibility_updated();
DROP FUNCTION patients_eligibility_inserted();
DROP FUNCTION patients_search_rebuild();
DROP FUNCTION patients_search_text(text, text, text, text);
DROP TABLE {COUNT_TABLE};
DROP TABLE {SEARCH_TABLE};
CREATE INDEX patient_name_trgm ON patients_patient USING gin (
    (upper((COALESCE(first_name, '') || COALESCE((' ' || COALESCE(last_name, '')), ''))))
    gin_trgm_ops
);
CREATE INDEX elig_member_id_trgm ON patients_ecmeligibilityinformation
    USING gin ((upper(member_id::text)) gin_trgm_ops);
CREATE INDEX elig_cin_trgm ON patients_ecmeligibilityinformation
    USING gin ((upper(cin::text)) gin_trgm_ops);
"""


def _run(schema_editor, script: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    # No parameters: the script goes as one simple query (several statements, $$ bodies).
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(script)


def create(apps, schema_editor):
    _run(schema_editor, CREATE)


def drop(apps, schema_editor):
    _run(schema_editor, DROP)


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
        migrations.RunPython(create, drop),
    ]
