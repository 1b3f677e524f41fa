-- Rollback: 011_heartbeats_table
-- Reverses 011_heartbeats_table.sql, in reverse order.

DROP TRIGGER IF EXISTS trg_robot_heartbeats_touch ON robot_heartbeats;
DROP FUNCTION IF EXISTS touch_robot_last_heartbeat();

DROP INDEX IF EXISTS idx_robot_heartbeats_robot_time;

DROP TABLE IF EXISTS robot_heartbeats;
