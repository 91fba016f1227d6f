-- Per-document failures (issue 10). A document that fails the same content version
-- `PRESSRAG_QUARANTINE_AFTER_FAILURES` times is quarantined: no stage picks it up again until
-- its content changes (the upsert clears these columns) or `pressrag retry` releases it.
ALTER TABLE documents ADD COLUMN last_error_class text;
ALTER TABLE documents ADD COLUMN failure_count int NOT NULL DEFAULT 0;
-- The content hash the failures were counted for: a new version starts from zero.
ALTER TABLE documents ADD COLUMN failed_hash text;
ALTER TABLE documents ADD COLUMN quarantined_at timestamptz;
-- Why the source's URL was dropped (not an http(s) URL on the site's own origins): results
-- only ever carry URLs a reader can safely follow.
ALTER TABLE documents ADD COLUMN url_refused text;
CREATE INDEX documents_quarantined ON documents (site_id) WHERE quarantined_at IS NOT NULL;

UPDATE documents SET url_refused = 'not an http(s) URL', url = ''
WHERE url <> '' AND url !~* '^https?://';
