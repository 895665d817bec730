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
