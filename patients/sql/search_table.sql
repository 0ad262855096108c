-- PostgreSQL: the search table and the stored number of ECM patients, kept by triggers
-- (migration 0006_search_table_and_patient_count, which says why). patients_search_rebuild(),
-- which fills both, is loaded first (search_rebuild_0006.sql; the current version is
-- search_rebuild.sql).
CREATE TABLE patients_patientsearchtext (
    patient_id bigint PRIMARY KEY,
    search_text text NOT NULL
);
CREATE TABLE patients_ecmpatientcount (
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

CREATE FUNCTION patients_eligibility_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO patients_patientsearchtext (patient_id, search_text)
    SELECT n.patient_id, patients_search_text(p.first_name, p.last_name, n.member_id, n.cin)
    FROM new_rows n JOIN patients_patient p ON p.id = n.patient_id
    ON CONFLICT (patient_id) DO UPDATE SET search_text = EXCLUDED.search_text;
    UPDATE patients_ecmpatientcount SET total = total + (SELECT count(*) FROM new_rows) WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION patients_eligibility_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An eligibility row moved to another patient: the old patient is no longer an ECM one.
    DELETE FROM patients_patientsearchtext s
    USING old_rows o JOIN new_rows n ON n.id = o.id
    WHERE s.patient_id = o.patient_id AND n.patient_id <> o.patient_id
        AND NOT EXISTS (
            SELECT 1 FROM patients_ecmeligibilityinformation e WHERE e.patient_id = o.patient_id
        );
    INSERT INTO patients_patientsearchtext (patient_id, search_text)
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
    DELETE FROM patients_patientsearchtext s USING old_rows o WHERE s.patient_id = o.patient_id;
    UPDATE patients_ecmpatientcount SET total = total - (SELECT count(*) FROM old_rows) WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION patients_eligibility_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE patients_patientsearchtext;
    UPDATE patients_ecmpatientcount SET total = 0 WHERE id = 1;
    RETURN NULL;
END
$$;

-- A patient row written after its eligibility row (the foreign key is deferred), or renamed.
CREATE FUNCTION patients_patient_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO patients_patientsearchtext (patient_id, search_text)
        SELECT n.id, patients_search_text(n.first_name, n.last_name, e.member_id, e.cin)
        FROM new_rows n JOIN patients_ecmeligibilityinformation e ON e.patient_id = n.id
        ON CONFLICT (patient_id) DO UPDATE SET search_text = EXCLUDED.search_text;
    ELSE
        UPDATE patients_patientsearchtext s
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
CREATE INDEX patient_search_trgm ON patients_patientsearchtext USING gin (search_text gin_trgm_ops);
ANALYZE patients_patientsearchtext;

DROP INDEX IF EXISTS patient_name_trgm;
DROP INDEX IF EXISTS elig_member_id_trgm;
DROP INDEX IF EXISTS elig_cin_trgm;
