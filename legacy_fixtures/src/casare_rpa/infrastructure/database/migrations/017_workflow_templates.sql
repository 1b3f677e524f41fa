-- Migration: 017_workflow_templates
-- Description: Template versions, tags and tenant-scoped templates.
-- Author: marketplace team
-- Date: 2025-03-02
--
-- Started from a copy of 014 so the marketplace branch could be deployed on
-- databases that never got 014 (the hosted beta); everything below the copied
-- block is new.

-- -----------------------------------------------------------------------------
-- Templates
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS workflow_templates (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug VARCHAR(100) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    category VARCHAR(50) NOT NULL DEFAULT 'general',
    definition JSONB NOT NULL,
    is_builtin BOOLEAN NOT NULL DEFAULT FALSE,
    author_id UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_workflow_templates_category ON workflow_templates (category);

-- Built-in templates shipped with every install.
INSERT INTO workflow_templates (slug, name, description, category, definition, is_builtin) VALUES
    ('web-scraping-basic', 'Basic web scraping', 'Open a page, extract a table, save it as CSV',
     'web', '{"nodes": [{"type": "OpenBrowser"}, {"type": "ExtractTable"}, {"type": "WriteCSV"}]}', TRUE),
    ('excel-report', 'Excel report', 'Read an Excel sheet, aggregate rows, e-mail the result',
     'office', '{"nodes": [{"type": "ReadExcel"}, {"type": "Aggregate"}, {"type": "SendEmail"}]}', TRUE),
    ('invoice-ocr', 'Invoice OCR', 'Extract invoice fields from scanned PDFs',
     'documents', '{"nodes": [{"type": "ReadPDF"}, {"type": "OCR"}, {"type": "ExtractFields"}]}', TRUE)
ON CONFLICT (slug) DO NOTHING;

-- -----------------------------------------------------------------------------
-- New in 017
-- -----------------------------------------------------------------------------
ALTER TABLE workflow_templates
    ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE,
    ADD COLUMN IF NOT EXISTS tags TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS current_version INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS downloads BIGINT NOT NULL DEFAULT 0;

CREATE INDEX IF NOT EXISTS idx_workflow_templates_tenant ON workflow_templates (tenant_id);
CREATE INDEX IF NOT EXISTS idx_workflow_templates_tags ON workflow_templates USING GIN (tags);

-- Every published revision of a template; workflow_templates.current_version
-- points at the one the gallery shows.
CREATE TABLE IF NOT EXISTS workflow_template_versions (
    template_id UUID NOT NULL REFERENCES workflow_templates(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition JSONB NOT NULL,
    release_notes TEXT,
    published_by UUID REFERENCES users(id) ON DELETE SET NULL,
    published_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (template_id, version)
);

-- Version 1 of every template that exists so far.
INSERT INTO workflow_template_versions (template_id, version, definition, release_notes)
SELECT id, 1, definition, 'Initial version'
FROM workflow_templates
ON CONFLICT (template_id, version) DO NOTHING;

-- New built-in template.
INSERT INTO workflow_templates (slug, name, description, category, definition, is_builtin, tags) VALUES
    ('email-triage', 'E-mail triage', 'Sort incoming mail into folders and open tickets for urgent ones',
     'office', '{"nodes": [{"type": "ReadInbox"}, {"type": "Classify"}, {"type": "CreateTicket"}]}', TRUE,
     ARRAY['email', 'office'])
ON CONFLICT (slug) DO NOTHING;
