-- Event schema for the realtime event bus (infrastructure/events)
--
-- Loaded by EventBus.ensure_schema() at start-up; not a numbered migration.
-- Listeners subscribe with LISTEN casare_events / LISTEN healing_events /
-- LISTEN job_status. NOTIFY payloads are limited to 8000 bytes, so only ids
-- and small fields are sent; listeners fetch the rest.

CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    tenant_id UUID,
    event_type VARCHAR(100) NOT NULL,
    aggregate_type VARCHAR(50) NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_events_aggregate ON events (aggregate_type, aggregate_id, id);
CREATE INDEX IF NOT EXISTS idx_events_created ON events (created_at);

-- Publish every stored event.
CREATE OR REPLACE FUNCTION notify_event()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify(
        'casare_events',
        json_build_object(
            'id', NEW.id,
            'event_type', NEW.event_type,
            'aggregate_type', NEW.aggregate_type,
            'aggregate_id', NEW.aggregate_id
        )::text
    );
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_events_notify ON events;
CREATE TRIGGER trg_events_notify
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION notify_event();

-- Healing dashboard updates live.
CREATE OR REPLACE FUNCTION notify_healing_event()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify(
        'healing_events',
        json_build_object(
            'id', NEW.id,
            'robot_id', NEW.robot_id,
            'event_type', NEW.event_type,
            'success', NEW.success
        )::text
    );
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_healing_events_notify ON healing_events;
CREATE TRIGGER trg_healing_events_notify
    AFTER INSERT ON healing_events
    FOR EACH ROW EXECUTE FUNCTION notify_healing_event();

-- Job status changes (the web console shows them without polling).
CREATE OR REPLACE FUNCTION notify_job_status_change()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify(
        'job_status',
        json_build_object(
            'id', NEW.id,
            'queue_name', NEW.queue_name,
            'old_status', OLD.status,
            'new_status', NEW.status,
            'robot_id', NEW.robot_id
        )::text
    );
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_job_queue_status_notify ON job_queue;
CREATE TRIGGER trg_job_queue_status_notify
    AFTER UPDATE OF status ON job_queue
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_job_status_change();
