//! The ports MySQL serves, over the tables' own files: each method is the
//! table file's transaction of the same name. The job ledger (jobs.rs,
//! slices.rs, fair_share.rs, failures.rs, purge.rs), the sweeper's
//! housekeeping (partitions.rs, audit.rs, tenants.rs) and the directory
//! (tenants.rs, webhooks.rs, audit.rs, and the API's reads of jobs.rs,
//! failures.rs and partitions.rs).

use super::MySqlStore;
use crate::domain::apikey::Scope;
use crate::domain::ids::WebhookId;
use crate::domain::ids::{JobId, TenantId};
use crate::domain::job::{Counters, Job, JobState, SliceState};
use crate::error::Result;
use crate::ports::directory::{
    AuditEntry, Directory, JobListing, JobPage, PlaintextSecret, StoredSecrets, TenantLimits,
};
use crate::ports::ledger::{
    Created, ExpiredPause, JobLedger, JobTarget, NewJob, PauseOrder, SliceEnd, SliceRecord, SliceTotals, StaleSlice,
    Take,
};
use crate::ports::Housekeeping;
use async_trait::async_trait;
use replay_types::{Failure, Webhook};
use std::time::Duration;

#[async_trait]
impl JobLedger for MySqlStore {
    async fn create_job(&self, job: NewJob<'_>) -> Result<Created> {
        MySqlStore::create_job(self, job).await
    }

    async fn mark_enqueued(&self, job_id: &JobId) -> Result<()> {
        MySqlStore::mark_enqueued(self, job_id).await
    }

    async fn job_view(&self, tenant: Option<&TenantId>, job_id: &JobId) -> Result<Option<Job>> {
        MySqlStore::job_view(self, tenant, job_id).await
    }

    async fn cancel_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>> {
        MySqlStore::cancel_job(self, tenant, job_id).await
    }

    async fn pause_job(&self, tenant: &TenantId, job_id: &JobId, pause: &PauseOrder<'_>) -> Result<Option<Job>> {
        MySqlStore::pause_job(self, tenant, job_id, pause).await
    }

    async fn resume_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>> {
        MySqlStore::resume_job(self, tenant, job_id).await
    }

    async fn record_receiver_check(&self, job_id: &JobId, failure: Option<&str>) -> Result<bool> {
        MySqlStore::record_receiver_check(self, job_id, failure).await
    }

    async fn failed_event_ids(&self, job_id: &JobId) -> Result<Vec<String>> {
        MySqlStore::failed_event_ids(self, job_id).await
    }

    async fn claim_slices(&self, job_id: &JobId, cap: u32) -> Result<Vec<u32>> {
        MySqlStore::claim_slices(self, job_id, cap).await
    }

    async fn waiting_slices(&self, job_id: &JobId) -> Result<Vec<u32>> {
        MySqlStore::waiting_slices(self, job_id).await
    }

    async fn take_slice(&self, default_cap: u32, pool: u32) -> Result<Take> {
        MySqlStore::take_slice(self, default_cap, pool).await
    }

    async fn slice(&self, job_id: &JobId, slice_index: u32) -> Result<Option<SliceRecord>> {
        MySqlStore::slice(self, job_id, slice_index).await
    }

    async fn start_slice(&self, job_id: &JobId, slice_index: u32) -> Result<()> {
        MySqlStore::start_slice(self, job_id, slice_index).await
    }

    async fn end_slice(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: Option<u64>,
        state: SliceState,
        totals: Option<SliceTotals<'_>>,
        cap: u32,
    ) -> Result<SliceEnd> {
        MySqlStore::end_slice(self, job_id, slice_index, token, state, totals, cap).await
    }

    async fn park_slice(&self, job_id: &JobId, slice_index: u32, token: u64, counters: &Counters) -> Result<JobState> {
        MySqlStore::park_slice(self, job_id, slice_index, token, counters).await
    }

    async fn pause_slice(&self, job_id: &JobId, slice_index: u32, token: u64, until_s: u32) -> Result<()> {
        MySqlStore::pause_slice(self, job_id, slice_index, token, until_s).await
    }

    async fn job_target(&self, job_id: &JobId) -> Result<JobTarget> {
        MySqlStore::job_target(self, job_id).await
    }

    async fn claim_status_event(&self, job_id: &JobId, claim_s: u32) -> Result<bool> {
        MySqlStore::claim_status_event(self, job_id, claim_s).await
    }

    async fn release_status_claim(&self, job_id: &JobId) -> Result<()> {
        MySqlStore::release_status_claim(self, job_id).await
    }

    async fn mark_status_sent(&self, job_id: &JobId) -> Result<()> {
        MySqlStore::mark_status_sent(self, job_id).await
    }

    async fn mark_status_enqueued(&self, job_id: &JobId) -> Result<()> {
        MySqlStore::mark_status_enqueued(self, job_id).await
    }

    async fn jobs_missing_status_event(&self, requeue_after_s: u32) -> Result<Vec<JobId>> {
        MySqlStore::jobs_missing_status_event(self, requeue_after_s).await
    }

    async fn claim_unenqueued_jobs(&self, older_than_s: u32, claim_s: u32) -> Result<Vec<JobId>> {
        MySqlStore::claim_unenqueued_jobs(self, older_than_s, claim_s).await
    }

    async fn claim_stale_slices(&self, stale_s: u32) -> Result<Vec<StaleSlice>> {
        MySqlStore::claim_stale_slices(self, stale_s).await
    }

    async fn claim_lost_slices(&self, older_than_s: u32, default_cap: u32, limit: u32) -> Result<Vec<(JobId, u32)>> {
        MySqlStore::claim_lost_slices(self, older_than_s, default_cap, limit).await
    }

    async fn slices_waiting_count(&self) -> Result<u64> {
        MySqlStore::slices_waiting_count(self).await
    }

    async fn messages_besides_wake_ups(&self) -> Result<u64> {
        MySqlStore::messages_besides_wake_ups(self).await
    }

    async fn stalled_jobs(&self, quiet_s: u32) -> Result<Vec<JobId>> {
        MySqlStore::stalled_jobs(self, quiet_s).await
    }

    async fn dead_slices_of_ended_jobs(&self, quiet_s: u32) -> Result<Vec<(JobId, u32)>> {
        MySqlStore::dead_slices_of_ended_jobs(self, quiet_s).await
    }

    async fn park_idle_slices(&self, quiet_s: u32) -> Result<u32> {
        MySqlStore::park_idle_slices(self, quiet_s).await
    }

    async fn expire_pauses(&self) -> Result<Vec<ExpiredPause>> {
        MySqlStore::expire_pauses(self).await
    }

    async fn purge_ended_jobs(&self, retention: Duration, limit: u32) -> Result<u32> {
        MySqlStore::purge_ended_jobs(self, retention, limit).await
    }
}

#[async_trait]
impl Housekeeping for MySqlStore {
    async fn record_partition_count(&self, topic: &str, partitions: u32) -> Result<()> {
        MySqlStore::record_partition_count(self, topic, partitions).await
    }

    async fn purge_audit(&self, retention: Duration, limit: u32) -> Result<u32> {
        MySqlStore::purge_audit(self, retention, limit).await
    }

    async fn purge_request_counts(&self, before_minute: i64) -> Result<u64> {
        MySqlStore::purge_request_counts(self, before_minute).await
    }
}

#[async_trait]
impl Directory for MySqlStore {
    async fn insert_tenant(&self, id: &TenantId, name: &str) -> Result<()> {
        MySqlStore::insert_tenant(self, id, name).await
    }

    async fn tenant_limits(&self, tenant: &TenantId) -> Result<TenantLimits> {
        MySqlStore::tenant_limits(self, tenant).await
    }

    async fn count_request(&self, tenant: &TenantId, minute: i64) -> Result<u64> {
        MySqlStore::count_request(self, tenant, minute).await
    }

    async fn insert_api_key(&self, key_id: &str, tenant: &TenantId, key_hash: &[u8], scope: Scope) -> Result<()> {
        MySqlStore::insert_api_key(self, key_id, tenant, key_hash, scope).await
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<(TenantId, Vec<u8>, Scope)>> {
        MySqlStore::api_key(self, key_id).await
    }

    async fn revoke_api_key(&self, key_id: &str) -> Result<Option<TenantId>> {
        MySqlStore::revoke_api_key(self, key_id).await
    }

    async fn audit(&self, entry: &AuditEntry<'_>) -> Result<()> {
        MySqlStore::audit(self, entry).await
    }

    async fn insert_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        url: &str,
        secret_sealed: &str,
    ) -> Result<Webhook> {
        Ok(MySqlStore::insert_webhook(self, tenant, id, url, secret_sealed).await?.into_webhook())
    }

    async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<Webhook>> {
        Ok(MySqlStore::webhook(self, tenant, id).await?.map(|row| row.into_webhook()))
    }

    async fn list_webhooks(&self, tenant: &TenantId, after: Option<&str>, limit: u32) -> Result<Vec<Webhook>> {
        Ok(MySqlStore::list_webhooks(self, tenant, after, limit)
            .await?
            .into_iter()
            .map(|row| row.into_webhook())
            .collect())
    }

    async fn webhook_tenant(&self, id: &WebhookId) -> Result<Option<TenantId>> {
        MySqlStore::webhook_tenant(self, id).await
    }

    async fn update_webhook_url(&self, tenant: &TenantId, id: &WebhookId, url: &str) -> Result<Webhook> {
        Ok(MySqlStore::update_webhook_url(self, tenant, id, url).await?.into_webhook())
    }

    async fn delete_webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<()> {
        MySqlStore::delete_webhook(self, tenant, id).await
    }

    async fn webhook_secrets(&self, id: &WebhookId) -> Result<StoredSecrets> {
        MySqlStore::webhook_secrets(self, id).await
    }

    async fn rotate_webhook_secret(&self, id: &WebhookId, secret_sealed: &str, grace_s: u64) -> Result<bool> {
        MySqlStore::rotate_webhook_secret(self, id, secret_sealed, grace_s).await
    }

    async fn plaintext_secrets(&self, limit: u32) -> Result<Vec<PlaintextSecret>> {
        MySqlStore::plaintext_secrets(self, limit).await
    }

    async fn store_sealed(&self, plain: &PlaintextSecret, secret_sealed: &str) -> Result<bool> {
        MySqlStore::store_sealed(self, plain, secret_sealed).await
    }

    async fn job_by_idempotency_key(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        key: &str,
    ) -> Result<Option<(JobId, Option<Vec<u8>>)>> {
        MySqlStore::job_by_idempotency_key(self, tenant, webhook, key).await
    }

    async fn recent_jobs(&self, webhook: &WebhookId, window_s: u32) -> Result<(u32, u64)> {
        MySqlStore::recent_jobs(self, webhook, window_s).await
    }

    async fn list_jobs(&self, tenant: &TenantId, listing: JobListing<'_>) -> Result<JobPage> {
        MySqlStore::list_jobs(self, tenant, listing).await
    }

    async fn failure_count(&self, job_id: &JobId) -> Result<u64> {
        MySqlStore::failure_count(self, job_id).await
    }

    async fn failure_page(&self, job_id: &JobId, after: Option<&str>, limit: u32) -> Result<Vec<Failure>> {
        MySqlStore::failure_page(self, job_id, after, limit).await
    }

    async fn partition_history(&self, topic: &str) -> Result<Vec<(u32, i64)>> {
        MySqlStore::partition_history(self, topic).await
    }
}
