-- Hybrid retrieval for one site: HNSW cosine candidates + full-text candidates, fused by
-- weighted reciprocal rank (k = 60; full-text votes count `text_weight`).
-- {space}, {vtype} and {doc_filter} are filled from trusted values
-- (our own space table and a fixed set of filter clauses); everything else is a parameter.
WITH allowed AS (
    SELECT id FROM documents
    WHERE site_id = %(site)s AND visibility = 'public' {doc_filter}
),
vec AS (
    SELECT id, distance, row_number() OVER (ORDER BY distance) AS rank
    FROM (
        SELECT c.id, (c.embedding::{vtype}) <=> %(qvec)s::{vtype} AS distance
        FROM chunks c
        WHERE c.space_id = {space} AND c.site_id = %(site)s
          AND c.document_id IN (SELECT id FROM allowed)
        ORDER BY (c.embedding::{vtype}) <=> %(qvec)s::{vtype}
        LIMIT %(candidates)s
    ) v
),
q AS (
    -- OR of the question's lexemes: websearch_to_tsquery would AND them, and a natural
    -- question rarely has every word in one passage.
    SELECT to_tsquery('simple', string_agg(quote_literal(replace(lex, '\', '')), ' | ')) AS query
    FROM unnest(tsvector_to_array(to_tsvector(%(ts_config)s::regconfig, %(qtext)s))) AS lex
),
txt AS (
    SELECT id, row_number() OVER (ORDER BY r DESC, id) AS rank
    FROM (
        SELECT c.id, ts_rank_cd(c.tsv, q.query) AS r
        FROM chunks c, q
        WHERE c.space_id = {space} AND c.site_id = %(site)s AND c.tsv @@ q.query
          AND c.document_id IN (SELECT id FROM allowed)
        ORDER BY r DESC, c.id
        LIMIT %(candidates)s
    ) t
),
fused AS (
    SELECT coalesce(vec.id, txt.id) AS id, vec.rank AS vector_rank, txt.rank AS text_rank,
           vec.distance,
           coalesce(1.0 / (60 + vec.rank), 0)
           + %(text_weight)s * coalesce(1.0 / (60 + txt.rank), 0) AS score
    FROM vec FULL OUTER JOIN txt ON vec.id = txt.id
)
SELECT c.id, c.document_id, d.wp_id, d.doc_type, d.title, d.url, c.heading_path, c.text,
       f.score::float8, f.vector_rank, f.text_rank, f.distance::float8
FROM fused f
JOIN chunks c ON c.id = f.id AND c.site_id = %(site)s
JOIN documents d ON d.id = c.document_id AND d.site_id = %(site)s
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
LIMIT %(k)s
