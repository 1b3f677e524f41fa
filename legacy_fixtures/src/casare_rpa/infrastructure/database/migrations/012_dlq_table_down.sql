-- Rollback: 012_dlq_table
-- Reverses 012_dlq_table.sql, in reverse order.

DROP FUNCTION IF EXISTS move_job_to_dlq(UUID, TEXT, JSONB);

DROP INDEX IF EXISTS idx_dlq_pending_reprocess;
DROP INDEX IF EXISTS idx_dlq_queue_failed;

DROP TABLE IF EXISTS dead_letter_queue;
