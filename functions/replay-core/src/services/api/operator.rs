//! Operator actions (replayctl): tenants and their API keys, audited as the operator.

use crate::domain::apikey::{self, Scope};
use crate::domain::ids::TenantId;
use crate::error::{Error, Result};
use crate::ports::directory::{AuditEntry, Directory, OPERATOR};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct TenantCreated {
    pub tenant_id: TenantId,
    pub api_key: String,
}

/// Operator action (`replayctl tenant create`): a tenant and its first key.
pub async fn create_tenant(store: &dyn Directory, pepper: &str, name: &str) -> Result<TenantCreated> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidRequest("tenant name must be 1-200 characters".into()));
    }
    let tenant_id = TenantId::generate();
    store.insert_tenant(&tenant_id, name).await?;
    operator_audit(store, &tenant_id, "tenant.create", tenant_id.as_str(), Some(name)).await?;
    let api_key = create_api_key(store, pepper, &tenant_id, Scope::Full).await?;
    Ok(TenantCreated { tenant_id, api_key })
}

/// Operator action (`replayctl key create`): a key of the tenant with this scope.
pub async fn create_api_key(store: &dyn Directory, pepper: &str, tenant: &TenantId, scope: Scope) -> Result<String> {
    let key = apikey::generate(pepper);
    store.insert_api_key(&key.key_id, tenant, &key.hash, scope).await?;
    operator_audit(store, tenant, "key.create", &key.key_id, Some(scope.as_str())).await?;
    Ok(key.api_key)
}

/// Operator action (`replayctl key revoke`); false if no such unrevoked key.
pub async fn revoke_api_key(store: &dyn Directory, key_id: &str) -> Result<bool> {
    let Some(tenant) = store.revoke_api_key(key_id).await? else { return Ok(false) };
    operator_audit(store, &tenant, "key.revoke", key_id, None).await?;
    Ok(true)
}

/// An audit row for an operator action (replayctl).
pub async fn operator_audit(
    store: &dyn Directory,
    tenant: &TenantId,
    action: &str,
    target: &str,
    detail: Option<&str>,
) -> Result<()> {
    store.audit(&AuditEntry { tenant: Some(tenant), actor: OPERATOR, action, target: Some(target), detail }).await
}
