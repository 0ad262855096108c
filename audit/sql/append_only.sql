-- PostgreSQL: access events can be inserted, never updated or deleted (migration
-- 0002_append_only_trigger, which says why); and the index of audit_export --patient.
CREATE OR REPLACE FUNCTION audit_accessevent_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit_accessevent is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql;

CREATE TRIGGER audit_accessevent_append_only
    BEFORE UPDATE OR DELETE ON audit_accessevent
    FOR EACH ROW EXECUTE FUNCTION audit_accessevent_append_only();

CREATE INDEX IF NOT EXISTS audit_event_patient_ids_gin
    ON audit_accessevent USING gin (patient_ids jsonb_path_ops);
