-- Each chunk carries its document's number of chunks (in its space), written when the
-- document's chunks are published (resources/store/chunks.py writes them all at once).
--
-- Search scores a document by its chunk count; it found that count with one index probe per
-- candidate chunk (~200 a search, ~400 of its ~1,950 buffers at 100k chunks). From the row
-- the search reads anyway it costs nothing (docs/serving.md).
--
-- Existing chunks are counted here. The statistics triggers are off for that one UPDATE: it
-- changes no text, so they would subtract and add back every chunk's lexemes for nothing.
ALTER TABLE chunks ADD COLUMN document_chunks int;

ALTER TABLE chunks DISABLE TRIGGER chunks_text_stats_update_old;
ALTER TABLE chunks DISABLE TRIGGER chunks_text_stats_update_new;
UPDATE chunks c
SET document_chunks = sizes.chunks
FROM (SELECT document_id, space_id, count(*)::int AS chunks
      FROM chunks GROUP BY document_id, space_id) sizes
WHERE sizes.document_id = c.document_id AND sizes.space_id = c.space_id;
ALTER TABLE chunks ENABLE TRIGGER chunks_text_stats_update_old;
ALTER TABLE chunks ENABLE TRIGGER chunks_text_stats_update_new;

-- Not NOT NULL: the previous release, still running during a rollout, inserts chunks without
-- it; search probes the index for those rows (resources/store/search.sql).
