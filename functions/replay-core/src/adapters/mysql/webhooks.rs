//! `webhooks`: a tenant's URLs and their signing secrets.

use super::MySqlStore;
use crate::domain::ids::{TenantId, WebhookId};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;
use sqlx::FromRow;

#[derive(Clone, FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub secret: String,
    pub created_at: NaiveDateTime,
}

// Secrets never reach a log line, even through Debug.
impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow").field("id", &self.id).field("url", &self.url).finish_non_exhaustive()
    }
}

impl MySqlStore {
    pub async fn insert_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        url: &str,
        secret: &str,
    ) -> Result<WebhookRow> {
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, secret, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(url)
        .bind(secret)
        .execute(&self.pool)
        .await?;
        self.webhook(tenant, id).await?.ok_or(Error::NotFound)
    }

    pub async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<WebhookRow>> {
        Ok(sqlx::query_as::<_, WebhookRow>(
            "SELECT id, tenant_id, url, secret, created_at FROM webhooks \
             WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
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

    /// Operator action: replaces a webhook's signing secret.
    pub async fn rotate_webhook_secret(&self, id: &WebhookId, secret: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE webhooks SET secret = ? WHERE id = ? AND deleted_at IS NULL")
            .bind(secret)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Points a webhook at a new URL; refused while a job of it is active
    /// (it delivers to the URL it started with: docs/api.md, "Changing or
    /// deleting a webhook").
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
        sqlx::query("UPDATE webhooks SET deleted_at = UTC_TIMESTAMP(3), secret = '' WHERE id = ?")
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
    let active: Option<String> =
        sqlx::query_scalar("SELECT id FROM replay_jobs WHERE active_webhook_id = ? LOCK IN SHARE MODE")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    match active {
        Some(job_id) => Err(Error::WebhookBusy { job_id }),
        None => Ok(()),
    }
}
