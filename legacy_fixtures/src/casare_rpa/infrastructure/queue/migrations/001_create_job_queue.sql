-- =============================================================================
-- Job queue (PostgreSQL-backed, replaces the Redis queue)
--
-- Workers claim jobs with SELECT ... FOR UPDATE SKIP LOCKED so that many
-- robots can poll the same table without blocking each other.
-- The pgqueuer tables at the bottom are the schema pgqueuer 0.x installs;
-- we keep them so the Python workers can use pgqueuer's listener.
-- =============================================================================

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Enum created conditionally: older installs created it by hand.
DO $$
BEGIN
    CREATE TYPE job_status AS ENUM ('pending', 'claimed', 'running', 'completed', 'failed', 'cancelled');
EXCEPTION
    WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS job_queue (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    queue_name TEXT NOT NULL DEFAULT 'default',
    workflow_id UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    robot_id UUID REFERENCES robots(id) ON DELETE SET NULL,
    status job_status NOT NULL DEFAULT 'pending',
    priority INTEGER NOT NULL DEFAULT 0,
    payload JSONB NOT NULL DEFAULT '{}'::jsonb,
    result JSONB,
    error_message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    visible_after TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    claimed_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Claim path: pending jobs of a queue, highest priority first, FIFO within.
CREATE INDEX IF NOT EXISTS idx_job_queue_claim
    ON job_queue(queue_name, priority DESC, created_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_job_queue_robot ON job_queue(robot_id) WHERE robot_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_job_queue_workflow ON job_queue(workflow_id);

CREATE TRIGGER update_job_queue_updated_at
    BEFORE UPDATE ON job_queue
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- -----------------------------------------------------------------------------
-- claim_next_job: atomically hand the next pending job of a queue to a robot.
-- Returns no row when the queue is empty.
-- -----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION claim_next_job(p_queue_name TEXT, p_robot_id UUID)
RETURNS SETOF job_queue AS $$
DECLARE
    v_job_id UUID;
BEGIN
    SELECT id INTO v_job_id
    FROM job_queue
    WHERE queue_name = p_queue_name
      AND status = 'pending'
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

-- Mark a claimed job finished (success or failure).
CREATE OR REPLACE FUNCTION complete_job(p_job_id UUID, p_result JSONB, p_error TEXT DEFAULT NULL)
RETURNS VOID AS $$
BEGIN
    UPDATE job_queue
    SET status = CASE WHEN p_error IS NULL THEN 'completed'::job_status ELSE 'failed'::job_status END,
        result = p_result,
        error_message = p_error,
        completed_at = NOW()
    WHERE id = p_job_id;
END;
$$ LANGUAGE plpgsql;

-- -----------------------------------------------------------------------------
-- pgqueuer schema
-- -----------------------------------------------------------------------------
CREATE TYPE pgqueuer_status AS ENUM ('queued', 'picked');

CREATE TABLE pgqueuer (
    id SERIAL PRIMARY KEY,
    priority INT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    status pgqueuer_status NOT NULL,
    entrypoint TEXT NOT NULL,
    payload BYTEA
);
CREATE INDEX pgqueuer_priority_id_id1_idx ON pgqueuer (priority ASC, id DESC)
    INCLUDE (id) WHERE status = 'queued';
CREATE INDEX pgqueuer_updated_id_id1_idx ON pgqueuer (updated ASC, id DESC)
    INCLUDE (id) WHERE status = 'picked';

CREATE TABLE pgqueuer_statistics (
    id SERIAL PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL DEFAULT DATE_TRUNC('sec', NOW() AT TIME ZONE 'UTC'),
    count BIGINT NOT NULL,
    priority INT NOT NULL,
    time_in_queue INTERVAL NOT NULL,
    status TEXT NOT NULL,
    entrypoint TEXT NOT NULL
);
CREATE UNIQUE INDEX pgqueuer_statistics_unique_count ON pgqueuer_statistics (
    priority,
    DATE_TRUNC('sec', created AT TIME ZONE 'UTC'),
    DATE_TRUNC('sec', time_in_queue),
    status,
    entrypoint
);

-- Wake listeners on every change to the queue table.
CREATE FUNCTION fn_pgqueuer_changed() RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify(
        'ch_pgqueuer',
        json_build_object(
            'channel', 'ch_pgqueuer',
            'operation', lower(TG_OP),
            'sent_at', NOW(),
            'table', TG_TABLE_NAME
        )::text
    );
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tg_pgqueuer_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgqueuer
    EXECUTE FUNCTION fn_pgqueuer_changed();
