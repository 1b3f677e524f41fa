-- Persistence layer migration 003: robot API keys
--
-- Robots authenticate to the orchestrator API with a long-lived key. Only the
-- SHA-256 of the key is stored (hashed by the API before it gets here); the
-- prefix is kept in clear so operators can tell keys apart in the console.
-- (Written on the Windows build agent, hence the CRLF line endings.)

CREATE TABLE IF NOT EXISTS robot_api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    robot_id UUID NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL,
    key_prefix VARCHAR(12) NOT NULL,
    key_hash CHAR(64) NOT NULL UNIQUE,
    scopes TEXT[] NOT NULL DEFAULT ARRAY['jobs:claim', 'heartbeat:write'],
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_robot_api_keys_robot ON robot_api_keys (robot_id);

-- Authentication looks up active keys only.
CREATE INDEX IF NOT EXISTS idx_robot_api_keys_active
    ON robot_api_keys (key_prefix)
    WHERE revoked_at IS NULL;

COMMENT ON COLUMN robot_api_keys.key_hash IS 'hex SHA-256 of the key; the key itself is never stored';
