-- The tenant-wide job list (GET /v1/replays), newest first, pages on
-- (created_at, id) within a tenant; one webhook's list keeps
-- ix_jobs_webhook_created.
CREATE INDEX ix_jobs_tenant_created ON replay_jobs (tenant_id, created_at, id);
