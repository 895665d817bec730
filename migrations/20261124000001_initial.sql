-- Tenants own webhooks; API keys authenticate a tenant. Keys are stored as a
-- keyed hash (HMAC-SHA256 with the server's pepper), never in clear.
CREATE TABLE tenants (
    id          VARCHAR(40)  NOT NULL PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    created_at  DATETIME(3)  NOT NULL
);

CREATE TABLE api_keys (
    id          VARCHAR(40)  NOT NULL PRIMARY KEY,
    tenant_id   VARCHAR(40)  NOT NULL,
    key_hash    BINARY(32)   NOT NULL,
    created_at  DATETIME(3)  NOT NULL,
    revoked_at  DATETIME(3)  NULL,
    CONSTRAINT fk_api_keys_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE TABLE webhooks (
    id          VARCHAR(64)   NOT NULL PRIMARY KEY,
    tenant_id   VARCHAR(40)   NOT NULL,
    url         VARCHAR(2048) NOT NULL,
    secret      VARCHAR(200)  NOT NULL,
    created_at  DATETIME(3)   NOT NULL,
    KEY ix_webhooks_tenant (tenant_id),
    CONSTRAINT fk_webhooks_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

-- The system of record and queue of replay work. `enqueued_at` is the outbox
-- mark: NULL means the slice messages may not have reached SQS yet.
CREATE TABLE replay_jobs (
    id                  VARCHAR(40)  NOT NULL PRIMARY KEY,
    tenant_id           VARCHAR(40)  NOT NULL,
    webhook_id          VARCHAR(64)  NOT NULL,
    from_ms             BIGINT       NOT NULL,
    to_ms               BIGINT       NOT NULL,
    partition_id        INT          NOT NULL,
    state               VARCHAR(16)  NOT NULL,
    state_reason        VARCHAR(500) NULL,
    idempotency_key     VARCHAR(255) NULL,
    request_hash        BINARY(32)   NULL,
    -- Set while the job is OPEN/STARTED/ONGOING: one active job per webhook.
    active_webhook_id   VARCHAR(64)  NULL,
    slices_total        INT          NOT NULL,
    created_at          DATETIME(3)  NOT NULL,
    updated_at          DATETIME(3)  NOT NULL,
    heartbeat_at        DATETIME(3)  NULL,
    enqueued_at         DATETIME(3)  NULL,
    enqueue_claim_until DATETIME(3)  NULL,
    status_sent_at      DATETIME(3)  NULL,
    status_claim_until  DATETIME(3)  NULL,
    UNIQUE KEY ux_jobs_active_webhook (active_webhook_id),
    UNIQUE KEY ux_jobs_idempotency (tenant_id, webhook_id, idempotency_key),
    KEY ix_jobs_webhook_created (webhook_id, created_at),
    KEY ix_jobs_state (state, updated_at),
    CONSTRAINT fk_jobs_webhook FOREIGN KEY (webhook_id) REFERENCES webhooks (id)
);

-- One row per time slice. Counters are absolute values copied from the
-- slice's checkpoint, so retries never double-count.
CREATE TABLE replay_slices (
    job_id              VARCHAR(40) NOT NULL,
    slice_index         INT         NOT NULL,
    from_ms             BIGINT      NOT NULL,
    to_ms               BIGINT      NOT NULL,
    state               VARCHAR(16) NOT NULL,
    restarts            INT         NOT NULL DEFAULT 0,
    heartbeat_at        DATETIME(3) NULL,
    requeue_claim_until DATETIME(3) NULL,
    events_scanned      BIGINT      NOT NULL DEFAULT 0,
    events_matched      BIGINT      NOT NULL DEFAULT 0,
    events_delivered    BIGINT      NOT NULL DEFAULT 0,
    duplicates_skipped  BIGINT      NOT NULL DEFAULT 0,
    delivery_failures   BIGINT      NOT NULL DEFAULT 0,
    malformed           BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, slice_index),
    KEY ix_slices_state_heartbeat (state, heartbeat_at),
    CONSTRAINT fk_slices_job FOREIGN KEY (job_id) REFERENCES replay_jobs (id) ON DELETE CASCADE
);

-- Every event that finally failed to deliver, for the job's report.
CREATE TABLE replay_failures (
    job_id       VARCHAR(40)  NOT NULL,
    event_id     VARCHAR(255) NOT NULL,
    last_status  INT          NULL,
    last_error   VARCHAR(500) NULL,
    attempts     INT          NOT NULL,
    failed_at    DATETIME(3)  NOT NULL,
    PRIMARY KEY (job_id, event_id),
    CONSTRAINT fk_failures_job FOREIGN KEY (job_id) REFERENCES replay_jobs (id) ON DELETE CASCADE
);
