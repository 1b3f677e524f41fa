-- Migration: 012_dlq_table
-- Description: Dead-letter queue for jobs that exhausted their retries.
-- Author: orchestrator team
-- Date: 2024-11-20
--
-- No foreign key to job_queue on purpose: the job row is deleted when it is
-- moved here, the DLQ entry must survive it. original_job_id is kept for
-- correlation with logs only.

CREATE TABLE IF NOT EXISTS dead_letter_queue (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    original_job_id UUID NOT NULL,
    queue_name VARCHAR(100) NOT NULL,
    workflow_id UUID,
    payload JSONB NOT NULL DEFAULT '{}'::jsonb,
    error_message TEXT,
    error_details JSONB,
    attempts INTEGER NOT NULL DEFAULT 0,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    reprocessed_at TIMESTAMPTZ,
    reprocess_job_id UUID
);

CREATE INDEX IF NOT EXISTS idx_dlq_queue_failed ON dead_letter_queue (queue_name, failed_at DESC);
CREATE INDEX IF NOT EXISTS idx_dlq_pending_reprocess
    ON dead_letter_queue (failed_at)
    WHERE reprocessed_at IS NULL;

-- Move a job to the DLQ in one transaction (called by the worker after the last retry).
CREATE OR REPLACE FUNCTION move_job_to_dlq(p_job_id UUID, p_error TEXT, p_details JSONB DEFAULT NULL)
RETURNS UUID AS $$
DECLARE
    v_dlq_id UUID;
BEGIN
    INSERT INTO dead_letter_queue (original_job_id, queue_name, workflow_id, payload,
                                   error_message, error_details, attempts)
    SELECT id, queue_name, workflow_id, payload, p_error, p_details, attempts
    FROM job_queue
    WHERE id = p_job_id
    RETURNING id INTO v_dlq_id;

    DELETE FROM job_queue WHERE id = p_job_id;
    RETURN v_dlq_id;
END;
$$ LANGUAGE plpgsql;
