-- Evidence for ranking one site's documents against a question (resources/store/search.py
-- turns it into scores; docs/search.md explains why). One row per candidate chunk:
--   * candidates: the vector side's nearest chunks (HNSW, cosine); chunks holding every word
--     of the question, then chunks holding its rarest word when that word is rare enough to
--     be a name; the chunks of documents whose title is the question (each capped);
--   * for each: its cosine similarity to the question, its BM25 score against the question
--     (statistics of this site: tables `lexicon` and `text_stats`), and its document's number
--     of chunks (kept in every chunk's row since migration 0015);
--   * per question (the same in every row): the mean and spread BM25 would have for a chunk
--     drawn at random (terms independent), and the site's chunk count and total length, which
--     tell the caller whether its cached similarity sample is still the site's.
-- {space} and {chunk_filter} are filled from trusted values (our own space table and a fixed
-- set of filter clauses); {vector_side}, {similarity}, {nearness} and {keyword_only} are one
-- of two fixed sets (search.py): the question vector's, or, in a keyword-only search (no
-- provider could embed the question), an empty vector pool, a similarity of 0 and the extra
-- `any_word` candidates, so only full-text evidence remains. {text_evidence} is one fixed
-- expression (search.py): a candidate's BM25 inputs, taken where its row is read anyway. The
-- sizes ({pool}, {rare_df}, {match_cap}) are integers written in as literals, so a prepared
-- statement's generic plan knows its LIMITs (as parameters PostgreSQL plans a full scan:
-- 170 ms instead of 6 ms at 100k chunks).
-- Everything else is a parameter.
WITH stats AS (
    SELECT greatest(t.chunks, 1)::float8 AS n,
           greatest(t.total_length, 1)::float8 / greatest(t.chunks, 1) AS mean_length,
           t.version
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
question AS (
    SELECT array_agg(lexeme) AS lexemes,
           to_tsquery('simple', string_agg(quote_literal(replace(lexeme, '\', '')), ' & '))
               AS every_word,
           (SELECT query FROM terms WHERE df > 0 ORDER BY df, lexeme LIMIT 1) AS rarest_word,
           (SELECT min(df) FROM terms WHERE df > 0) AS rarest_df,
           to_tsquery('simple', string_agg(quote_literal(replace(lexeme, '\', '')), ' | ')
               FILTER (WHERE df > 0 AND df <= {rare_df})) AS any_rare_word
    FROM terms
),
pool AS (
    -- Found by the graph's own distance, the half-precision copies' ({nearness}, the index's
    -- expression: resources/store/spaces.py), ordered by the output column, so it is computed
    -- once: an ORDER BY expression of its own was evaluated again, reading the vector again.
    -- The similarity is the full vectors'. Its text evidence is taken from the row the index
    -- scan already holds.
    SELECT id, document_id, similarity, length, lexemes, document_chunks
    FROM (
        SELECT c.id, c.document_id, {nearness}, {similarity} AS similarity, {text_evidence},
               c.document_chunks
        FROM chunks c
        WHERE {vector_side} AND c.space_id = {space} AND c.site_id = %(site)s
          {chunk_filter}
        ORDER BY 3
        LIMIT {pool}
    ) nearest
),
every_word AS (
    -- Chunks holding every word of the question: GIN intersects the words' posting lists.
    SELECT c.id, c.ctid, 0 AS tier
    FROM chunks c
    WHERE c.space_id = {space} AND c.site_id = %(site)s
      AND c.tsv @@ (SELECT every_word FROM question)
      {chunk_filter}
    LIMIT {match_cap}
),
rarest_word AS (
    -- Then chunks holding its rarest word, when at most {rare_df} chunks hold it (a name, an
    -- error string): a commoner word picks arbitrary chunks, and reading its whole posting
    -- list was most of a search's time at 100k chunks.
    SELECT c.id, c.ctid, 1 AS tier
    FROM chunks c
    WHERE (SELECT rarest_df FROM question) <= {rare_df}
      AND c.space_id = {space} AND c.site_id = %(site)s
      AND c.tsv @@ (SELECT rarest_word FROM question)
      {chunk_filter}
    LIMIT {match_cap}
),
lexical AS (
    SELECT id, ctid
    FROM (SELECT * FROM every_word UNION ALL SELECT * FROM rarest_word) matched
    GROUP BY id, ctid
    ORDER BY min(tier), id
    LIMIT {match_cap}
),
any_word AS (
    -- In keyword-only searches alone (there no vector pool finds the rest):
    -- also chunks holding any of the question's words that at most {rare_df} chunks hold
    -- (so the posting lists read stay bounded), those holding most of them first.
    SELECT c.id, c.ctid
    FROM chunks c
    WHERE {keyword_only}
      AND c.space_id = {space} AND c.site_id = %(site)s
      AND c.tsv @@ (SELECT any_rare_word FROM question)
      {chunk_filter}
    ORDER BY ts_rank(c.tsv, (SELECT any_rare_word FROM question)) DESC, c.id
    LIMIT {match_cap}
),
titled AS (
    -- The chunks of documents whose title is the question (known-item search: "What Now?").
    SELECT c.id, c.ctid
    FROM documents d
    JOIN chunks c ON c.document_id = d.id AND c.space_id = {space} AND c.site_id = %(site)s
    WHERE d.site_id = %(site)s AND d.visibility = 'public'
      AND btrim(regexp_replace(lower(d.title), '[^[:alnum:]]+', ' ', 'g'))
          = btrim(regexp_replace(lower(%(qtext)s), '[^[:alnum:]]+', ' ', 'g'))
      {chunk_filter}
    LIMIT {match_cap}
),
candidates AS (
    -- The full-text candidates' rows again, by their row address in this same statement's
    -- snapshot (a TID scan: one page each, where a lookup by id walked the primary key too).
    SELECT id, document_id, similarity, length, lexemes, document_chunks FROM pool
    UNION ALL
    SELECT c.id, c.document_id, {similarity}, {text_evidence}, c.document_chunks
    FROM chunks c
    WHERE c.ctid = ANY(ARRAY(
        SELECT ctid FROM lexical UNION SELECT ctid FROM titled UNION SELECT ctid FROM any_word))
      AND c.id NOT IN (SELECT id FROM pool)
      AND c.site_id = %(site)s
),
bm25 AS (
    -- BM25 with k1 = 1.2, b = 0.75; a chunk's length is its count of lexemes.
    SELECT k.id,
           sum(t.idf * cardinality(u.positions) * 2.2
               / (cardinality(u.positions)
                  + 1.2 * (0.25 + 0.75 * k.length / stats.mean_length))) AS score
    FROM candidates k
    CROSS JOIN stats
    CROSS JOIN LATERAL unnest(k.lexemes) u
    JOIN terms t ON t.lexeme = u.lexeme
    GROUP BY k.id
),
null_bm25 AS (
    SELECT coalesce(sum(idf * p), 0) AS mean,
           coalesce(sqrt(sum(idf * idf * p * (1 - p))), 0) AS spread
    FROM terms
)
SELECT cand.id, cand.document_id, cand.similarity::float8, coalesce(b.score, 0)::float8,
       -- Rows written by a release before migration 0015 (during a rollout) have none: one
       -- index probe then (a document's chunks are numbered from 0).
       coalesce(cand.document_chunks, (
           SELECT x.ordinal + 1 FROM chunks x
           WHERE x.document_id = cand.document_id AND x.space_id = {space}
           ORDER BY x.ordinal DESC LIMIT 1)),
       cand.id IN (SELECT id FROM titled),
       null_bm25.mean::float8, null_bm25.spread::float8, stats.version
FROM candidates cand
LEFT JOIN bm25 b ON b.id = cand.id
CROSS JOIN null_bm25
LEFT JOIN stats ON true
