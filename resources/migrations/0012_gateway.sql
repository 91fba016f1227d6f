-- The AI gateway (docs/architecture.md, "The gateway"): per-site API keys, the usage ledger
-- and its running totals, the nightly rollup, and the answer cache. Rate limits are counted in
-- `rate_limits` (migration 0010).

-- Per-site API keys. Only a SHA-256 of the key is kept: a key is 32 random bytes, so its hash
-- cannot be inverted by guessing, and a fast hash can be checked on every request (a slow
-- password hash would cost ~100 ms a request and protect nothing more).
CREATE TABLE api_keys (
    id           text PRIMARY KEY,  -- public handle ("key_…"), shown in lists, used to revoke
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    scopes       text[] NOT NULL
                 CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['search', 'ask', 'admin']),
    key_hash     bytea NOT NULL UNIQUE,
    hint         text NOT NULL,  -- "prk_…wXyZ": enough to tell keys apart, useless to an attacker
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_site ON api_keys (site_id);

-- The ledger: one row per model call (a failed attempt is a call too). No foreign key on the
-- site: a ledger row must never be refused, and it outlives the site it counts.
CREATE TABLE usage_events (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL,
    site_id       text NOT NULL,
    purpose       text NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      numeric(18, 9) NOT NULL DEFAULT 0,
    priced        boolean NOT NULL DEFAULT true,  -- false: a paid model missing from the prices
    latency_ms    real NOT NULL DEFAULT 0,
    outcome       text NOT NULL
);
CREATE INDEX usage_events_site_at ON usage_events (site_id, at);
-- Appended in time order: a BRIN index serves the nightly day scans and pruning at ~0 cost.
CREATE INDEX usage_events_at ON usage_events USING brin (at);

-- Running totals per site, day (UTC) and model, written in the same transaction as the events
-- they count: budgets and the usage views read these few rows instead of scanning the ledger.
CREATE TABLE usage_counters (
    site_id       text NOT NULL,
    day           date NOT NULL,
    purpose       text NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    calls         bigint NOT NULL DEFAULT 0,
    errors        bigint NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      numeric(18, 9) NOT NULL DEFAULT 0,
    unpriced      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, day, purpose, provider, model)
);

-- Served API requests per site, day and endpoint (answer-cache hits among them; refusals by a
-- rate limit or budget apart).
CREATE TABLE usage_requests (
    site_id    text NOT NULL,
    day        date NOT NULL,
    endpoint   text NOT NULL,
    requests   bigint NOT NULL DEFAULT 0,
    cache_hits bigint NOT NULL DEFAULT 0,
    refused    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, day, endpoint)
);

-- The nightly rollup (Dagster asset `usage_daily`): one row per site and day, with what only
-- the raw events can give (latency percentiles), kept after the raw events are pruned.
CREATE TABLE usage_daily (
    site_id        text NOT NULL,
    day            date NOT NULL,
    requests       bigint NOT NULL,
    cache_hits     bigint NOT NULL,
    calls          bigint NOT NULL,
    errors         bigint NOT NULL,
    input_tokens   bigint NOT NULL,
    output_tokens  bigint NOT NULL,
    cost_usd       numeric(18, 9) NOT NULL,
    latency_p50_ms real,
    latency_p95_ms real,
    by_purpose     jsonb NOT NULL DEFAULT '{}',
    rolled_up_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, day)
);

-- Answers of /v1/ask, shared by replicas. An entry names the chunks its answer cites with
-- their content hashes; it is served only while every one of them is still live and unchanged
-- (an edit replaces the chunk rows, a delete removes them: the check fails at once).
CREATE TABLE answer_cache (
    key          bytea PRIMARY KEY,  -- SHA-256 of (site, question, history, k, filters, answerer)
    site_id      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    answer       jsonb NOT NULL,
    chunk_ids    bigint[] NOT NULL,
    chunk_hashes text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_hit_at  timestamptz NOT NULL DEFAULT now(),
    hits         bigint NOT NULL DEFAULT 0,
    CHECK (cardinality(chunk_ids) = cardinality(chunk_hashes) AND cardinality(chunk_ids) > 0)
);
CREATE INDEX answer_cache_recency ON answer_cache (last_hit_at);
CREATE INDEX answer_cache_site ON answer_cache (site_id);
