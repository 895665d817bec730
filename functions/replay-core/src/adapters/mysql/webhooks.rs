//! `webhooks`: a tenant's URLs and their signing secrets, sealed
//! (docs/security.md, "Secrets at rest"): this module stores and returns
//! sealed values only, apart from the legacy plaintext the migration seals.

use super::{format_time, is_duplicate_key, MySqlStore};
use crate::domain::ids::{TenantId, WebhookId};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;
use replay_types::Webhook;
use sqlx::FromRow;

#[derive(Clone, FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub created_at: NaiveDateTime,
}

use crate::ports::directory::{PlaintextSecret, StoredSecrets};

impl WebhookRow {
    pub fn into_webhook(self) -> Webhook {
        Webhook { id: WebhookId(self.id), url: self.url, created_at: format_time(self.created_at) }
    }
}

/// What identifies the keys a webhook signs with now, as SQL over
/// `webhooks w`: a rotation moves `updated_at`, and a grace period's end
/// drops the previous key.
pub(super) const SECRETS_VERSION: &str = "CONCAT_WS('|', CAST(w.updated_at AS CHAR), \
     IF(w.previous_secret_until > UTC_TIMESTAMP(3), 'with-previous', 'alone'))";

impl MySqlStore {
    pub async fn insert_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        url: &str,
        secret_sealed: &str,
    ) -> Result<WebhookRow> {
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, secret_sealed, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(url)
        .bind(secret_sealed)
        .execute(&self.pool)
        .await
        .map_err(|e| if is_duplicate_key(&e, "PRIMARY") { Error::WebhookIdTaken(id.to_string()) } else { e.into() })?;
        self.webhook(tenant, id).await?.ok_or(Error::NotFound)
    }

    pub async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<WebhookRow>> {
        Ok(sqlx::query_as::<_, WebhookRow>(
            "SELECT id, tenant_id, url, created_at FROM webhooks \
             WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A page of the tenant's live webhooks after `after`, in id order (the
    /// primary key; `ix_webhooks_tenant` narrows to the tenant first).
    pub async fn list_webhooks(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> Result<Vec<WebhookRow>> {
        Ok(sqlx::query_as::<_, WebhookRow>(
            "SELECT id, tenant_id, url, created_at FROM webhooks \
             WHERE tenant_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(after.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The tenant of a live webhook (operator actions name webhooks alone).
    pub async fn webhook_tenant(&self, id: &WebhookId) -> Result<Option<TenantId>> {
        let tenant: Option<String> =
            sqlx::query_scalar("SELECT tenant_id FROM webhooks WHERE id = ? AND deleted_at IS NULL")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(tenant.map(TenantId))
    }

    /// What signing a webhook's deliveries needs (deleted webhooks included:
    /// their secrets are gone, so this finds nothing to sign with).
    pub async fn webhook_secrets(&self, id: &WebhookId) -> Result<StoredSecrets> {
        type Row = (String, String, Option<String>, Option<String>, Option<String>, String);
        let row = sqlx::query_as::<_, Row>(&format!(
            "SELECT id AS webhook_id, tenant_id, secret_sealed, NULLIF(secret, '') AS legacy_plaintext, \
                 IF(previous_secret_until > UTC_TIMESTAMP(3), previous_secret_sealed, NULL) AS previous_sealed, \
                 {SECRETS_VERSION} AS version FROM webhooks w WHERE id = ?"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        let (webhook_id, tenant_id, secret_sealed, legacy_plaintext, previous_sealed, version) = row;
        Ok(StoredSecrets { webhook_id, tenant_id, secret_sealed, legacy_plaintext, previous_sealed, version })
    }

    /// Operator action: a new sealed secret; the current one keeps signing
    /// beside it for `grace_s` seconds (0: retired at once).
    pub async fn rotate_webhook_secret(&self, id: &WebhookId, secret_sealed: &str, grace_s: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhooks SET previous_secret_sealed = secret_sealed, \
             previous_secret_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND, secret_sealed = ?, \
             updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND deleted_at IS NULL AND secret_sealed IS NOT NULL",
        )
        .bind(grace_s)
        .bind(secret_sealed)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Plaintext secrets an earlier release left (the migration's sealing pass).
    pub async fn plaintext_secrets(&self, limit: u32) -> Result<Vec<PlaintextSecret>> {
        let rows = sqlx::query_as::<_, (String, String, String)>(
            "SELECT id, tenant_id, secret FROM webhooks WHERE secret IS NOT NULL AND secret <> '' LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(webhook_id, tenant_id, secret)| PlaintextSecret { webhook_id, tenant_id, secret })
            .collect())
    }

    /// Replaces a plaintext secret by its sealed form, in one statement; a
    /// row whose secret changed meanwhile is left for the next pass.
    pub async fn store_sealed(&self, plain: &PlaintextSecret, secret_sealed: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhooks SET secret_sealed = ?, secret = NULL WHERE id = ? AND secret = ? AND secret_sealed IS NULL",
        )
        .bind(secret_sealed)
        .bind(&plain.webhook_id)
        .bind(&plain.secret)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Points a webhook at a new URL; refused while a job of it is active
    /// (it delivers to the URL it started with: docs/api.md, "Change or
    /// delete a webhook").
    pub async fn update_webhook_url(&self, tenant: &TenantId, id: &WebhookId, url: &str) -> Result<WebhookRow> {
        let mut tx = self.pool.begin().await?;
        lock_idle_webhook(&mut tx, tenant, id).await?;
        sqlx::query("UPDATE webhooks SET url = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ?")
            .bind(url)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.webhook(tenant, id).await?.ok_or(Error::NotFound)
    }

    /// Deletes a webhook for the API (404 from now on) and wipes its secret;
    /// the row stays for its jobs' history. Refused while a job is active.
    pub async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_idle_webhook(&mut tx, tenant, id).await?;
        sqlx::query(
            "UPDATE webhooks SET deleted_at = UTC_TIMESTAMP(3), secret = NULL, secret_sealed = NULL, \
             previous_secret_sealed = NULL, previous_secret_until = NULL WHERE id = ?",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Locks a live webhook of the tenant and checks that no job of it is
/// active. `create_job` takes a shared lock on the same row before it adds a
/// job, so the two cannot interleave: one of them waits for the other.
async fn lock_idle_webhook(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    tenant: &TenantId,
    id: &WebhookId,
) -> Result<()> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM webhooks WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL FOR UPDATE")
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    found.ok_or(Error::NotFound)?;
    // A locking read: it sees jobs committed after this transaction began.
    let active: Option<String> = sqlx::query_scalar(
        "SELECT id FROM replay_jobs WHERE active_webhook_id = ? OR active_target_id = ? LIMIT 1 LOCK IN SHARE MODE",
    )
    .bind(id.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    match active {
        Some(job_id) => Err(Error::WebhookBusy { job_id }),
        None => Ok(()),
    }
}
