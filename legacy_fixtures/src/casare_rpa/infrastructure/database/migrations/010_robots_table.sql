-- Migration: 010_robots_table
-- Description: Robot registry for the distributed orchestrator (fleet management).
-- Author: orchestrator team
-- Date: 2024-11-02
--
-- Robots register themselves on start-up (see RobotRegistrationService) and are
-- then tracked through heartbeats (011). Capabilities are free-form JSON sent by
-- the agent: {"browser": true, "desktop": true, "ocr": false, ...}.

CREATE TABLE IF NOT EXISTS robots (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    hostname VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL DEFAULT 'offline',
    capabilities JSONB NOT NULL DEFAULT '{}'::jsonb,
    ip_address INET,
    last_seen TIMESTAMPTZ,
    metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Dispatcher looks robots up by status every poll cycle.
CREATE INDEX IF NOT EXISTS ix_robots_status ON robots (status);

-- Registration is an upsert keyed on the hostname.
CREATE INDEX IF NOT EXISTS ix_robots_hostname ON robots (hostname);

COMMENT ON TABLE robots IS 'Robot registry: one row per registered execution agent';
