-- Migration: 013_workflow_versions
-- Description: Immutable history of workflow definitions (rollback from the editor).
-- Author: designer team
-- Date: 2024-12-01
--
-- A new version is recorded automatically whenever workflows.definition changes,
-- so the editor does not have to remember to do it.

CREATE TABLE IF NOT EXISTS workflow_versions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition JSONB NOT NULL,
    change_note TEXT,
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT uq_workflow_versions_workflow_version UNIQUE (workflow_id, version)
);

CREATE INDEX IF NOT EXISTS idx_workflow_versions_created
    ON workflow_versions (workflow_id, created_at DESC);

CREATE OR REPLACE FUNCTION snapshot_workflow_version()
RETURNS TRIGGER AS $$
BEGIN
    INSERT INTO workflow_versions (workflow_id, version, definition)
    SELECT NEW.id, COALESCE(MAX(v.version), 0) + 1, NEW.definition
    FROM workflow_versions v
    WHERE v.workflow_id = NEW.id;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trg_workflows_snapshot_version
    AFTER INSERT OR UPDATE OF definition ON workflows
    FOR EACH ROW EXECUTE FUNCTION snapshot_workflow_version();
