-- consolidate: stub
-- 006_templates: no complete legacy rollback; this script refuses to run.
-- Sources without a down script: src/casare_rpa/infrastructure/database/migrations/017_workflow_templates.sql.
-- Legacy down scripts exist for part of the sources only (not used alone): src/casare_rpa/infrastructure/database/migrations/013_workflow_versions_down.sql, src/casare_rpa/infrastructure/database/migrations/014_workflow_templates_down.sql.
--
-- The up script creates these objects; a rollback must undo them, in this order:
--   table workflow_template_versions
--   index idx_workflow_templates_tags on workflow_templates
--   index idx_workflow_templates_tenant on workflow_templates
--   trigger update_workflow_templates_updated_at on workflow_templates
--   index idx_workflow_templates_category on workflow_templates
--   table workflow_templates
--   trigger trg_workflows_snapshot_version on workflows
--   function snapshot_workflow_version()
--   index idx_workflow_versions_created on workflow_versions
--   table workflow_versions
-- The up script also changes data (INSERT/UPDATE/DELETE); a schema rollback cannot restore it.

DO $$ BEGIN RAISE EXCEPTION 'consolidate: no rollback for 006_templates; write down/006_templates_down.sql'; END $$;
