-- Migration: 011_heartbeats_table
-- Description: Robot heartbeat history (fleet health dashboard, offline detection).
-- Author: orchestrator team
-- Date: 2024-11-09
--
-- Robots post a heartbeat every 30 s. Rows older than 7 days are pruned by the
-- maintenance job; robots.last_heartbeat always carries the latest one.

CREATE TABLE IF NOT EXISTS robot_heartbeats (
    id BIGSERIAL PRIMARY KEY,
    robot_id UUID NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
    status VARCHAR(50) NOT NULL,
    cpu_percent NUMERIC(5, 2),
    memory_mb INTEGER,
    active_jobs INTEGER NOT NULL DEFAULT 0,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_robot_heartbeats_robot_time
    ON robot_heartbeats (robot_id, recorded_at DESC);

-- Keep robots.status / robots.last_heartbeat current without a second round trip.
CREATE OR REPLACE FUNCTION touch_robot_last_heartbeat()
RETURNS TRIGGER AS $$
BEGIN
    UPDATE robots
    SET last_heartbeat = NEW.recorded_at,
        status = NEW.status
    WHERE id = NEW.robot_id;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trg_robot_heartbeats_touch
    AFTER INSERT ON robot_heartbeats
    FOR EACH ROW EXECUTE FUNCTION touch_robot_last_heartbeat();
