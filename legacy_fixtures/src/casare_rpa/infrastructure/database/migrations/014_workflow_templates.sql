-- Migration: 014_workflow_templates
-- Description: Workflow template gallery (built-in and user-published templates).
-- Author: designer team
-- Date: 2024-12-10

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

-- Keep updated_at current when a template is edited.
CREATE TRIGGER update_workflow_templates_updated_at
    BEFORE UPDATE ON workflow_templates
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
