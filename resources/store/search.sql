-- Evidence for ranking one site's documents against a question (resources/store/search.py
-- turns it into scores; docs/search.md explains why). One row per candidate chunk:
--   * candidates: the vector side's nearest chunks (HNSW, cosine), the chunks of documents
--     whose title is the question, chunks holding every word of the question, and chunks
--     holding its rarest word (each capped);
--   * for each: its cosine similarity to the question, its BM25 score against the question
--     (statistics of this site: table `lexicon`, `text_stats`), and its document's number of
--     chunks;
--   * per question (the same in every row): the mean and spread of its similarity to a fixed
--     random sample of the site's chunks, and the mean and spread BM25 would have for a chunk
--     drawn at random (terms independent), which put both sides on one scale.
-- {space}, {vtype} and {chunk_filter} are filled from trusted values (our own space table
-- and a fixed set of filter clauses); the sizes ({sample}, {pool}, {match_cap}, {rare_cap})
-- are integers written in as literals, so a prepared statement's generic plan knows its
-- LIMITs (as parameters PostgreSQL plans a full scan: 170 ms instead of 6 ms at 100k chunks).
-- Everything else is a parameter.
WITH sample AS (
    SELECT avg(s.similarity) AS mean, stddev_pop(s.similarity) AS spread
    FROM (
        SELECT 1 - ((c.embedding::{vtype}) <=> %(qvec)s::{vtype}) AS similarity
        FROM chunks c
        WHERE c.site_id = %(site)s AND c.space_id = {space}
        ORDER BY c.sample_key
        LIMIT {sample}
    ) s
),
pool AS (
    SELECT c.id
    FROM chunks c
    WHERE c.space_id = {space} AND c.site_id = %(site)s
      {chunk_filter}
    ORDER BY (c.embedding::{vtype}) <=> %(qvec)s::{vtype}
    LIMIT {pool}
),
stats AS (
    SELECT greatest(t.chunks, 1)::float8 AS n,
           greatest(t.total_length, 1)::float8 / greatest(t.chunks, 1) AS mean_length
    FROM text_stats t
    WHERE t.site_id = %(site)s AND t.space_id = {space}
),
terms AS (
    -- The question's lexemes, each with its BM25 inverse document frequency in this site and
    -- the share p of the site's chunks that hold it.
    SELECT q.lexeme,
           to_tsquery('simple', quote_literal(replace(q.lexeme, '\', ''))) AS query,
           coalesce(l.df, 0) AS df,
           ln(1 + (stats.n - coalesce(l.df, 0) + 0.5) / (coalesce(l.df, 0) + 0.5)) AS idf,
           coalesce(l.df, 0) / stats.n AS p
    FROM (
        SELECT DISTINCT lexeme
        FROM unnest(tsvector_to_array(to_tsvector(%(ts_config)s::regconfig, %(qtext)s))) lexeme
    ) q
    CROSS JOIN stats
    LEFT JOIN lexicon l
        ON l.site_id = %(site)s AND l.space_id = {space} AND l.lexeme = q.lexeme
),
titled AS (
    -- Documents whose title is the question (known-item search: "What Now?").
    SELECT d.id
    FROM documents d
    WHERE d.site_id = %(site)s AND d.visibility = 'public'
      AND btrim(regexp_replace(lower(d.title), '[^[:alnum:]]+', ' ', 'g'))
          = btrim(regexp_replace(lower(%(qtext)s), '[^[:alnum:]]+', ' ', 'g'))
    LIMIT {match_cap}
),
lexical AS (
    SELECT titled_chunk.id FROM (
        SELECT c.id
        FROM chunks c
        WHERE c.space_id = {space} AND c.site_id = %(site)s
          AND c.document_id IN (SELECT id FROM titled)
          {chunk_filter}
        LIMIT {match_cap}
    ) titled_chunk
    UNION
    SELECT every_word.id FROM (
        SELECT c.id
        FROM chunks c
        WHERE c.space_id = {space} AND c.site_id = %(site)s
          AND c.tsv @@ (
              SELECT to_tsquery('simple', string_agg(quote_literal(replace(lexeme, '\', '')), ' & '))
              FROM terms
          )
          {chunk_filter}
        LIMIT {match_cap}
    ) every_word
    UNION
    SELECT rarest.id FROM (
        SELECT c.id
        FROM chunks c
        WHERE c.space_id = {space} AND c.site_id = %(site)s
          AND c.tsv @@ (SELECT query FROM terms WHERE df > 0 ORDER BY df, lexeme LIMIT 1)
          {chunk_filter}
        LIMIT {rare_cap}
    ) rarest
),
scored AS (
    SELECT c.id, c.document_id,
           1 - ((c.embedding::{vtype}) <=> %(qvec)s::{vtype}) AS similarity,
           coalesce((
               -- BM25 with k1 = 1.2, b = 0.75; a chunk's length is its count of lexemes.
               SELECT sum(t.idf * x.tf * 2.2
                          / (x.tf + 1.2 * (0.25 + 0.75 * length(c.tsv) / stats.mean_length)))
               FROM (SELECT u.lexeme, cardinality(u.positions) AS tf FROM unnest(c.tsv) u) x
               JOIN terms t ON t.lexeme = x.lexeme
           ), 0) AS bm25,
           c.document_id IN (SELECT id FROM titled) AS title_match
    FROM (SELECT id FROM pool UNION SELECT id FROM lexical) candidate
    JOIN chunks c ON c.id = candidate.id AND c.site_id = %(site)s
    CROSS JOIN stats
),
sizes AS (
    SELECT c.document_id, count(*) AS chunks
    FROM chunks c
    WHERE c.space_id = {space} AND c.site_id = %(site)s
      AND c.document_id IN (SELECT document_id FROM scored)
    GROUP BY c.document_id
),
null_bm25 AS (
    SELECT coalesce(sum(idf * p), 0) AS mean,
           coalesce(sqrt(sum(idf * idf * p * (1 - p))), 0) AS spread
    FROM terms
)
SELECT s.id, s.document_id, s.similarity::float8, s.bm25::float8, sizes.chunks, s.title_match,
       sample.mean::float8, sample.spread::float8, null_bm25.mean::float8, null_bm25.spread::float8
FROM scored s
JOIN sizes ON sizes.document_id = s.document_id
CROSS JOIN sample
CROSS JOIN null_bm25
