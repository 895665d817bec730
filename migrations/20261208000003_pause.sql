-- Pause and resume (docs/guarantees.md, "Pause and resume"). A paused job
-- keeps `active_webhook_id`; the columns record its last pause.
ALTER TABLE replay_jobs
    ADD COLUMN paused_at        DATETIME(3)  NULL,
    ADD COLUMN paused_by        VARCHAR(16)  NULL,
    ADD COLUMN pause_reason     VARCHAR(200) NULL,
    ADD COLUMN pause_expires_at DATETIME(3)  NULL,
    ADD COLUMN resumed_at       DATETIME(3)  NULL,
    -- The state a resume returns to (OPEN, STARTED or ONGOING).
    ADD COLUMN paused_from      VARCHAR(16)  NULL;
