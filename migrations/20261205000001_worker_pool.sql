-- The worker pool's one row (docs/security.md, "Fair shares"): every take of
-- a slice locks it first, so the slices RUNNING across all tenants never
-- exceed WORKER_POOL_SLICES (the worker's SQS MaximumConcurrency), even with
-- takes of several tenants at once.
CREATE TABLE worker_pool (
    id TINYINT UNSIGNED NOT NULL PRIMARY KEY
);
INSERT INTO worker_pool (id) VALUES (1);

-- Running slices are counted at every take.
CREATE INDEX ix_slices_state ON replay_slices (state);
