//! The HTTP API's use cases (docs/api.md), independent of Lambda types:
//! the context and what every request goes through (the caller's key, its
//! tenant's request rate, the audit trail) here; webhooks, replays, jobs and
//! failure lists beside it, and the operator's actions (replayctl).

pub mod cursor;
mod failures;
mod jobs;
mod operator;
mod replays;
mod webhooks;

pub use failures::{append_lines, FailureLines, MAX_FAILURES_NDJSON_BYTES, MAX_FAILURES_PER_PAGE};
pub use jobs::{with_estimate, MAX_JOBS_PER_PAGE};
pub use operator::{create_api_key, create_tenant, operator_audit, revoke_api_key, TenantCreated};
pub use webhooks::MAX_LIST_PAGE;

use crate::adapters::dns::HostResolver;
use crate::config::Settings;
use crate::domain::apikey::{self, Caller, Scope};
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::error::{Error, Result};
use crate::ports::directory::{AuditEntry, Directory};
use crate::ports::{DeliveryLog, Housekeeping, JobLedger, KeyService, SliceQueue};
use replay_types::{JobLimits, Selection};
use tracing::warn;

/// What the API needs of the store: the directory, the job ledger, and the
/// partition counts it records (one MySQL database in production).
pub trait ApiStore: Directory + JobLedger + Housekeeping {}
impl<T: Directory + JobLedger + Housekeeping> ApiStore for T {}

/// Clients built once per cold start (`crate::wiring`).
pub struct ApiContext {
    pub store: Box<dyn ApiStore>,
    pub queue: Box<dyn SliceQueue>,
    pub log: Box<dyn DeliveryLog>,
    pub resolver: HostResolver,
    /// Seals new webhooks' secrets.
    pub keys: Box<dyn KeyService>,
    pub settings: Settings,
}

/// A replay to create: the webhook, the window and what to select; a retry
/// names the job whose failures it delivers.
#[derive(Debug, Clone, Copy)]
pub struct NewReplay<'a> {
    pub webhook_id: &'a WebhookId,
    pub from: EventTime,
    pub to: EventTime,
    pub selection: &'a Selection,
    pub retry_of: Option<&'a JobId>,
    pub idempotency_key: Option<&'a str>,
    /// Another webhook of the tenant that receives the events.
    pub target: Option<&'a WebhookId>,
    /// Check the receiver before the first delivery.
    pub crc_check: bool,
    /// The job's own limits on its load (below the deployment's ceilings).
    pub limits: JobLimits,
    /// Deliver in log order per this key (domain/ordering.rs).
    pub ordering_key: Option<&'a str>,
}

impl<'a> NewReplay<'a> {
    /// A replay of the window, as a caller asks for it.
    pub fn window(webhook_id: &'a WebhookId, from: EventTime, to: EventTime, selection: &'a Selection) -> Self {
        Self {
            webhook_id,
            from,
            to,
            selection,
            retry_of: None,
            idempotency_key: None,
            target: None,
            crc_check: false,
            limits: JobLimits::default(),
            ordering_key: None,
        }
    }
}

/// Writes need a full key; a read-only one gets 403 (docs/security.md, "Keys").
pub(super) fn writer(caller: &Caller) -> Result<&TenantId> {
    match caller.scope {
        Scope::Full => Ok(&caller.tenant),
        Scope::Read => Err(Error::Forbidden),
    }
}

/// The host of a webhook URL: what the audit trail records of it (a path or
/// query may carry the receiver's own token).
pub(super) fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// A limit: the tenant's override, else the default; 0 = none.
pub(super) fn effective(override_: Option<u32>, default: u32) -> Option<u32> {
    Some(override_.unwrap_or(default)).filter(|&n| n > 0)
}

impl ApiContext {
    /// Counts the request against its tenant's requests per minute, shared by
    /// all the tenant's keys and every API instance (docs/security.md, "Fair
    /// shares"); 429 `tenant_rate_limited` beyond, until the minute ends.
    pub async fn admit(&self, caller: &Caller) -> Result<()> {
        let overrides = self.store.tenant_limits(&caller.tenant).await?;
        let Some(limit) = effective(overrides.requests_per_minute, self.settings.fair_share.requests_per_minute) else {
            return Ok(());
        };
        let now_s = chrono::Utc::now().timestamp();
        let count = self.store.count_request(&caller.tenant, now_s / 60).await?;
        if count > u64::from(limit) {
            let retry_after_s = (60 - now_s % 60) as u64;
            warn!(tenant = %caller.tenant, limit, "tenant over its API requests per minute");
            crate::telemetry::emit_metrics(
                &[("RequestsThrottled", "Count", 1.0)],
                serde_json::json!({"TenantId": caller.tenant}),
            );
            return Err(Error::TenantRateLimited { limit, retry_after_s });
        }
        Ok(())
    }

    /// Resolves `Authorization: Bearer <key>` to its tenant and scope.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller> {
        let key = authorization
            .and_then(|h| h.get(..7).filter(|scheme| scheme.eq_ignore_ascii_case("bearer ")).map(|_| h[7..].trim()))
            .ok_or(Error::Unauthorized)?;
        let key_id = apikey::key_id(key).ok_or(Error::Unauthorized)?;
        let (tenant, hash, scope) = self.store.api_key(key_id).await?.ok_or(Error::Unauthorized)?;
        if apikey::matches(self.settings.api_key_pepper.expose(), key, &hash) {
            Ok(Caller { tenant, key_id: key_id.to_owned(), scope })
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// An audit row for a write of this caller (after it succeeded).
    pub(super) async fn audit(&self, caller: &Caller, action: &str, target: &str, detail: Option<&str>) -> Result<()> {
        self.store
            .audit(&AuditEntry {
                tenant: Some(&caller.tenant),
                actor: &caller.key_id,
                action,
                target: Some(target),
                detail,
            })
            .await
    }
}
