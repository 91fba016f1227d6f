-- Rate-limit buckets shared by every serving replica (resources/store/rate_limits.py), so N
-- replicas enforce one limit, not N. One row per key: "client:visitor:<sub>",
-- "client:ip:<address>", "site:<id>". A row holds the bucket's level (requests counted,
-- draining at the limit's rate) as of `at`, in epoch seconds of the database's clock, which
-- every replica shares.
--
-- A key without a row is an empty bucket, so serving deletes the rows of drained buckets every
-- minute: a visitor's row drains in at most burst/rate (20 s with the defaults) and is gone a
-- minute later at most, however many distinct clients come and go.
--
-- UNLOGGED: every limited request writes a row, and this state is not worth a WAL record and
-- a flush each time. A crash empties the table (and standbys never have it): every bucket
-- restarts empty, so a client may use one more burst right after a crash. Nothing else
-- depends on these rows. fillfactor leaves room on each page for a row's next version, so the
-- update of every request stays a HOT update (no index entry written).
CREATE UNLOGGED TABLE rate_limits (
    key     text PRIMARY KEY,
    level   float8 NOT NULL,  -- requests in the bucket at `at` (0 = drained, at most the burst)
    at      float8 NOT NULL,  -- epoch seconds
    allowed boolean NOT NULL  -- the verdict of the latest request, returned to it
) WITH (fillfactor = 50);
