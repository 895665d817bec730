-- Fair shares between tenants (docs/security.md, "Fair shares").
--
-- `tenant_limits`: the operator's per-tenant overrides of the defaults
-- (TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS,
-- TENANT_MAX_RUNNING_SLICES); NULL = the default, 0 = no limit.
-- Set with `replayctl tenant limits`.
CREATE TABLE tenant_limits (
    tenant_id           VARCHAR(40) NOT NULL PRIMARY KEY,
    requests_per_minute INT UNSIGNED NULL,
    max_active_jobs     INT UNSIGNED NULL,
    max_running_slices  INT UNSIGNED NULL,
    updated_at          DATETIME(3) NOT NULL,
    CONSTRAINT fk_tenant_limits_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

-- API requests per tenant per minute (UTC epoch minute): one upsert per
-- request, shared by every API function instance. The sweeper deletes
-- minutes older than an hour.
CREATE TABLE tenant_request_counts (
    tenant_id VARCHAR(40)  NOT NULL,
    minute    BIGINT       NOT NULL,
    requests  INT UNSIGNED NOT NULL,
    PRIMARY KEY (tenant_id, minute)
);

-- Active jobs per tenant are counted under the tenant's row lock.
CREATE INDEX ix_jobs_tenant_state ON replay_jobs (tenant_id, state);

-- Round-robin between tenants: the tenant whose slice was taken longest ago
-- goes first among those with as few slices running.
ALTER TABLE tenants ADD COLUMN last_slice_taken_at DATETIME(3) NULL;

-- When a slice was first taken by a worker (operators, and the fairness test).
ALTER TABLE replay_slices ADD COLUMN started_at DATETIME(3) NULL;
