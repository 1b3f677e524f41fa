-- consolidate: stub
-- 010_robot_api_keys: no complete legacy rollback; this script refuses to run.
-- Sources without a down script: src/casare_rpa/infrastructure/persistence/migrations/003_robot_api_keys.sql.
--
-- The up script creates these objects; a rollback must undo them, in this order:
--   index idx_robot_api_keys_active on robot_api_keys
--   index idx_robot_api_keys_robot on robot_api_keys
--   table robot_api_keys

DO $$ BEGIN RAISE EXCEPTION 'consolidate: no rollback for 010_robot_api_keys; write down/010_robot_api_keys_down.sql'; END $$;
