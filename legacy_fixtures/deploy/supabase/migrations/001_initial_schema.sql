-- Supabase deployment - initial schema
-- Run with: supabase db push
--
-- The hosted (Supabase) installs started from a trimmed copy of the on-prem
-- schema; only what the cloud control plane needs on top lives here.

-- Supabase projects have pgcrypto enabled already, but self-hosted ones do not.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Same definition as deploy/migrations/versions/001_initial_schema.sql.
CREATE TABLE IF NOT EXISTS users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT,
    password_hash TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    last_login_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Refresh-token sessions for the web console
CREATE TABLE IF NOT EXISTS user_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_token_hash TEXT NOT NULL UNIQUE,
    user_agent TEXT,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_user_sessions_user ON user_sessions(user_id);

-- Instance-wide settings (key/value)
CREATE TABLE IF NOT EXISTS app_settings (
    key TEXT PRIMARY KEY,
    value JSONB NOT NULL,
    description TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Defaults; operators change them from the console, so never overwrite.
INSERT INTO app_settings (key, value, description) VALUES
    ('job.default_max_attempts', '3'::jsonb, 'Retries before a job goes to the dead-letter queue'),
    ('robot.heartbeat_timeout_seconds', '90'::jsonb, 'Robot is marked offline after this long without a heartbeat'),
    ('logs.retention_days', '30'::jsonb, 'Robot log partitions older than this are dropped')
ON CONFLICT (key) DO NOTHING;
