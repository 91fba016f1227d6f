-- The WXR exports a site has been given (`sites add --wxr`, `sites update --wxr`): the latest
-- one is current. Each index run that reads an export through records when, what it read (its
-- hash, item counts) and the items it could not recover, with their lines: per-document
-- failures of the export, kept until the next complete read replaces them.
CREATE TABLE wxr_exports (
    id            bigserial PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    path          text NOT NULL,
    media_path    text,
    bytes         bigint,  -- size and hash when given (unknown for sites added before 0005)
    sha256        text,
    registered_at timestamptz NOT NULL DEFAULT now(),
    read_at       timestamptz,
    -- items, documents, failure_count, not_well_formed, bytes, sha256, seconds
    read_stats    jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- [{line, wp_id, title, reason}], at most 1000 (read_stats.failure_count is exact)
    failures      jsonb NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX wxr_exports_site ON wxr_exports (site_id, id DESC);

-- WXR sites added before this migration: their export is the current one.
INSERT INTO wxr_exports (site_id, path, registered_at)
SELECT id, wxr_path, created_at FROM sites WHERE source_kind = 'wxr' AND wxr_path IS NOT NULL;
