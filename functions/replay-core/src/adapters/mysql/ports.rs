//! The ports MySQL serves, over the tables' own files: each method is the
//! table file's transaction of the same name. The job ledger (jobs.rs,
//! slices.rs, fair_share.rs, failures.rs, purge.rs) and the sweeper's
//! housekeeping (partitions.rs, audit.rs, tenants.rs).

use super::MySqlStore;
use crate::domain::ids::{JobId, TenantId};
use crate::domain::job::{Job, SliceState};
use crate::error::Result;
use crate::ports::ledger::{
    Created, JobLedger, JobTarget, NewJob, SliceEnd, SliceRecord, SliceTotals, StaleSlice, Take,
};
use crate::ports::Housekeeping;
use async_trait::async_trait;
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

    async fn dead_slices_of_cancelled_jobs(&self, quiet_s: u32) -> Result<Vec<(JobId, u32)>> {
        MySqlStore::dead_slices_of_cancelled_jobs(self, quiet_s).await
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
