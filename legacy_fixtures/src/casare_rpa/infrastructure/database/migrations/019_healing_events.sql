-- Migration: 019_healing_events
-- Description: Self-healing telemetry (selector repairs, retries, fallbacks).
-- Author: automation team
-- Date: 2025-04-07
--
-- Robots report every healing attempt so we can see which strategies work and
-- promote healed selectors back into the workflow definition.

CREATE TABLE IF NOT EXISTS healing_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    robot_id UUID NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
    job_id UUID REFERENCES job_queue(id) ON DELETE SET NULL,
    workflow_id UUID REFERENCES workflows(id) ON DELETE SET NULL,
    node_id TEXT,
    event_type VARCHAR(30) NOT NULL
        CHECK (event_type IN ('selector_healed', 'retry_succeeded', 'fallback_used', 'healing_failed')),
    strategy VARCHAR(50) NOT NULL,
    selector_before TEXT,
    selector_after TEXT,
    confidence NUMERIC(4, 3) CHECK (confidence BETWEEN 0 AND 1),
    success BOOLEAN NOT NULL,
    details JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_healing_events_workflow_node
    ON healing_events (workflow_id, node_id, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_healing_events_robot ON healing_events (robot_id, created_at DESC);

-- Dashboard: success rate per strategy over the last 30 days.
CREATE OR REPLACE VIEW healing_strategy_stats AS
SELECT
    strategy,
    COUNT(*) AS attempts,
    COUNT(*) FILTER (WHERE success) AS successes,
    ROUND(AVG(CASE WHEN success THEN 1.0 ELSE 0.0 END), 3) AS success_rate,
    ROUND(AVG(confidence), 3) AS avg_confidence
FROM healing_events
WHERE created_at > NOW() - INTERVAL '30 days'
GROUP BY strategy;
