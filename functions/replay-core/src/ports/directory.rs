//! The directory: tenants, their API keys and limits, their webhooks and
//! sealed secrets, the audit trail, and the reads the API answers from
//! (MySQL in production, `adapters/mysql`). The job ledger
//! (`ports::ledger`) holds what jobs and slices do; this holds who may ask,
//! for what, and what they see.

use crate::domain::apikey::Scope;
use crate::domain::ids::{JobId, TenantId, WebhookId};
use crate::domain::job::{Job, JobState};
use crate::error::Result;
use async_trait::async_trait;
use replay_types::{Failure, Webhook};

pub use crate::domain::apikey::OPERATOR;

/// One write, as recorded in the audit trail (docs/security.md, "The audit trail").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    pub tenant: Option<&'a TenantId>,
    /// The API key's id, or [`OPERATOR`].
    pub actor: &'a str,
    /// `webhook.create`, `replay.cancel`, `key.revoke`, ... (docs/security.md).
    pub action: &'a str,
    /// The id of what was changed.
    pub target: Option<&'a str>,
    /// A short note for people; never a secret.
    pub detail: Option<&'a str>,
}

/// Which of a tenant's jobs a list holds, newest first (docs/api.md, "List
/// jobs").
#[derive(Debug, Clone, Copy, Default)]
pub struct JobListing<'a> {
    /// One webhook's jobs, or (`None`) the whole tenant's.
    pub webhook: Option<&'a WebhookId>,
    /// Jobs in one of these states; every state when empty.
    pub states: &'a [JobState],
    /// Jobs older than this one (the last of the previous page).
    pub before: Option<&'a JobKey>,
    pub limit: u32,
}

/// Where a job sorts in a list: by creation, newest first, then by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobKey {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub id: JobId,
}

/// A page of jobs, and where the next one starts (`None` on the last).
#[derive(Debug, Clone, Default)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next: Option<JobKey>,
}

/// A tenant's overrides of the fair-share defaults (`None`: the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TenantLimits {
    pub requests_per_minute: Option<u32>,
    pub max_active_jobs: Option<u32>,
    pub max_running_slices: Option<u32>,
}

/// A webhook's secrets as stored: what signing needs, nothing in plaintext
/// but a row the migration has not sealed yet.
#[derive(Clone)]
pub struct StoredSecrets {
    pub webhook_id: String,
    pub tenant_id: String,
    pub secret_sealed: Option<String>,
    /// A row of an earlier release, before `replayctl migrate` sealed it.
    pub legacy_plaintext: Option<String>,
    /// The secret a rotation replaced, while its grace period lasts.
    pub previous_sealed: Option<String>,
    /// Changes whenever what signs changes (a rotation, a grace period's
    /// end): a running slice compares it at each heartbeat.
    pub version: String,
}

// Secrets never reach a log line, even through Debug.
impl std::fmt::Debug for StoredSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecrets").field("webhook_id", &self.webhook_id).finish_non_exhaustive()
    }
}

/// A plaintext secret left by an earlier release, to be sealed.
pub struct PlaintextSecret {
    pub webhook_id: String,
    pub tenant_id: String,
    pub secret: String,
}

#[async_trait]
pub trait Directory: Send + Sync {
    async fn insert_tenant(&self, id: &TenantId, name: &str) -> Result<()>;
    async fn tenant_limits(&self, tenant: &TenantId) -> Result<TenantLimits>;
    /// Counts one request of the tenant in minute `minute`; the count so far.
    async fn count_request(&self, tenant: &TenantId, minute: i64) -> Result<u64>;

    /// Stores a key by its keyed hash, never in clear.
    async fn insert_api_key(&self, key_id: &str, tenant: &TenantId, key_hash: &[u8], scope: Scope) -> Result<()>;
    /// (tenant, stored hash, scope) of an unrevoked key.
    async fn api_key(&self, key_id: &str) -> Result<Option<(TenantId, Vec<u8>, Scope)>>;
    /// Revokes an unrevoked key; its tenant, `None` if there was none.
    async fn revoke_api_key(&self, key_id: &str) -> Result<Option<TenantId>>;

    async fn audit(&self, entry: &AuditEntry<'_>) -> Result<()>;

    async fn insert_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        url: &str,
        secret_sealed: &str,
    ) -> Result<Webhook>;
    /// A live webhook of the tenant.
    async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<Webhook>>;
    /// Up to `limit` of the tenant's live webhooks with an id after `after`, in id order.
    async fn list_webhooks(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> Result<Vec<Webhook>>;
    /// The tenant of a live webhook (operator actions name webhooks alone).
    async fn webhook_tenant(&self, id: &WebhookId) -> Result<Option<TenantId>>;
    /// Refused (409) while a job of the webhook is active.
    async fn update_webhook_url(&self, tenant: &TenantId, id: &WebhookId, url: &str) -> Result<Webhook>;
    /// Hides the webhook and wipes its secrets; refused while a job is active.
    async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<()>;
    /// What signing a webhook's deliveries needs (NotFound: no such webhook).
    async fn webhook_secrets(&self, id: &WebhookId) -> Result<StoredSecrets>;
    /// A new sealed secret; the current one signs beside it for `grace_s` seconds.
    async fn rotate_webhook_secret(&self, id: &WebhookId, secret_sealed: &str, grace_s: u64) -> Result<bool>;
    /// Plaintext secrets an earlier release left (the migration's sealing pass).
    async fn plaintext_secrets(&self, limit: u32) -> Result<Vec<PlaintextSecret>>;
    /// Replaces a plaintext secret by its sealed form, unless it changed meanwhile.
    async fn store_sealed(&self, plain: &PlaintextSecret, secret_sealed: &str) -> Result<bool>;

    /// The job an earlier request with this `Idempotency-Key` created, with that request's hash.
    async fn job_by_idempotency_key(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        key: &str,
    ) -> Result<Option<(JobId, Option<Vec<u8>>)>>;
    /// Jobs created for the webhook in the last `window_s` seconds, and the
    /// seconds until the oldest of them leaves the window.
    async fn recent_jobs(&self, webhook: &WebhookId, window_s: u32) -> Result<(u32, u64)>;
    /// Up to `listing.limit` of the tenant's jobs, newest first.
    async fn list_jobs(&self, tenant: &TenantId, listing: JobListing<'_>) -> Result<JobPage>;
    async fn failure_count(&self, job_id: &JobId) -> Result<u64>;
    /// Up to `limit` failures after event id `after`, in event id order.
    async fn failure_page(&self, job_id: &JobId, after: Option<&str>, limit: u32) -> Result<Vec<Failure>>;
    /// The delivery log's partition counts: (count, first seen in epoch ms), oldest first.
    async fn partition_history(&self, topic: &str) -> Result<Vec<(u32, i64)>>;
}
