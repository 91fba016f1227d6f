-- Statistics the search needs, kept exact by the database itself.
--
-- BM25 needs, per site and embedding space, how many live chunks hold each lexeme (document
-- frequency), how many chunks there are and their total length. Statement-level triggers
-- with transition tables keep them in step with every write to `chunks` — publishing,
-- deleting, and the cascades from `documents` and `sites` — so no caller can forget them.
-- A chunk's length is its number of distinct lexemes (`length(tsv)`).
--
-- The vector side standardises a question's similarities against a fixed uniform random
-- sample of the site's chunks: `sample_key` is drawn once per chunk, and the sample is the
-- chunks with the smallest keys (an index scan), so it follows the site as chunks change.

ALTER TABLE chunks ADD COLUMN sample_key float8 NOT NULL DEFAULT random();
CREATE INDEX chunks_sample ON chunks (site_id, space_id, sample_key);

CREATE TABLE lexicon (
    site_id  text NOT NULL,
    space_id int  NOT NULL,
    lexeme   text NOT NULL,
    df       int  NOT NULL,
    PRIMARY KEY (site_id, space_id, lexeme)
);

CREATE TABLE text_stats (
    site_id      text   NOT NULL,
    space_id     int    NOT NULL,
    chunks       bigint NOT NULL,
    total_length bigint NOT NULL,
    PRIMARY KEY (site_id, space_id)
);

-- One function for every trigger below: the trigger names its transition table `changed`
-- and passes the sign (1: the rows were added, -1: they were removed). Rows are written in
-- key order, so two writers of one site take their row locks in the same order.
CREATE FUNCTION chunks_text_stats() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign int := TG_ARGV[0]::int;
BEGIN
    INSERT INTO lexicon AS l (site_id, space_id, lexeme, df)
    SELECT c.site_id, c.space_id, lex, sign * count(*)
    FROM changed c, unnest(tsvector_to_array(c.tsv)) lex
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (site_id, space_id, lexeme) DO UPDATE SET df = l.df + EXCLUDED.df;

    INSERT INTO text_stats AS s (site_id, space_id, chunks, total_length)
    SELECT site_id, space_id, sign * count(*), sign * sum(length(tsv))
    FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (site_id, space_id) DO UPDATE
        SET chunks = s.chunks + EXCLUDED.chunks,
            total_length = s.total_length + EXCLUDED.total_length;

    IF sign < 0 THEN
        DELETE FROM lexicon l
        USING (SELECT DISTINCT c.site_id, c.space_id, lex
               FROM changed c, unnest(tsvector_to_array(c.tsv)) lex) gone
        WHERE l.site_id = gone.site_id AND l.space_id = gone.space_id
          AND l.lexeme = gone.lex AND l.df <= 0;
        DELETE FROM text_stats s USING (SELECT DISTINCT site_id, space_id FROM changed) gone
        WHERE s.site_id = gone.site_id AND s.space_id = gone.space_id AND s.chunks <= 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER chunks_text_stats_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION chunks_text_stats('1');
CREATE TRIGGER chunks_text_stats_delete AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION chunks_text_stats('-1');
CREATE TRIGGER chunks_text_stats_update_old AFTER UPDATE ON chunks
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION chunks_text_stats('-1');
CREATE TRIGGER chunks_text_stats_update_new AFTER UPDATE ON chunks
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION chunks_text_stats('1');

-- What is already indexed.
INSERT INTO lexicon (site_id, space_id, lexeme, df)
SELECT c.site_id, c.space_id, lex, count(*)
FROM chunks c, unnest(tsvector_to_array(c.tsv)) lex
GROUP BY 1, 2, 3;
INSERT INTO text_stats (site_id, space_id, chunks, total_length)
SELECT site_id, space_id, count(*), sum(length(tsv)) FROM chunks GROUP BY 1, 2;

-- A question that is a document's title, typed as it is or in other case and punctuation,
-- finds that document first: the title's words, lower-cased, one space apart.
CREATE INDEX documents_title_key
    ON documents (site_id, btrim(regexp_replace(lower(title), '[^[:alnum:]]+', ' ', 'g')));

-- What is embedded changed with this version (heading path and text; no longer the title), so
-- every document is chunked and embedded again by its site's next run. Its live chunks stay
-- searchable until their replacements are published.
UPDATE documents SET chunked_hash = NULL, indexed_hash = NULL WHERE indexed_hash IS NOT NULL;
