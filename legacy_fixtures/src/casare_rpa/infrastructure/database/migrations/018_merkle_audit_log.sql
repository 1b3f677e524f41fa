-- Migration: 018_merkle_audit_log
-- Description: Tamper-evident audit log (hash chain + periodic Merkle checkpoints).
-- Author: security team
-- Date: 2025-03-18
--
-- Each entry stores sha256(previous entry hash || canonical entry text), so
-- editing or removing a row breaks every hash after it. Every N entries the
-- compliance job stores the Merkle root of the range in audit_checkpoints and
-- ships it to the external notary; verify_audit_chain() re-checks the chain.
--
-- sha256(bytea) is core PostgreSQL (11+); pgcrypto is only needed by the
-- legacy export script (digest() on PG 10), keep it until that is retired.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- No foreign keys on purpose: the audit trail outlives the users, tenants and
-- resources it talks about, and the table must never be updated.
CREATE TABLE IF NOT EXISTS audit_log (
    id BIGSERIAL PRIMARY KEY,
    tenant_id UUID,
    actor_id UUID,
    actor_type VARCHAR(20) NOT NULL DEFAULT 'user'
        CHECK (actor_type IN ('user', 'robot', 'system', 'api_key')),
    action VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50),
    resource_id TEXT,
    payload JSONB NOT NULL DEFAULT '{}'::jsonb,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    prev_hash BYTEA,
    entry_hash BYTEA NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_audit_log_tenant_time ON audit_log (tenant_id, occurred_at DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_resource ON audit_log (resource_type, resource_id);

-- Canonical text of an entry: field order and formats must never change, or
-- every stored hash stops verifying.
CREATE OR REPLACE FUNCTION audit_log_hash(p_prev BYTEA, e audit_log)
RETURNS BYTEA AS $$
    SELECT sha256(
        COALESCE(p_prev, ''::bytea)
        || convert_to(
            concat_ws('|', e.id, e.tenant_id, e.actor_id, e.actor_type, e.action,
                      e.resource_type, e.resource_id, e.payload::text,
                      extract(epoch FROM e.occurred_at)::text),
            'UTF8'
        )
    );
$$ LANGUAGE sql STABLE;

-- Link each new entry to the previous one. The advisory lock serialises
-- writers so the chain stays linear under concurrent inserts.
CREATE OR REPLACE FUNCTION audit_log_chain()
RETURNS TRIGGER AS $$
DECLARE
    v_prev BYTEA;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_log_chain'));

    SELECT entry_hash INTO v_prev
    FROM audit_log
    ORDER BY id DESC
    LIMIT 1;

    NEW.prev_hash := v_prev;
    NEW.entry_hash := audit_log_hash(v_prev, NEW);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trg_audit_log_chain
    BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

-- Append-only.
CREATE OR REPLACE FUNCTION audit_log_immutable()
RETURNS TRIGGER AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trg_audit_log_immutable
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();

-- -----------------------------------------------------------------------------
-- Merkle checkpoints
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id SERIAL PRIMARY KEY,
    first_entry_id BIGINT NOT NULL,
    last_entry_id BIGINT NOT NULL,
    merkle_root BYTEA NOT NULL,
    notarized_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CHECK (first_entry_id <= last_entry_id)
);

-- Merkle root of the entry hashes in [p_first, p_last]; an odd node at the end
-- of a level is paired with itself.
CREATE OR REPLACE FUNCTION audit_merkle_root(p_first BIGINT, p_last BIGINT)
RETURNS BYTEA AS $$
DECLARE
    v_level BYTEA[];
    v_next BYTEA[];
    i INTEGER;
BEGIN
    SELECT array_agg(entry_hash ORDER BY id) INTO v_level
    FROM audit_log
    WHERE id BETWEEN p_first AND p_last;

    IF v_level IS NULL THEN
        RETURN NULL;
    END IF;

    WHILE cardinality(v_level) > 1 LOOP
        v_next := ARRAY[]::BYTEA[];
        i := 1;
        WHILE i <= cardinality(v_level) LOOP
            v_next := array_append(v_next, sha256(v_level[i] || COALESCE(v_level[i + 1], v_level[i])));
            i := i + 2;
        END LOOP;
        v_level := v_next;
    END LOOP;

    RETURN v_level[1];
END;
$$ LANGUAGE plpgsql STABLE;

-- Re-walk the chain; returns one row per broken link (none when intact).
CREATE OR REPLACE FUNCTION verify_audit_chain()
RETURNS TABLE (entry_id BIGINT, problem TEXT) AS $$
DECLARE
    r audit_log;
    v_prev BYTEA := NULL;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        IF r.prev_hash IS DISTINCT FROM v_prev THEN
            entry_id := r.id;
            problem := 'prev_hash does not match the previous entry';
            RETURN NEXT;
        END IF;
        IF r.entry_hash IS DISTINCT FROM audit_log_hash(r.prev_hash, r) THEN
            entry_id := r.id;
            problem := 'entry_hash does not match the entry';
            RETURN NEXT;
        END IF;
        v_prev := r.entry_hash;
    END LOOP;
END;
$$ LANGUAGE plpgsql STABLE;

-- First link of the chain.
INSERT INTO audit_log (actor_type, action, resource_type, payload)
VALUES ('system', 'audit.genesis', 'audit_log', '{"note": "start of the hash chain"}');
