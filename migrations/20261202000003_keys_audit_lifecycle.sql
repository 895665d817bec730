-- Expand only (docs/operations.md, "Migrations"): key scopes, the audit
-- trail, and webhooks that change or go (docs/security.md, docs/api.md).
--
-- `scope`: `full` may write; `read` may only read (status, lists, failure
-- reports). Keys from before this migration keep full rights.
ALTER TABLE api_keys
    ADD COLUMN scope VARCHAR(8) NOT NULL DEFAULT 'full';

-- A deleted webhook keeps its row (its jobs' history refers to it) with
-- its secret wiped; it is gone for the API. `updated_at`: its URL's last change.
ALTER TABLE webhooks
    ADD COLUMN updated_at DATETIME(3) NULL,
    ADD COLUMN deleted_at DATETIME(3) NULL;

-- Who changed what: one row per write of the API (webhook create, update,
-- delete; replay create, cancel, retry) and per operator action (tenant,
-- key, secret). `actor`: the API key's id, or `operator` for replayctl.
-- No foreign keys: the trail outlives what it names. Rows older than
-- AUDIT_RETENTION_DAYS are purged by the sweeper with the ended jobs.
CREATE TABLE audit_log (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at         DATETIME(3)  NOT NULL,
    tenant_id  VARCHAR(40)  NULL,
    actor      VARCHAR(64)  NOT NULL,
    action     VARCHAR(40)  NOT NULL,
    target     VARCHAR(64)  NULL,
    detail     VARCHAR(500) NULL,
    KEY ix_audit_tenant (tenant_id, id),
    KEY ix_audit_at (at)
);
