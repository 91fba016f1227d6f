-- Core schema: sites, documents, chunk drafts, live chunks, embedding spaces and cache,
-- the webhook inbox and the run log. Applied once by resources.store.migrations.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE sites (
    id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    source_kind     text NOT NULL CHECK (source_kind IN ('rest', 'wxr')),
    base_url        text NOT NULL,
    wxr_path        text,
    -- post_types, ts_config, allowed origins, timezone, ...
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Secrets themselves live outside the database (env or files under PRESSRAG_HOME);
    -- the site only names them, so a database dump never leaks a signing key.
    webhook_key_ids text[] NOT NULL DEFAULT '{}',
    token_key_ids   text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per embedding model + dimension. Exactly one is active; a model change builds a
-- new space beside the old one and switches when complete (invariant 5).
CREATE TABLE embedding_spaces (
    id           serial PRIMARY KEY,
    model        text NOT NULL,
    dimension    int  NOT NULL CHECK (dimension BETWEEN 1 AND 16000),
    state        text NOT NULL CHECK (state IN ('building', 'active', 'retired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    UNIQUE (model, dimension)
);
CREATE UNIQUE INDEX embedding_spaces_one_active ON embedding_spaces ((true))
    WHERE state = 'active';

CREATE TABLE documents (
    id               bigserial PRIMARY KEY,
    site_id          text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    wp_id            bigint NOT NULL,
    doc_type         text NOT NULL,
    url              text NOT NULL DEFAULT '',
    title            text NOT NULL DEFAULT '',
    status           text NOT NULL,
    visibility       text NOT NULL CHECK (visibility IN ('public', 'excluded')),
    exclusion_reason text,
    author           text NOT NULL DEFAULT '',
    terms            jsonb NOT NULL DEFAULT '{}'::jsonb,
    language         text,
    parent_wp_id     bigint,
    mime_type        text,
    media_url        text,
    published_gmt    timestamptz,
    modified_gmt     timestamptz,
    content_html     text NOT NULL DEFAULT '',
    content_hash     text NOT NULL,
    -- Pipeline progress: each stage records the content hash it last completed for, so a
    -- stage's pending work is "its hash differs from content_hash" and re-runs are idempotent.
    text_hash        text,
    extracted_text   text,
    chunked_hash     text,
    indexed_hash     text,
    indexed_at       timestamptz,
    last_error       text,
    last_error_stage text,
    last_error_at    timestamptz,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, wp_id),
    UNIQUE (id, site_id)
);
CREATE INDEX documents_site_visibility ON documents (site_id, visibility);

-- Chunks waiting for vectors. Live chunks are only ever written together with their
-- embeddings, so a reader never sees a document half re-indexed (invariant 1).
CREATE TABLE chunk_drafts (
    document_id   bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal       int NOT NULL,
    heading_path  text[] NOT NULL DEFAULT '{}',
    text          text NOT NULL,
    embed_text    text NOT NULL,
    token_count   int NOT NULL,
    content_hash  text NOT NULL,
    PRIMARY KEY (document_id, ordinal)
);

CREATE TABLE chunks (
    id            bigserial PRIMARY KEY,
    document_id   bigint NOT NULL,
    -- Denormalised so every query can be scoped to one site in SQL (invariant 3); the
    -- composite key keeps it equal to the document's site.
    site_id       text NOT NULL,
    space_id      int NOT NULL REFERENCES embedding_spaces (id),
    ordinal       int NOT NULL,
    title         text NOT NULL DEFAULT '',
    heading_path  text[] NOT NULL DEFAULT '{}',
    text          text NOT NULL,
    token_count   int NOT NULL,
    content_hash  text NOT NULL,
    embedding     vector NOT NULL,
    tsv           tsvector NOT NULL,
    FOREIGN KEY (document_id, site_id) REFERENCES documents (id, site_id) ON DELETE CASCADE,
    UNIQUE (document_id, space_id, ordinal)
);
CREATE INDEX chunks_site_space ON chunks (site_id, space_id);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
-- The HNSW index is per embedding space (a partial expression index with the space's fixed
-- dimension); the store creates it when it registers the space.

CREATE TABLE embedding_cache (
    model        text NOT NULL,
    content_hash text NOT NULL,
    embedding    vector NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, content_hash)
);

CREATE TABLE inbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'launched', 'processed', 'dead', 'ignored')),
    run_id       text,
    attempts     int NOT NULL DEFAULT 0,
    last_error   text,
    processed_at timestamptz
);
CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending';
CREATE INDEX inbox_site_status ON inbox (site_id, status);

-- One row per Dagster run that indexed a site, for status reports without asking Dagster.
CREATE TABLE index_runs (
    run_id      text PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running',
    stats       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX index_runs_site ON index_runs (site_id, started_at DESC);
