//! `tenants` and `api_keys`: keys are stored as a keyed hash, never in clear.

use super::MySqlStore;
use crate::domain::apikey::Scope;
use crate::domain::ids::TenantId;
use crate::error::Result;
use sqlx::Row;

impl MySqlStore {
    pub async fn insert_tenant(&self, id: &TenantId, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, UTC_TIMESTAMP(3))")
            .bind(id.as_str())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn insert_api_key(&self, key_id: &str, tenant: &TenantId, key_hash: &[u8], scope: Scope) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, key_hash, scope, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(key_id)
        .bind(tenant.as_str())
        .bind(key_hash)
        .bind(scope.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// (tenant id, stored hash, scope) of an unrevoked key.
    pub async fn api_key(&self, key_id: &str) -> Result<Option<(TenantId, Vec<u8>, Scope)>> {
        let row = sqlx::query("SELECT tenant_id, key_hash, scope FROM api_keys WHERE id = ? AND revoked_at IS NULL")
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let scope: String = r.try_get("scope")?;
            Ok((TenantId(r.try_get("tenant_id")?), r.try_get("key_hash")?, Scope::parse(&scope)))
        })
        .transpose()
    }

    /// Revokes an unrevoked key; returns its tenant, `None` if there was none.
    pub async fn revoke_api_key(&self, key_id: &str) -> Result<Option<TenantId>> {
        let tenant: Option<String> =
            sqlx::query_scalar("SELECT tenant_id FROM api_keys WHERE id = ? AND revoked_at IS NULL")
                .bind(key_id)
                .fetch_optional(&self.pool)
                .await?;
        let done = sqlx::query("UPDATE api_keys SET revoked_at = UTC_TIMESTAMP(3) WHERE id = ? AND revoked_at IS NULL")
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(tenant.filter(|_| done.rows_affected() == 1).map(TenantId))
    }
}

use crate::ports::directory::TenantLimits;

impl MySqlStore {
    pub async fn tenant_limits(&self, tenant: &TenantId) -> Result<TenantLimits> {
        let row: Option<(Option<u32>, Option<u32>, Option<u32>)> = sqlx::query_as(
            "SELECT requests_per_minute, max_active_jobs, max_running_slices FROM tenant_limits WHERE tenant_id = ?",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let (requests_per_minute, max_active_jobs, max_running_slices) = row.unwrap_or_default();
        Ok(TenantLimits { requests_per_minute, max_active_jobs, max_running_slices })
    }

    /// Operator action: replaces a tenant's overrides.
    pub async fn set_tenant_limits(&self, tenant: &TenantId, limits: &TenantLimits) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenant_limits (tenant_id, requests_per_minute, max_active_jobs, max_running_slices, updated_at) \
             VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE requests_per_minute = VALUES(requests_per_minute), \
             max_active_jobs = VALUES(max_active_jobs), max_running_slices = VALUES(max_running_slices), \
             updated_at = VALUES(updated_at)",
        )
        .bind(tenant.as_str())
        .bind(limits.requests_per_minute)
        .bind(limits.max_active_jobs)
        .bind(limits.max_running_slices)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts one API request of the tenant in `minute`; the count so far,
    /// this one included. One statement: `LAST_INSERT_ID(expr)` hands the
    /// updated count back on the same connection.
    pub async fn count_request(&self, tenant: &TenantId, minute: i64) -> Result<u64> {
        let done = sqlx::query(
            "INSERT INTO tenant_request_counts (tenant_id, minute, requests) VALUES (?, ?, 1) \
             ON DUPLICATE KEY UPDATE requests = LAST_INSERT_ID(requests + 1)",
        )
        .bind(tenant.as_str())
        .bind(minute)
        .execute(&self.pool)
        .await?;
        // A new row (the minute's first request) reports no insert id.
        Ok(done.last_insert_id().max(1))
    }

    /// Deletes request counts of minutes before `minute`.
    pub async fn purge_request_counts(&self, minute: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM tenant_request_counts WHERE minute < ? LIMIT 5000")
            .bind(minute)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
