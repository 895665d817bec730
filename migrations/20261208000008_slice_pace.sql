-- A running slice's pace, from its heartbeats (domain/pace.rs, SlicePace):
-- the requests it may have in flight now (the job's view sums its running
-- slices'; docs/api.md, "Limits"), the baseline latency it judges a rise
-- against, and when a heartbeat last reported them (other writes move
-- heartbeat_at, never this). The job's next slice starts from the latest.
ALTER TABLE replay_slices
    ADD COLUMN in_flight_limit  INT NULL,
    ADD COLUMN pace_baseline_ms INT NULL,
    ADD COLUMN pace_at          DATETIME(3) NULL;
