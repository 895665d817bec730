-- Another target (docs/api.md, "Another target"): the webhook a job
-- delivers to, when not its own, and while the job is live the hold on it
-- (creates of a tenant take turns under its row lock, which checks both
-- columns; the column is cleared with `active_webhook_id`).
ALTER TABLE replay_jobs
    ADD COLUMN target_webhook_id VARCHAR(64) NULL,
    ADD COLUMN active_target_id  VARCHAR(64) NULL,
    ADD KEY ix_jobs_active_target (active_target_id);
