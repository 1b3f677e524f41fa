-- Supabase deployment - 002: schedules, plus fixes to the job queue and robots
--
-- * schedules: cron-triggered workflow runs (the scheduler service enqueues jobs)
-- * job_queue: remember which schedule enqueued a job
-- * claim_next_job: honour visible_after (retry back-off) and max_attempts, and
--   never give a robot more jobs than it can run at once (bug #231: robots
--   were handed a second job while still busy)
-- * robots: per-robot concurrency limit used by claim_next_job

-- -----------------------------------------------------------------------------
-- Schedules
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS schedules (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    robot_id UUID REFERENCES robots(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    cron_expression TEXT NOT NULL,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    payload JSONB NOT NULL DEFAULT '{}'::jsonb,
    next_run_at TIMESTAMPTZ,
    last_run_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_schedules_next_run
    ON schedules(next_run_at)
    WHERE enabled;
CREATE INDEX IF NOT EXISTS idx_schedules_workflow ON schedules(workflow_id);

CREATE TRIGGER update_schedules_updated_at
    BEFORE UPDATE ON schedules
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- -----------------------------------------------------------------------------
-- Fixes
-- -----------------------------------------------------------------------------
ALTER TABLE job_queue
    ADD COLUMN IF NOT EXISTS schedule_id UUID REFERENCES schedules(id) ON DELETE SET NULL;

ALTER TABLE robots
    ADD COLUMN IF NOT EXISTS max_concurrent_jobs INTEGER NOT NULL DEFAULT 1;

-- Replaces the version from queue/migrations/001_create_job_queue.sql.
CREATE OR REPLACE FUNCTION claim_next_job(p_queue_name TEXT, p_robot_id UUID)
RETURNS SETOF job_queue AS $$
DECLARE
    v_job_id UUID;
    v_running INTEGER;
    v_limit INTEGER;
BEGIN
    -- Respect the robot's concurrency limit (bug #231).
    SELECT COUNT(*) INTO v_running
    FROM job_queue
    WHERE robot_id = p_robot_id
      AND status IN ('claimed', 'running');

    SELECT max_concurrent_jobs INTO v_limit FROM robots WHERE id = p_robot_id;

    IF v_running >= COALESCE(v_limit, 1) THEN
        RETURN;
    END IF;

    SELECT id INTO v_job_id
    FROM job_queue
    WHERE queue_name = p_queue_name
      AND status = 'pending'
      AND visible_after <= NOW()
      AND attempts < max_attempts
    ORDER BY priority DESC, created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED;

    IF v_job_id IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    UPDATE job_queue
    SET status = 'claimed',
        robot_id = p_robot_id,
        claimed_at = NOW(),
        attempts = attempts + 1
    WHERE id = v_job_id
    RETURNING *;
END;
$$ LANGUAGE plpgsql;
