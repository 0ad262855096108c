-- PostgreSQL: the Lead Care Managers' workload, kept exact by triggers.
--
-- care_team_workloadcount holds, for every (holder, role, acuity) of the counted patients
-- (member_record_status new, continuing or pending), how many patients there are, as signed
-- deltas: a statement that changes holders, statuses or acuities adds one row per group it
-- changed (+n / -n), and a count is the sum of its group's rows. Writers never update a
-- shared row, so they never wait for each other. user_id NULL counts the counted patients
-- without a holder of that role (no case load, or the role unassigned); acuity '' is unknown.
--
-- Each transaction merges, as it commits, the rows of every group that has several (a
-- deferred trigger, once per transaction): the table stays about one row per group, whatever
-- the writes, and no statement of the application runs for it. Rows a concurrent merge holds
-- are skipped, never waited for, and merged by a later one.
--
-- Correctness across tables: a holder change and an acuity/status change of the same patient
-- each read the other table's row as it is; every writer of either locks the patient row
-- first (care-team writes, patient updates, imports), so the two never interleave.

CREATE TABLE care_team_workloadcount (
    user_id bigint,
    role varchar(4) NOT NULL,
    acuity varchar(10) NOT NULL,
    patients bigint NOT NULL
);
CREATE INDEX care_team_workloadcount_group
    ON care_team_workloadcount (user_id, role, acuity) INCLUDE (patients);

CREATE FUNCTION care_team_counted(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('new_member', 'continuing_member', 'pending_member')
$$;

-- Merge the rows of every group that has several into one row each; rows a concurrent merge
-- holds are skipped, left for a later one.
CREATE FUNCTION care_team_workload_compact() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH merged AS (
        DELETE FROM care_team_workloadcount
        WHERE ctid = ANY (ARRAY(
            SELECT w.ctid FROM care_team_workloadcount w
            JOIN (
                SELECT user_id, role, acuity FROM care_team_workloadcount
                GROUP BY user_id, role, acuity HAVING count(*) > 1
            ) several ON several.user_id IS NOT DISTINCT FROM w.user_id
                AND several.role = w.role AND several.acuity = w.acuity
            FOR UPDATE OF w SKIP LOCKED
        ))
        RETURNING user_id, role, acuity, patients
    )
    INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
    SELECT user_id, role, acuity, sum(patients) FROM merged
    GROUP BY user_id, role, acuity HAVING sum(patients) <> 0;
END
$$;

-- At commit, once per transaction that added rows: merge the groups that have several.
CREATE FUNCTION care_team_workload_merge_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('care_team.workload_merged', true) = txid_current()::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('care_team.workload_merged', txid_current()::text, true);
    PERFORM care_team_workload_compact();
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER care_team_workloadcount_merged
    AFTER INSERT ON care_team_workloadcount DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION care_team_workload_merge_at_commit();

-- The case loads: holders change.
CREATE FUNCTION care_team_caseload_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added_rows bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- From no case load (NULL holders) to its holders.
        WITH deltas AS (
            SELECT h.u, h.r, e.acuity_level AS a, sum(h.n) AS n
            FROM new_rows c
            JOIN patients_ecmeligibilityinformation e ON e.patient_id = c.patient_id
            CROSS JOIN LATERAL (VALUES
                (c.olcm_id, 'olcm', 1), (NULL::bigint, 'olcm', -1),
                (c.ilcm_id, 'ilcm', 1), (NULL::bigint, 'ilcm', -1)
            ) h(u, r, n)
            WHERE care_team_counted(e.member_record_status)
            GROUP BY h.u, h.r, e.acuity_level HAVING sum(h.n) <> 0
        ), added AS (
            INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
            SELECT u, r, a, n FROM deltas RETURNING 1
        )
        SELECT count(*) INTO added_rows FROM added;
    ELSIF TG_OP = 'DELETE' THEN
        WITH deltas AS (
            SELECT h.u, h.r, e.acuity_level AS a, sum(h.n) AS n
            FROM old_rows c
            JOIN patients_ecmeligibilityinformation e ON e.patient_id = c.patient_id
            CROSS JOIN LATERAL (VALUES
                (c.olcm_id, 'olcm', -1), (NULL::bigint, 'olcm', 1),
                (c.ilcm_id, 'ilcm', -1), (NULL::bigint, 'ilcm', 1)
            ) h(u, r, n)
            WHERE care_team_counted(e.member_record_status)
            GROUP BY h.u, h.r, e.acuity_level HAVING sum(h.n) <> 0
        ), added AS (
            INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
            SELECT u, r, a, n FROM deltas RETURNING 1
        )
        SELECT count(*) INTO added_rows FROM added;
    ELSE
        WITH deltas AS (
            SELECT h.u, h.r, e.acuity_level AS a, sum(h.n) AS n
            FROM old_rows o
            JOIN new_rows c ON c.id = o.id
            JOIN patients_ecmeligibilityinformation e ON e.patient_id = c.patient_id
            CROSS JOIN LATERAL (VALUES
                (o.olcm_id, 'olcm', -1), (c.olcm_id, 'olcm', 1),
                (o.ilcm_id, 'ilcm', -1), (c.ilcm_id, 'ilcm', 1)
            ) h(u, r, n)
            WHERE care_team_counted(e.member_record_status)
                AND (o.olcm_id IS DISTINCT FROM c.olcm_id OR o.ilcm_id IS DISTINCT FROM c.ilcm_id)
            GROUP BY h.u, h.r, e.acuity_level HAVING sum(h.n) <> 0
        ), added AS (
            INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
            SELECT u, r, a, n FROM deltas RETURNING 1
        )
        SELECT count(*) INTO added_rows FROM added;
    END IF;
    RETURN NULL;
END
$$;

-- The eligibility rows: a patient's status (counted or not) or acuity changes.
CREATE FUNCTION care_team_eligibility_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added_rows bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH deltas AS (
            SELECT h.u, h.r, e.acuity_level AS a, count(*) AS n
            FROM new_rows e
            LEFT JOIN care_team_caseload c ON c.patient_id = e.patient_id
            CROSS JOIN LATERAL (VALUES (c.olcm_id, 'olcm'), (c.ilcm_id, 'ilcm')) h(u, r)
            WHERE care_team_counted(e.member_record_status)
            GROUP BY h.u, h.r, e.acuity_level
        ), added AS (
            INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
            SELECT u, r, a, n FROM deltas RETURNING 1
        )
        SELECT count(*) INTO added_rows FROM added;
    ELSIF TG_OP = 'DELETE' THEN
        WITH deltas AS (
            SELECT h.u, h.r, e.acuity_level AS a, -count(*) AS n
            FROM old_rows e
            LEFT JOIN care_team_caseload c ON c.patient_id = e.patient_id
            CROSS JOIN LATERAL (VALUES (c.olcm_id, 'olcm'), (c.ilcm_id, 'ilcm')) h(u, r)
            WHERE care_team_counted(e.member_record_status)
            GROUP BY h.u, h.r, e.acuity_level
        ), added AS (
            INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
            SELECT u, r, a, n FROM deltas RETURNING 1
        )
        SELECT count(*) INTO added_rows FROM added;
    ELSE
        WITH deltas AS (
            SELECT h.u, h.r, s.a, sum(s.n) AS n
            FROM old_rows o
            JOIN new_rows e ON e.id = o.id
            LEFT JOIN care_team_caseload c ON c.patient_id = e.patient_id
            CROSS JOIN LATERAL (VALUES
                (o.acuity_level, -1, care_team_counted(o.member_record_status)),
                (e.acuity_level, 1, care_team_counted(e.member_record_status))
            ) s(a, n, counted)
            CROSS JOIN LATERAL (VALUES (c.olcm_id, 'olcm'), (c.ilcm_id, 'ilcm')) h(u, r)
            WHERE s.counted
                AND (o.acuity_level <> e.acuity_level
                    OR o.member_record_status <> e.member_record_status)
            GROUP BY h.u, h.r, s.a HAVING sum(s.n) <> 0
        ), added AS (
            INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
            SELECT u, r, a, n FROM deltas RETURNING 1
        )
        SELECT count(*) INTO added_rows FROM added;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER care_team_caseload_inserted
    AFTER INSERT ON care_team_caseload REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_caseload_written();
CREATE TRIGGER care_team_caseload_updated
    AFTER UPDATE ON care_team_caseload REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_caseload_written();
CREATE TRIGGER care_team_caseload_deleted
    AFTER DELETE ON care_team_caseload REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_caseload_written();
CREATE TRIGGER care_team_eligibility_inserted
    AFTER INSERT ON patients_ecmeligibilityinformation REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_eligibility_written();
CREATE TRIGGER care_team_eligibility_updated
    AFTER UPDATE ON patients_ecmeligibilityinformation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_eligibility_written();
CREATE TRIGGER care_team_eligibility_deleted
    AFTER DELETE ON patients_ecmeligibilityinformation REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_eligibility_written();

-- Count everything again (after a load with triggers off, or to check the counts).
CREATE FUNCTION care_team_workload_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM care_team_workloadcount;
    INSERT INTO care_team_workloadcount (user_id, role, acuity, patients)
    SELECT h.u, h.r, e.acuity_level, count(*)
    FROM patients_ecmeligibilityinformation e
    LEFT JOIN care_team_caseload c ON c.patient_id = e.patient_id
    CROSS JOIN LATERAL (VALUES (c.olcm_id, 'olcm'), (c.ilcm_id, 'ilcm')) h(u, r)
    WHERE care_team_counted(e.member_record_status)
    GROUP BY h.u, h.r, e.acuity_level;
END
$$;

-- A TRUNCATE (Django's flush, manage.py flush) fires no row trigger: count everything again.
CREATE FUNCTION care_team_workload_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM care_team_workload_rebuild();
    RETURN NULL;
END
$$;
CREATE TRIGGER care_team_caseload_truncated
    AFTER TRUNCATE ON care_team_caseload
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_workload_truncated();
CREATE TRIGGER care_team_eligibility_truncated
    AFTER TRUNCATE ON patients_ecmeligibilityinformation
    FOR EACH STATEMENT EXECUTE FUNCTION care_team_workload_truncated();

SELECT care_team_workload_rebuild();
ANALYZE care_team_workloadcount;
