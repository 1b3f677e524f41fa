-- consolidate: stub
-- 011_robot_logs: no complete legacy rollback; this script refuses to run.
-- Sources without a down script: src/casare_rpa/infrastructure/persistence/migrations/004_robot_logs.sql.
--
-- The up script creates these objects; a rollback must undo them, in this order:
--   function create_robot_logs_partition(date)
--   index idx_robot_logs_job on robot_logs
--   index idx_robot_logs_robot_time on robot_logs
--   table robot_logs_default
--   table robot_logs_2025_02
--   table robot_logs_2025_01
--   sequence robot_logs_id_seq
--   table robot_logs

DO $$ BEGIN RAISE EXCEPTION 'consolidate: no rollback for 011_robot_logs; write down/011_robot_logs_down.sql'; END $$;
