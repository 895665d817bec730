-- A receiver check before a job's first delivery (docs/api.md, "A receiver
-- check"): asked for, and passed (by whichever slice checked first).
ALTER TABLE replay_jobs
    ADD COLUMN crc_check     BOOLEAN     NOT NULL DEFAULT FALSE,
    ADD COLUMN crc_passed_at DATETIME(3) NULL;
