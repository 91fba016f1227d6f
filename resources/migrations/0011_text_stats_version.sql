-- Every change to a site's chunks gets a new text_stats.version.
--
-- Serving keeps each site's similarity sample in memory until the site changes
-- (resources/store/search.py) and used (chunks, total_length) to tell: an edit that kept both
-- equal — a re-embedding, a changed vector of the same text — left the old vectors in the
-- sample. The version comes from a sequence, so a site whose row was deleted (no chunks) and
-- made again never repeats an earlier version.

CREATE SEQUENCE text_stats_version;

ALTER TABLE text_stats ADD COLUMN version bigint NOT NULL DEFAULT nextval('text_stats_version');

CREATE OR REPLACE FUNCTION chunks_text_stats() RETURNS trigger LANGUAGE plpgsql AS $$
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
            total_length = s.total_length + EXCLUDED.total_length,
            version = nextval('text_stats_version');

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
