-- Undo append_only.sql.
DROP INDEX IF EXISTS audit_event_patient_ids_gin;
DROP TRIGGER IF EXISTS audit_accessevent_append_only ON audit_accessevent;
DROP FUNCTION IF EXISTS audit_accessevent_append_only();
