-- Migration: 015_schedule_enhancements
-- Description: Schedule run history, catch-up policy and run time limits.
-- Author: scheduler team
-- Date: 2025-01-14
--
-- Depends on the schedules table (deploy/supabase/migrations/002).

ALTER TABLE schedules
    ADD COLUMN IF NOT EXISTS catch_up BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS max_runtime INTERVAL,
    ADD COLUMN IF NOT EXISTS paused_until TIMESTAMPTZ;

-- One row per fire of a schedule, whether or not a job could be enqueued.
CREATE TABLE IF NOT EXISTS schedule_runs (
    id BIGSERIAL PRIMARY KEY,
    schedule_id UUID NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    job_id UUID REFERENCES job_queue(id) ON DELETE SET NULL,
    scheduled_for TIMESTAMPTZ NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    outcome VARCHAR(20) NOT NULL DEFAULT 'enqueued'
        CHECK (outcome IN ('enqueued', 'skipped', 'missed', 'failed')),
    detail TEXT,
    UNIQUE (schedule_id, scheduled_for)
);

CREATE INDEX IF NOT EXISTS idx_schedule_runs_fired ON schedule_runs (fired_at DESC);

-- What the scheduler polls: enabled, not paused, due.
CREATE OR REPLACE VIEW due_schedules AS
SELECT s.*
FROM schedules s
WHERE s.enabled
  AND (s.paused_until IS NULL OR s.paused_until <= NOW())
  AND s.next_run_at <= NOW();
