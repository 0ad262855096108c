-- Undo search_gram_counts.sql (then search_rebuild_0006.sql puts the earlier
-- patients_search_rebuild() back).
DROP TRIGGER patients_search_text_truncated ON patients_patientsearchtext;
DROP TRIGGER patients_search_text_deleted ON patients_patientsearchtext;
DROP TRIGGER patients_search_text_updated ON patients_patientsearchtext;
DROP TRIGGER patients_search_text_inserted ON patients_patientsearchtext;
DROP FUNCTION patients_search_text_truncated();
DROP FUNCTION patients_search_text_written();
DROP FUNCTION patients_search_grams_compact(text[]);
DROP FUNCTION patients_search_grams(text);
DROP TABLE patients_searchgramcount;
