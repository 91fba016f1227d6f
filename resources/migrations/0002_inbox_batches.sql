-- The webhook sensor launches pending inbox events in batches: one Dagster run per site per
-- tick. The batch id is known before the launch (it is also the run's `pressrag/inbox_batch`
-- tag and run key); the run id is recorded when the run finishes.
ALTER TABLE inbox ADD COLUMN batch_id text;
ALTER TABLE inbox ADD COLUMN launched_at timestamptz;
CREATE INDEX inbox_batch ON inbox (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX inbox_launched ON inbox (launched_at) WHERE status = 'launched';
