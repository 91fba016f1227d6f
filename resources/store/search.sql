-- Hybrid retrieval for one site: HNSW cosine candidates + full-text candidates, fused by
-- weighted reciprocal rank (k = 60; full-text votes count `text_weight`).
-- {space}, {vtype} and {chunk_filter} are filled from trusted values (our own space table
-- and a fixed set of filter clauses); the sizes ({pool}, {candidates}, {match_cap}, {k}) are
-- integers written in as literals, so a prepared statement's generic plan knows its LIMITs
-- (as parameters they make PostgreSQL plan a full scan: 170 ms instead of 6 ms at 100k
-- chunks). Everything else is a parameter.
WITH pool AS (
    -- The vector side's wider pool: its head is the vector ranking, and the full-text side
    -- ranks partial matches only within it, which keeps that side's cost bounded.
    SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS rank
    FROM (
        SELECT c.id, (c.embedding::{vtype}) <=> %(qvec)s::{vtype} AS distance
        FROM chunks c
        WHERE c.space_id = {space} AND c.site_id = %(site)s
          {chunk_filter}
        ORDER BY (c.embedding::{vtype}) <=> %(qvec)s::{vtype}
        LIMIT {pool}
    ) v
),
vec AS (
    SELECT id, distance, rank FROM pool WHERE rank <= {candidates}
),
lexemes AS (
    SELECT DISTINCT replace(lex, '\', '') AS lex
    FROM unnest(tsvector_to_array(to_tsvector(%(ts_config)s::regconfig, %(qtext)s))) AS lex
),
q AS (
    SELECT to_tsquery('simple', string_agg(quote_literal(lex), ' & ')) AS all_words,
           to_tsquery('simple', string_agg(quote_literal(lex), ' | ')) AS any_word
    FROM lexemes
),
every_word AS (
    -- Chunks holding every word of the query (titles, names, exact phrases). Selective for
    -- real questions; a capped sample is ranked when a query is one very common word.
    SELECT m.id, ts_rank_cd(m.tsv, q.all_words) AS r
    FROM (
        SELECT c.id, c.tsv FROM chunks c, q
        WHERE c.space_id = {space} AND c.site_id = %(site)s AND c.tsv @@ q.all_words
          {chunk_filter}
        LIMIT {match_cap}
    ) m, q
),
some_words AS (
    SELECT p.id, ts_rank_cd(c.tsv, q.any_word) AS r
    FROM pool p JOIN chunks c ON c.id = p.id, q
    WHERE c.tsv @@ q.any_word AND p.id NOT IN (SELECT id FROM every_word)
),
txt AS (
    SELECT id, row_number() OVER (ORDER BY tier, r DESC, id) AS rank
    FROM (
        SELECT id, 0 AS tier, r FROM every_word
        UNION ALL
        SELECT id, 1 AS tier, r FROM some_words
    ) t
    ORDER BY tier, r DESC, id
    LIMIT {candidates}
),
fused AS (
    SELECT coalesce(vec.id, txt.id) AS id, vec.rank AS vector_rank, txt.rank AS text_rank,
           vec.distance,
           coalesce(1.0 / (60 + vec.rank), 0)
           + %(text_weight)s * coalesce(1.0 / (60 + txt.rank), 0) AS score
    FROM vec FULL OUTER JOIN txt ON vec.id = txt.id
),
top AS (
    -- Rank before fetching texts and titles: only k rows are read, not every candidate.
    SELECT * FROM fused ORDER BY score DESC, vector_rank NULLS LAST, id LIMIT {k}
)
SELECT c.id, c.document_id, d.wp_id, d.doc_type, d.title, d.url, c.heading_path, c.text,
       f.score::float8, f.vector_rank, f.text_rank, f.distance::float8
FROM top f
JOIN chunks c ON c.id = f.id AND c.site_id = %(site)s
JOIN documents d ON d.id = c.document_id AND d.site_id = %(site)s
ORDER BY f.score DESC, f.vector_rank NULLS LAST, c.id
