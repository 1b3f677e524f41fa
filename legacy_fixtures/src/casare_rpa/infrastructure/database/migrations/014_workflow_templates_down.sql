-- Rollback: 014_workflow_templates
-- Reverses 014_workflow_templates.sql, in reverse order (the seed rows go with the table).

DROP TRIGGER IF EXISTS update_workflow_templates_updated_at ON workflow_templates;

DROP INDEX IF EXISTS idx_workflow_templates_category;

DROP TABLE IF EXISTS workflow_templates;
