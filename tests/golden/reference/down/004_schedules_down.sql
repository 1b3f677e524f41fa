-- consolidate: stub
-- 004_schedules: no complete legacy rollback; this script refuses to run.
-- Sources without a down script: deploy/supabase/migrations/002_job_queue_and_robots_fix.sql, src/casare_rpa/infrastructure/database/migrations/015_schedule_enhancements.sql.
--
-- The up script creates these objects; a rollback must undo them, in this order:
--   view due_schedules
--   index idx_schedule_runs_fired on schedule_runs
--   sequence schedule_runs_id_seq
--   table schedule_runs
--   function claim_next_job(text, uuid)
--   trigger update_schedules_updated_at on schedules
--   index idx_schedules_workflow on schedules
--   index idx_schedules_next_run on schedules
--   table schedules
-- The up script changes these existing objects; a rollback must restore them:
--   table robots (alter)
--   table job_queue (alter)

DO $$ BEGIN RAISE EXCEPTION 'consolidate: no rollback for 004_schedules; write down/004_schedules_down.sql'; END $$;
