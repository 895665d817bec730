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
            "SELECT id, tenant_id, url, secret, created_at FROM webhooks WHERE id = ? AND tenant_id = ?",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Operator action: replaces a webhook's signing secret.
    pub async fn rotate_webhook_secret(&self, id: &WebhookId, secret: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE webhooks SET secret = ? WHERE id = ?")
            .bind(secret)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
