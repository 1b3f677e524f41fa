-- Persistence layer migration 004: robot logs
--
-- High-volume table (~2M rows/day on the big installs): partitioned by month
-- on logged_at so retention is a DROP of old partitions instead of a DELETE.
-- The primary key has to include the partition column.
--
-- New monthly partitions are created ahead of time by the maintenance job
-- through create_robot_logs_partition(); anything outside the known months
-- lands in the default partition.

CREATE TABLE IF NOT EXISTS robot_logs (
    id BIGSERIAL,
    robot_id UUID NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
    job_id UUID,
    level VARCHAR(10) NOT NULL DEFAULT 'INFO'
        CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    message TEXT NOT NULL,
    context JSONB,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, logged_at)
) PARTITION BY RANGE (logged_at);

CREATE TABLE IF NOT EXISTS robot_logs_2025_01 PARTITION OF robot_logs
    FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00');
CREATE TABLE IF NOT EXISTS robot_logs_2025_02 PARTITION OF robot_logs
    FOR VALUES FROM ('2025-02-01 00:00:00+00') TO ('2025-03-01 00:00:00+00');
CREATE TABLE IF NOT EXISTS robot_logs_default PARTITION OF robot_logs DEFAULT;

-- Created on the parent, so every partition gets them.
CREATE INDEX IF NOT EXISTS idx_robot_logs_robot_time ON robot_logs (robot_id, logged_at DESC);
CREATE INDEX IF NOT EXISTS idx_robot_logs_job ON robot_logs (job_id) WHERE job_id IS NOT NULL;

-- Creates the partition for the month containing p_month (no-op if it exists).
CREATE OR REPLACE FUNCTION create_robot_logs_partition(p_month DATE)
RETURNS TEXT AS $$
DECLARE
    v_start DATE := date_trunc('month', p_month)::date;
    v_end DATE := (date_trunc('month', p_month) + INTERVAL '1 month')::date;
    v_name TEXT := format('robot_logs_%s', to_char(v_start, 'YYYY_MM'));
BEGIN
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF robot_logs FOR VALUES FROM (%L) TO (%L)',
        v_name, v_start, v_end
    );
    RETURN v_name;
END;
$$ LANGUAGE plpgsql;
