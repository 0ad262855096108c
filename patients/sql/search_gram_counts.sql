-- PostgreSQL: how many search texts contain each 3-character term, kept exact by triggers on
-- the search table (migration 0009_search_gram_counts, which says how). Loaded before
-- search_rebuild.sql, which then counts the terms too.
CREATE TABLE patients_searchgramcount (
    gram text NOT NULL,
    patients bigint NOT NULL
);
CREATE INDEX patients_searchgramcount_gram ON patients_searchgramcount (gram) INCLUDE (patients);

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
        AND substr(search_text, i, 3) ~ '^[A-Z0-9]{3}$'
$$;

-- Merge the delta rows of these strings (by default, of every string with several) into one
-- row each; rows a concurrent merge holds are skipped, left for a later one.
CREATE FUNCTION patients_search_grams_compact(grams text[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    grams := coalesce(
        grams, ARRAY(SELECT gram FROM patients_searchgramcount GROUP BY gram HAVING count(*) > 1)
    );
    WITH merged AS (
        DELETE FROM patients_searchgramcount
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM patients_searchgramcount WHERE gram = ANY (grams) FOR UPDATE SKIP LOCKED
        ))
        RETURNING gram, patients
    )
    INSERT INTO patients_searchgramcount (gram, patients)
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
        INSERT INTO patients_searchgramcount (gram, patients) SELECT * FROM unnest(grams, deltas);
        IF written <= 100 THEN
            PERFORM patients_search_grams_compact(grams);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION patients_search_text_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE patients_searchgramcount;
    RETURN NULL;
END
$$;

CREATE TRIGGER patients_search_text_inserted
    AFTER INSERT ON patients_patientsearchtext REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_written();
CREATE TRIGGER patients_search_text_updated
    AFTER UPDATE ON patients_patientsearchtext REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_written();
CREATE TRIGGER patients_search_text_deleted
    AFTER DELETE ON patients_patientsearchtext REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_written();
CREATE TRIGGER patients_search_text_truncated
    AFTER TRUNCATE ON patients_patientsearchtext
    FOR EACH STATEMENT EXECUTE FUNCTION patients_search_text_truncated();

INSERT INTO patients_searchgramcount (gram, patients)
SELECT g, count(*) FROM patients_patientsearchtext, patients_search_grams(search_text) g GROUP BY g;
ANALYZE patients_searchgramcount;
