-- Write-back (issue 14): one summary per public document, recomputed only when what it
-- summarises changes, and its delivery to WordPress.
CREATE TABLE summaries (
    document_id       bigint PRIMARY KEY,
    -- Denormalised like chunks.site_id, kept equal to the document's by the composite key, so
    -- every query is scoped to one site in SQL.
    site_id           text NOT NULL,
    -- sha256 of what was summarised (title + extracted text, resources/writeback/store.py);
    -- the summary is current while the document's still hashes to it.
    content_hash      text NOT NULL,
    -- skipped: nothing to summarise (shorter than the site's minimum, or no prose at all)
    status            text NOT NULL CHECK (status IN ('summarised', 'skipped', 'failed')),
    summary           text,
    generator         text NOT NULL,  -- 'extractive' | 'openai'
    model             text NOT NULL,
    language          text,
    detail            text,  -- why it was skipped, or the error of a failure
    -- Failed attempts for this content version: past the cap the document waits for an edit
    -- or a "regenerate" instead of costing a generator call on every run.
    attempts          int NOT NULL DEFAULT 0,
    generated_at      timestamptz NOT NULL DEFAULT now(),
    -- Delivery to WordPress: the version (generated_at) WordPress confirmed, and its answer.
    delivered_version timestamptz,
    delivery_status   text CHECK (delivery_status IN ('delivered', 'skipped')),
    delivery_note     text,
    delivered_at      timestamptz,
    FOREIGN KEY (document_id, site_id) REFERENCES documents (id, site_id) ON DELETE CASCADE
);
CREATE INDEX summaries_site ON summaries (site_id);
CREATE INDEX summaries_undelivered ON summaries (site_id)
    WHERE status = 'summarised' AND delivered_version IS DISTINCT FROM generated_at;

-- The write-back sensor reads "regenerate" and "draft" requests from the webhook inbox by id;
-- a partial index keeps that read independent of the inbox's size.
CREATE INDEX inbox_writeback_requests ON inbox (id)
    WHERE event_type IN ('summary.regenerate_requested', 'draft.requested');
