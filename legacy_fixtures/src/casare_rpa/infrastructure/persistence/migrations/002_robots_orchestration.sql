-- Persistence layer migration 002: robot orchestration
--
-- Assignments pin workflows to specific robots (or let the dispatcher pick any
-- robot carrying the required tags). Depends on 001 (workflows) and on the
-- robots table from deploy/migrations.

CREATE TABLE IF NOT EXISTS robot_assignments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    robot_id UUID REFERENCES robots(id) ON DELETE CASCADE,
    required_tags TEXT[] NOT NULL DEFAULT '{}',
    priority INTEGER NOT NULL DEFAULT 0,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT robot_assignments_target_chk
        CHECK (robot_id IS NOT NULL OR cardinality(required_tags) > 0)
);

CREATE UNIQUE INDEX IF NOT EXISTS uq_robot_assignments_workflow_robot
    ON robot_assignments(workflow_id, robot_id);
CREATE INDEX IF NOT EXISTS idx_robot_assignments_robot
    ON robot_assignments(robot_id);

-- Fleet overview used by the dashboard (only columns every install has).
CREATE OR REPLACE VIEW robot_fleet_status AS
SELECT
    r.id,
    r.name,
    r.hostname,
    r.status,
    COUNT(a.id) AS assignment_count,
    r.updated_at
FROM robots r
LEFT JOIN robot_assignments a ON a.robot_id = r.id
GROUP BY r.id, r.name, r.hostname, r.status, r.updated_at;
