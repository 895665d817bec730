-- Slices are enqueued a few at a time (MAX_PARALLEL_SLICES per job): a worker
-- that finishes a slice claims and enqueues the next one. `enqueue_claim`
-- tells the claimer which row it won.
-- `lease_token` fences MySQL writes with the DynamoDB lease's token, so a
-- worker whose lease was taken over cannot overwrite a newer worker's progress.
ALTER TABLE replay_slices
    ADD COLUMN enqueued_at   DATETIME(3) NULL,
    ADD COLUMN enqueue_claim VARCHAR(40) NULL,
    ADD COLUMN lease_token   BIGINT      NOT NULL DEFAULT 0,
    ADD KEY ix_slices_job_pending (job_id, state, enqueued_at);
