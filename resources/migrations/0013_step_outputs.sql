-- Small values that one Dagster step hands to the next: an indexing stage's shards (ranges
-- of document ids) and what each shard did (counts). Kept here rather than on a filesystem,
-- so Celery workers on different machines need nothing shared but PostgreSQL and the broker
-- (resources/dagster_resources.py: PostgresIOManager). Keyed by Dagster's output identifier
-- (run id, step, output, mapping key); a few hundred bytes per step.

CREATE TABLE step_outputs (
    key text PRIMARY KEY,
    run_id text NOT NULL,
    value bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX step_outputs_created_at ON step_outputs (created_at);
