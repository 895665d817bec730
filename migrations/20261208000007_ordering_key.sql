-- Ordered delivery per key (docs/guarantees.md, "Ordering per key"): the
-- JSON Pointer into each event's payload whose value is the event's key;
-- NULL: unordered.
ALTER TABLE replay_jobs
    ADD COLUMN ordering_key VARCHAR(255) NULL;
