-- Rollback: 013_workflow_versions
-- Reverses 013_workflow_versions.sql, in reverse order.

DROP TRIGGER IF EXISTS trg_workflows_snapshot_version ON workflows;
DROP FUNCTION IF EXISTS snapshot_workflow_version();

DROP INDEX IF EXISTS idx_workflow_versions_created;

DROP TABLE IF EXISTS workflow_versions;
