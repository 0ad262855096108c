-- Undo search_table.sql and search_rebuild_0006.sql.
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
DROP TABLE patients_ecmpatientcount;
DROP TABLE patients_patientsearchtext;
CREATE INDEX patient_name_trgm ON patients_patient USING gin (
    (upper((COALESCE(first_name, '') || COALESCE((' ' || COALESCE(last_name, '')), ''))))
    gin_trgm_ops
);
CREATE INDEX elig_member_id_trgm ON patients_ecmeligibilityinformation
    USING gin ((upper(member_id::text)) gin_trgm_ops);
CREATE INDEX elig_cin_trgm ON patients_ecmeligibilityinformation
    USING gin ((upper(cin::text)) gin_trgm_ops);
