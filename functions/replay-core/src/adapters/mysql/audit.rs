//! `audit_log`: who changed what (docs/security.md, "The audit trail").
//! Rows are only ever added, and purged when older than the audit retention.

use super::{format_time, MySqlStore};
use crate::domain::ids::TenantId;
use crate::error::Result;
use chrono::NaiveDateTime;
use serde::Serialize;
use sqlx::FromRow;
use std::time::Duration;

use crate::ports::directory::AuditEntry;

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AuditRow {
    pub id: i64,
    #[serde(skip)]
    pub at: NaiveDateTime,
    pub tenant_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

impl AuditRow {
    /// RFC 3339, as every time the project prints.
    pub fn at(&self) -> String {
        format_time(self.at)
    }
}

impl MySqlStore {
    pub async fn audit(&self, entry: &AuditEntry<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, tenant_id, actor, action, target, detail) \
             VALUES (UTC_TIMESTAMP(3), ?, ?, ?, ?, ?)",
        )
        .bind(entry.tenant.map(TenantId::as_str))
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.detail.map(|d| d.chars().take(500).collect::<String>()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest `limit` rows, of one tenant or of all, newest first.
    pub async fn audit_rows(&self, tenant: Option<&TenantId>, limit: u32) -> Result<Vec<AuditRow>> {
        Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, tenant_id, actor, action, target, detail FROM audit_log \
             WHERE (? IS NULL OR tenant_id = ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(tenant.map(TenantId::as_str))
        .bind(tenant.map(TenantId::as_str))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Deletes up to `limit` rows older than `retention`; returns how many went.
    pub async fn purge_audit(&self, retention: Duration, limit: u32) -> Result<u32> {
        let done =
            sqlx::query("DELETE FROM audit_log WHERE at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND ORDER BY at LIMIT ?")
                .bind(retention.as_secs())
                .bind(limit)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() as u32)
    }
}
