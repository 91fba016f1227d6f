-- What a site's owner expects its search to find (golden questions: question -> URL), and the
-- evaluations of search quality after the runs that changed the index.
CREATE TABLE golden_questions (
    id           bigserial PRIMARY KEY,
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    question     text NOT NULL CHECK (btrim(question) <> ''),
    expected_url text NOT NULL CHECK (expected_url ~ '^https?://'),
    source       text NOT NULL DEFAULT 'cli',  -- cli, file, plugin, api
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, question, expected_url)
);

CREATE TABLE quality_evaluations (
    id           bigserial PRIMARY KEY,
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('golden', 'titles')),
    run_id       text,
    evaluated_at timestamptz NOT NULL DEFAULT now(),
    -- What was evaluated: the index (model, chunk count, newest chunk) and the question set.
    fingerprint  text NOT NULL,
    score        float8 NOT NULL,
    -- One entry per question: {"question", "expected_url", "rank"} (rank null: not in the top k).
    results      jsonb NOT NULL
);
CREATE INDEX quality_evaluations_site ON quality_evaluations (site_id, kind, id DESC);
