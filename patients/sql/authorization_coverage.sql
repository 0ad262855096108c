-- PostgreSQL: what the authorization worklist reads, kept exact by triggers
-- (patients.worklist has the rule; this is the same rule, stored).
--
-- An authorization is approved when upper(status) = 'APPROVED'. A missing start date means
-- "from the beginning", a missing expiration date "open-ended" (-infinity, infinity).
--
-- patients_authorizationcoverage: one row per ECM patient (one with an eligibility row) that
-- has an approved authorization.
--   latest_end  the greatest expiration date of its approved authorizations ('infinity' when
--               one of them is open-ended): what "expiring within N days" compares;
--   coverage    the days its approved authorizations cover, as disjoint date ranges in order
--               (overlapping and adjacent authorizations merged into one run).
--
-- patients_authorizationdaycount: the same, counted by day, as signed deltas (like the
-- workload counts: writers add rows, each transaction merges the rows of every (measure, day)
-- that has several as it commits). A count is the sum of its rows:
--   measure 'latest_end'  how many ECM patients' latest_end is that day (finite days only);
--   measure 'covered'     +1 on the first day of each run of coverage, -1 on the day after its
--                         last: the sum over the days up to D is how many ECM patients are
--                         covered on D (runs are disjoint: a patient counts once).
-- So the worklist's filters alone are counted without visiting the patients: "expiring within
-- N days" is the sum of 'latest_end' from today to today + N, "missing an active
-- authorization" the ECM patients less the sum of 'covered' up to today.
--
-- Concurrency: a statement that changes a patient's approved authorizations locks the patient
-- row (FOR NO KEY UPDATE, which foreign-key checks do not wait for) before it reads them, so two
-- writers of one patient recompute one after the other, the second from what the first
-- committed.

CREATE TABLE patients_authorizationcoverage (
    patient_id bigint PRIMARY KEY,
    latest_end date NOT NULL,
    coverage daterange[] NOT NULL
);
CREATE INDEX patients_authcoverage_latest_end
    ON patients_authorizationcoverage (latest_end, patient_id);

CREATE TABLE patients_authorizationdaycount (
    measure varchar(10) NOT NULL CHECK (measure IN ('latest_end', 'covered')),
    day date NOT NULL,
    patients bigint NOT NULL
);
CREATE INDEX patients_authdaycount_day
    ON patients_authorizationdaycount (measure, day) INCLUDE (patients);

-- What the rows of the coverage table should be, from the tables: one row per ECM patient
-- with an approved authorization. Read with a condition on patient_id, which the planner
-- applies to the authorizations themselves (every step is per patient).
CREATE VIEW patients_authorizationcoverage_source AS
WITH approved AS (
    SELECT a.patient_id,
        coalesce(a.start_date, '-infinity'::date) AS first_day,
        coalesce(a.expiration_date, 'infinity'::date) AS last_day
    FROM patients_ecmauthorization a
    WHERE upper(a.status::text) = 'APPROVED'
        AND EXISTS (
            SELECT 1 FROM patients_ecmeligibilityinformation e WHERE e.patient_id = a.patient_id
        )
), marked AS (
    -- An authorization starts a new run unless it begins at most a day after the end of one
    -- that starts before it.
    SELECT patient_id, first_day, last_day,
        CASE WHEN first_day - 1 <= max(last_day) OVER (
            PARTITION BY patient_id ORDER BY first_day, last_day
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) THEN 0 ELSE 1 END AS starts_run
    FROM approved
), numbered AS (
    SELECT patient_id, first_day, last_day,
        sum(starts_run) OVER (PARTITION BY patient_id ORDER BY first_day, last_day) AS run
    FROM marked
), runs AS (
    SELECT patient_id, min(first_day) AS first_day, max(last_day) AS last_day
    FROM numbered
    GROUP BY patient_id, run
)
SELECT patient_id, max(last_day) AS latest_end,
    array_agg(daterange(first_day, last_day, '[]') ORDER BY first_day) AS coverage
FROM runs
GROUP BY patient_id;

-- Bring the stored rows of these patients up to date, and add the deltas of what changed.
CREATE FUNCTION patients_authorization_refresh(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM patients_patient WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
    -- A statement of its own: it sees what a writer it waited for above committed.
    WITH wanted AS (
        SELECT patient_id, latest_end, coverage
        FROM patients_authorizationcoverage_source WHERE patient_id = ANY (ids)
    ), stored AS (
        SELECT patient_id, latest_end, coverage
        FROM patients_authorizationcoverage WHERE patient_id = ANY (ids)
    ), changed AS (
        SELECT coalesce(w.patient_id, s.patient_id) AS patient_id,
            s.latest_end AS old_end, s.coverage AS old_coverage,
            w.latest_end AS new_end, w.coverage AS new_coverage
        FROM wanted w FULL JOIN stored s ON s.patient_id = w.patient_id
        WHERE (w.latest_end, w.coverage) IS DISTINCT FROM (s.latest_end, s.coverage)
    ), removed AS (
        DELETE FROM patients_authorizationcoverage c USING changed ch
        WHERE c.patient_id = ch.patient_id AND ch.new_end IS NULL
    ), written AS (
        INSERT INTO patients_authorizationcoverage (patient_id, latest_end, coverage)
        SELECT patient_id, new_end, new_coverage FROM changed WHERE new_end IS NOT NULL
        ON CONFLICT (patient_id) DO UPDATE
        SET latest_end = EXCLUDED.latest_end, coverage = EXCLUDED.coverage
    )
    INSERT INTO patients_authorizationdaycount (measure, day, patients)
    SELECT d.measure, d.day, sum(d.n)
    FROM changed ch
    CROSS JOIN LATERAL (
        SELECT 'latest_end', ch.new_end, 1 WHERE ch.new_end IS NOT NULL
        UNION ALL SELECT 'latest_end', ch.old_end, -1 WHERE ch.old_end IS NOT NULL
        UNION ALL SELECT 'covered', lower(r), 1 FROM unnest(ch.new_coverage) r
        UNION ALL SELECT 'covered', upper(r), -1 FROM unnest(ch.new_coverage) r
        UNION ALL SELECT 'covered', lower(r), -1 FROM unnest(ch.old_coverage) r
        UNION ALL SELECT 'covered', upper(r), 1 FROM unnest(ch.old_coverage) r
    ) d(measure, day, n)
    WHERE d.day <> 'infinity'::date
    GROUP BY d.measure, d.day
    HAVING sum(d.n) <> 0;
END
$$;

-- Merge the rows of every (measure, day) that has several into one; rows a concurrent merge
-- holds are skipped, left for a later one.
CREATE FUNCTION patients_authorization_daycount_compact() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH merged AS (
        DELETE FROM patients_authorizationdaycount
        WHERE ctid = ANY (ARRAY(
            SELECT d.ctid FROM patients_authorizationdaycount d
            JOIN (
                SELECT measure, day FROM patients_authorizationdaycount
                GROUP BY measure, day HAVING count(*) > 1
            ) several ON several.measure = d.measure AND several.day = d.day
            FOR UPDATE OF d SKIP LOCKED
        ))
        RETURNING measure, day, patients
    )
    INSERT INTO patients_authorizationdaycount (measure, day, patients)
    SELECT measure, day, sum(patients) FROM merged
    GROUP BY measure, day HAVING sum(patients) <> 0;
END
$$;

-- At commit, once per transaction that added rows: merge the days that have several.
CREATE FUNCTION patients_authorization_daycount_merge_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('patients.authorization_daycount_merged', true)
            = txid_current()::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('patients.authorization_daycount_merged', txid_current()::text, true);
    PERFORM patients_authorization_daycount_compact();
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER patients_authorizationdaycount_merged
    AFTER INSERT ON patients_authorizationdaycount DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION patients_authorization_daycount_merge_at_commit();

-- The authorizations: only rows that are (or were) approved change anything.
CREATE FUNCTION patients_authorization_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM patients_authorization_refresh(ARRAY(
            SELECT DISTINCT patient_id FROM new_rows WHERE upper(status::text) = 'APPROVED'
        ));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM patients_authorization_refresh(ARRAY(
            SELECT DISTINCT patient_id FROM old_rows WHERE upper(status::text) = 'APPROVED'
        ));
    ELSE
        PERFORM patients_authorization_refresh(ARRAY(
            SELECT DISTINCT p.patient_id
            FROM old_rows o
            JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.patient_id), (n.patient_id)) p(patient_id)
            WHERE (upper(o.status::text) = 'APPROVED' OR upper(n.status::text) = 'APPROVED')
                AND (o.patient_id, upper(o.status::text), o.start_date, o.expiration_date)
                    IS DISTINCT FROM
                    (n.patient_id, upper(n.status::text), n.start_date, n.expiration_date)
        ));
    END IF;
    RETURN NULL;
END
$$;

-- The eligibility rows: a patient becomes, or stops being, an ECM patient.
CREATE FUNCTION patients_authorization_eligibility_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Only new members who already have an approved authorization (rarely any).
        PERFORM patients_authorization_refresh(ARRAY(
            SELECT DISTINCT n.patient_id FROM new_rows n
            WHERE EXISTS (
                SELECT 1 FROM patients_ecmauthorization a
                WHERE upper(a.status::text) = 'APPROVED' AND a.patient_id = n.patient_id
            )
        ));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM patients_authorization_refresh(ARRAY(
            SELECT DISTINCT o.patient_id FROM old_rows o
            JOIN patients_authorizationcoverage c ON c.patient_id = o.patient_id
        ));
    ELSE
        PERFORM patients_authorization_refresh(ARRAY(
            SELECT DISTINCT p.patient_id
            FROM old_rows o
            JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.patient_id), (n.patient_id)) p(patient_id)
            WHERE n.patient_id <> o.patient_id
        ));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER patients_authorization_inserted
    AFTER INSERT ON patients_ecmauthorization REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_written();
CREATE TRIGGER patients_authorization_updated
    AFTER UPDATE ON patients_ecmauthorization
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_written();
CREATE TRIGGER patients_authorization_deleted
    AFTER DELETE ON patients_ecmauthorization REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_written();
CREATE TRIGGER patients_authorization_eligibility_inserted
    AFTER INSERT ON patients_ecmeligibilityinformation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_eligibility_written();
CREATE TRIGGER patients_authorization_eligibility_updated
    AFTER UPDATE ON patients_ecmeligibilityinformation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_eligibility_written();
CREATE TRIGGER patients_authorization_eligibility_deleted
    AFTER DELETE ON patients_ecmeligibilityinformation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_eligibility_written();

-- Everything again from the tables (after a load with triggers off, or to check).
CREATE FUNCTION patients_authorization_coverage_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM patients_authorizationcoverage;
    DELETE FROM patients_authorizationdaycount;
    INSERT INTO patients_authorizationcoverage (patient_id, latest_end, coverage)
    SELECT patient_id, latest_end, coverage FROM patients_authorizationcoverage_source;
    INSERT INTO patients_authorizationdaycount (measure, day, patients)
    SELECT d.measure, d.day, sum(d.n)
    FROM patients_authorizationcoverage c
    CROSS JOIN LATERAL (
        SELECT 'latest_end', c.latest_end, 1
        UNION ALL SELECT 'covered', lower(r), 1 FROM unnest(c.coverage) r
        UNION ALL SELECT 'covered', upper(r), -1 FROM unnest(c.coverage) r
    ) d(measure, day, n)
    WHERE d.day <> 'infinity'::date
    GROUP BY d.measure, d.day
    HAVING sum(d.n) <> 0;
END
$$;

-- A TRUNCATE (Django's flush) fires no row trigger: everything again.
CREATE FUNCTION patients_authorization_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM patients_authorization_coverage_rebuild();
    RETURN NULL;
END
$$;
CREATE TRIGGER patients_authorization_truncated
    AFTER TRUNCATE ON patients_ecmauthorization
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_truncated();
CREATE TRIGGER patients_authorization_eligibility_truncated
    AFTER TRUNCATE ON patients_ecmeligibilityinformation
    FOR EACH STATEMENT EXECUTE FUNCTION patients_authorization_truncated();

-- Filled by the migration once the tables' settings are made (a table with pending trigger
-- events, as the counts have after the fill until the commit, cannot be altered).
