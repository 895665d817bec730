-- Expand only (docs/operations.md, "Migrations"): choosing the events of a
-- window (filters, failed-only, dry runs, retries of the failures).
--
-- `selection`: the request's selection as JSON (docs/api.md, "Choosing the
-- events"); NULL for the whole window. A retry's carries its event ids.
-- `dry_run`: counted, never delivered, no status event; it never holds the
-- webhook's one active job (`active_webhook_id` stays NULL).
-- `retry_of`: the job whose failures a retry delivers.
ALTER TABLE replay_jobs
    ADD COLUMN selection MEDIUMTEXT  NULL,
    ADD COLUMN dry_run   TINYINT(1)  NOT NULL DEFAULT 0,
    ADD COLUMN retry_of  VARCHAR(40) NULL;

-- New outcomes, and a dry run's tally (JSON {"by_event_type": {..}, "payload_bytes": n}).
ALTER TABLE replay_slices
    ADD COLUMN events_selected        BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN events_without_outcome BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN tally                  TEXT   NULL;

ALTER TABLE replay_failures
    ADD COLUMN event_type VARCHAR(255) NULL;

-- The `event_ids` of a job that were found in its window (the others are
-- its `not_found`). Written as slices commit; a slice read again after a
-- crash writes the same rows.
CREATE TABLE replay_found_events (
    job_id   VARCHAR(40)  NOT NULL,
    event_id VARCHAR(255) NOT NULL,
    PRIMARY KEY (job_id, event_id),
    CONSTRAINT fk_found_job FOREIGN KEY (job_id) REFERENCES replay_jobs (id) ON DELETE CASCADE
);
