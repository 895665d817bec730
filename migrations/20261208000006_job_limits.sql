-- A job's own limits on its load on the receiver, below the operator's
-- ceilings (docs/api.md, "Limits"); NULL: the ceilings.
ALTER TABLE replay_jobs
    ADD COLUMN max_in_flight         INT NULL,
    ADD COLUMN max_events_per_second INT NULL;
