-- A retry reads its original job's failure list while it runs: the purge
-- looks up running retries of a job by `retry_of` (adapters/mysql/purge.rs).
CREATE INDEX ix_jobs_retry_of ON replay_jobs (retry_of);
