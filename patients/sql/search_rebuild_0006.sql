-- patients_search_rebuild() as migration 0006 created it: (re)build the search table and the
-- stored number of ECM patients from the tables, for anything that loads data with triggers
-- off. Loaded by migration 0006 and, when migration 0009 is reversed, to put it back.
-- Kept for those migrations only: the current definition is search_rebuild.sql.
CREATE OR REPLACE FUNCTION patients_search_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE patients_patientsearchtext;
    INSERT INTO patients_patientsearchtext (patient_id, search_text)
    SELECT e.patient_id, patients_search_text(p.first_name, p.last_name, e.member_id, e.cin)
    FROM patients_ecmeligibilityinformation e
    JOIN patients_patient p ON p.id = e.patient_id;
    INSERT INTO patients_ecmpatientcount (id, total)
    SELECT 1, count(*) FROM patients_ecmeligibilityinformation
    ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total;
END
$$;

