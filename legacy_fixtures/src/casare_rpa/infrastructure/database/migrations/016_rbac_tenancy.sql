-- Migration: 016_rbac_tenancy
-- Description: Multi-tenancy and role-based access control.
-- Author: platform team
-- Date: 2025-02-03
--
-- Every tenant-owned row carries tenant_id. The API sets the tenant of the
-- request with:  SET LOCAL app.current_tenant = '<uuid>';
-- and row-level security filters workflows and robots accordingly. Rows with a
-- NULL tenant_id predate multi-tenancy and stay visible to every tenant until
-- the backfill job (scripts/backfill_tenants.py) has run.

-- -----------------------------------------------------------------------------
-- Helper (same as the one in the initial schema, re-declared so this migration
-- can be applied on databases created before it existed)
-- -----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION update_updated_at_column()
    RETURNS TRIGGER  -- generic: works for any table with an updated_at column
AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$
LANGUAGE plpgsql;

-- -----------------------------------------------------------------------------
-- Tenants
-- -----------------------------------------------------------------------------
DO $$
BEGIN
    CREATE TYPE tenant_plan AS ENUM ('free', 'team', 'enterprise');
EXCEPTION
    WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS tenants (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug VARCHAR(63) NOT NULL UNIQUE,
    name TEXT NOT NULL,
    plan tenant_plan NOT NULL DEFAULT 'free',
    settings JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TRIGGER update_tenants_updated_at
    BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- -----------------------------------------------------------------------------
-- RBAC
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS roles (
    id SERIAL PRIMARY KEY,
    name VARCHAR(50) NOT NULL UNIQUE,
    description TEXT,
    is_system BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE IF NOT EXISTS permissions (
    id SERIAL PRIMARY KEY,
    code VARCHAR(100) NOT NULL UNIQUE,
    description TEXT
);

CREATE TABLE IF NOT EXISTS role_permissions (
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission_id INTEGER NOT NULL REFERENCES permissions(id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, permission_id)
);

CREATE TABLE IF NOT EXISTS user_roles (
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE RESTRICT,
    granted_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (user_id, tenant_id, role_id)
);

CREATE INDEX IF NOT EXISTS idx_user_roles_tenant ON user_roles(tenant_id);

-- Default roles and permissions (the API refuses to start without them).
INSERT INTO roles (name, description, is_system) VALUES
    ('admin', 'Full access to the tenant', TRUE),
    ('developer', 'Create and edit workflows, run them on any robot', TRUE),
    ('operator', 'Run workflows and manage schedules', TRUE),
    ('viewer', 'Read-only access', TRUE)
ON CONFLICT (name) DO NOTHING;

INSERT INTO permissions (code, description) VALUES
    ('workflow.read', 'View workflows'),
    ('workflow.write', 'Create, edit and delete workflows'),
    ('workflow.run', 'Start workflow runs'),
    ('robot.read', 'View robots'),
    ('robot.manage', 'Register, update and remove robots'),
    ('schedule.manage', 'Create and edit schedules'),
    ('tenant.admin', 'Manage users and roles of the tenant')
ON CONFLICT (code) DO NOTHING;

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id
FROM roles r
JOIN permissions p ON
    r.name = 'admin'
    OR (r.name = 'developer' AND p.code IN ('workflow.read', 'workflow.write', 'workflow.run', 'robot.read'))
    OR (r.name = 'operator' AND p.code IN ('workflow.read', 'workflow.run', 'robot.read', 'schedule.manage'))
    OR (r.name = 'viewer' AND p.code IN ('workflow.read', 'robot.read'))
ON CONFLICT DO NOTHING;

-- -----------------------------------------------------------------------------
-- Tenant ownership + row-level security
-- -----------------------------------------------------------------------------
ALTER TABLE workflows ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE;
ALTER TABLE robots ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE;

CREATE INDEX IF NOT EXISTS idx_workflows_tenant ON workflows(tenant_id);
CREATE INDEX IF NOT EXISTS idx_robots_tenant ON robots(tenant_id);

-- NULL when no tenant was set for the session (missing_ok = true).
CREATE OR REPLACE FUNCTION current_tenant_id()
RETURNS UUID AS $$
    SELECT NULLIF(current_setting('app.current_tenant', true), '')::uuid;
$$ LANGUAGE sql STABLE;

ALTER TABLE workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE robots ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_workflows ON workflows
    USING (tenant_id IS NULL OR tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);

CREATE POLICY tenant_isolation_robots ON robots
    USING (tenant_id IS NULL OR tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
