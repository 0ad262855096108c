-- patients_search_rebuild(), current version: (re)build the search table, the per-term counts
-- and the stored number of ECM patients from the tables, for anything that loads data with
-- triggers off. The search table's own triggers skip counting while it refills; the terms are
-- counted once at the end. Loaded by migration 0009 (after search_gram_counts.sql).
--
-- The one definition of the current version. To change it: rename this file
-- search_rebuild_0009.sql (migration 0009, and the new migration's reverse, load it from
-- there) and write the new version here, loaded by the new migration.
CREATE OR REPLACE FUNCTION patients_search_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('patients.search_rebuild', 'on', true);
    TRUNCATE patients_patientsearchtext;
    INSERT INTO patients_patientsearchtext (patient_id, search_text)
    SELECT e.patient_id, patients_search_text(p.first_name, p.last_name, e.member_id, e.cin)
    FROM patients_ecmeligibilityinformation e
    JOIN patients_patient p ON p.id = e.patient_id;
    PERFORM set_config('patients.search_rebuild', 'off', true);
    TRUNCATE patients_searchgramcount;
    INSERT INTO patients_searchgramcount (gram, patients)
    SELECT g, count(*) FROM patients_patientsearchtext, patients_search_grams(search_text) g GROUP BY g;
    INSERT INTO patients_ecmpatientcount (id, total)
    SELECT 1, count(*) FROM patients_ecmeligibilityinformation
    ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total;
END
$$;
