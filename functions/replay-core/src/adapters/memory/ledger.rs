//! The job ledger in memory, for unit tests and the simulation: the same
//! atomic steps as MySQL's (adapters/mysql: jobs.rs, slices.rs,
//! fair_share.rs, failures.rs, purge.rs), each under one lock, over a clock
//! that follows tokio's (virtual on a paused runtime). The contract suite
//! (`ports::ledger_contract`) runs against both, so this fake cannot drift.

use super::lock;
use crate::domain::checkpoint::Tally;
use crate::domain::filter::shown;
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::{
    expired_pause_state, final_state, paused_reason, slice_share, Counters, Job, JobLimits, JobPause, JobState,
    PausedBy, Progress, SliceState,
};
use crate::domain::pace::SlicePace;
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::ledger::{
    Created, ExpiredPause, JobLedger, JobTarget, NewJob, PauseOrder, SliceEnd, SliceRecord, SliceTotals, StaleSlice,
    Take, PACE_FRESH_S, RESTART_WAIT_PERIODS,
};
use crate::ports::{Beat, FailedEvent, SliceProgress};
use async_trait::async_trait;
use replay_types::{DryRunResult, JobPace, JobResult, Selection};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

/// Milliseconds on the ledger's clock.
type Ms = i64;

/// Where the clock starts (2026-12-01T00:00:00Z): a fixed epoch keeps the
/// simulation's traces the same run after run.
const EPOCH_MS: Ms = 1_796_083_200_000;

#[derive(Default)]
struct TenantRow {
    /// `tenant_limits.max_running_slices` (None: the default cap).
    max_running_slices: Option<u32>,
    last_slice_taken_at: Option<Ms>,
}

struct WebhookRow {
    tenant_id: TenantId,
    url: String,
    deleted: bool,
}

struct JobRow {
    tenant_id: TenantId,
    webhook_id: WebhookId,
    window: Window,
    partitions: Vec<u32>,
    state: JobState,
    state_reason: Option<String>,
    idempotency_key: Option<String>,
    request_hash: [u8; 32],
    selection: Option<Selection>,
    dry_run: bool,
    retry_of: Option<JobId>,
    slices_total: u32,
    created_at: Ms,
    updated_at: Ms,
    enqueued_at: Option<Ms>,
    enqueue_claim_until: Option<Ms>,
    status_claim_until: Option<Ms>,
    status_enqueued_at: Option<Ms>,
    status_sent_at: Option<Ms>,
    /// The last pause, and the state a resume returns to.
    pause: Option<PauseRow>,
    paused_from: Option<JobState>,
    /// The webhook delivered to, when not its own.
    target: Option<WebhookId>,
    crc_check: bool,
    crc_passed: bool,
    limits: JobLimits,
    ordering_key: Option<String>,
}

impl JobRow {
    /// The webhook its deliveries go to.
    fn delivered_to(&self) -> &WebhookId {
        self.target.as_ref().unwrap_or(&self.webhook_id)
    }
    /// Whether it holds `webhook` (its own, or its target) while live.
    fn holds(&self, webhook: &WebhookId) -> bool {
        self.live() && !self.dry_run && (self.webhook_id == *webhook || self.target.as_ref() == Some(webhook))
    }
}

struct PauseRow {
    at: Ms,
    by: PausedBy,
    reason: Option<String>,
    expires_at: Ms,
    resumed_at: Option<Ms>,
}

impl PauseRow {
    fn view(&self) -> JobPause {
        JobPause {
            paused_at: format_ms(self.at),
            paused_by: self.by,
            reason: self.reason.clone(),
            expires_at: format_ms(self.expires_at),
            resumed_at: self.resumed_at.map(format_ms),
        }
    }
}

impl JobRow {
    /// Its slices may run.
    fn active(&self) -> bool {
        self.state.is_active()
    }
    /// It holds its webhook and its tenant's active-job slot (active or paused).
    fn live(&self) -> bool {
        self.state.is_live()
    }
}

struct SliceRow {
    window: Window,
    planned: Vec<(u32, i64, i64)>,
    state: SliceState,
    enqueued_at: Option<Ms>,
    heartbeat_at: Option<Ms>,
    paused_until: Option<Ms>,
    restarts: u32,
    /// The last restart's message waits for a worker (`start_slice` clears
    /// it), sent at `restart_sent_at`.
    restart_waiting: bool,
    restart_sent_at: Option<Ms>,
    lease_token: u64,
    counters: Counters,
    tally: Option<Tally>,
    /// The pace its last heartbeat reported, and when.
    pace: Option<(SlicePace, Ms)>,
}

impl SliceRow {
    fn waiting(&self) -> bool {
        self.state == SliceState::Pending && self.enqueued_at.is_some()
    }
    /// Running, or claimed and waiting for a worker: it counts against the job's cap.
    fn busy(&self) -> bool {
        self.state == SliceState::Running || self.waiting()
    }
}

#[derive(Default)]
struct State {
    /// How far the clock was moved on by hand (`advance`).
    advanced_ms: Ms,
    tenants: BTreeMap<TenantId, TenantRow>,
    webhooks: BTreeMap<WebhookId, WebhookRow>,
    jobs: BTreeMap<JobId, JobRow>,
    slices: BTreeMap<(JobId, u32), SliceRow>,
    failures: BTreeMap<(JobId, String), FailedEvent>,
    found: BTreeSet<(JobId, String)>,
}

fn format_ms(ms: Ms) -> String {
    EventTime(ms).to_rfc3339()
}

fn older(at: Option<Ms>, than: Ms) -> bool {
    at.is_some_and(|at| at < than)
}

fn secs(s: u32) -> Ms {
    i64::from(s) * 1_000
}

/// Jobs, slices, failures and found events; webhooks and tenants as far as
/// the ledger reads them.
pub struct MemoryLedger {
    started: tokio::time::Instant,
    state: Mutex<State>,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self { started: tokio::time::Instant::now(), state: Mutex::default() }
    }
}

impl MemoryLedger {
    fn now(&self, state: &State) -> Ms {
        EPOCH_MS + self.started.elapsed().as_millis() as Ms + state.advanced_ms
    }

    /// Sets a job's marks (its timestamps) at the ledger's now, if it exists.
    fn mark_job(&self, job_id: &JobId, mark: impl FnOnce(&mut JobRow, Ms)) {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        if let Some(job) = state.jobs.get_mut(job_id) {
            mark(job, now);
        }
    }

    /// Moves the ledger's clock on, as if `by` had passed.
    pub fn advance(&self, by: Duration) {
        lock(&self.state).advanced_ms += by.as_millis() as Ms;
    }

    pub fn add_tenant(&self, tenant: &TenantId) {
        lock(&self.state).tenants.entry(tenant.clone()).or_default();
    }

    pub fn add_webhook(&self, tenant: &TenantId, webhook: &WebhookId, url: &str) {
        let mut state = lock(&self.state);
        state.tenants.entry(tenant.clone()).or_default();
        let row = WebhookRow { tenant_id: tenant.clone(), url: url.into(), deleted: false };
        state.webhooks.insert(webhook.clone(), row);
    }

    /// Deletes a webhook (as `DELETE /v1/webhooks/{id}` does, once its jobs ended).
    pub fn delete_webhook(&self, webhook: &WebhookId) {
        if let Some(w) = lock(&self.state).webhooks.get_mut(webhook) {
            w.deleted = true;
        }
    }

    /// The tenant's own cap of running slices (None: the default).
    pub fn set_running_cap(&self, tenant: &TenantId, cap: Option<u32>) {
        lock(&self.state).tenants.entry(tenant.clone()).or_default().max_running_slices = cap;
    }

    /// Whether the job's status event was sent (or done with).
    pub fn status_sent(&self, job_id: &JobId) -> bool {
        lock(&self.state).jobs.get(job_id).is_some_and(|j| j.status_sent_at.is_some())
    }

    /// The job's running slices whose heartbeat is older than `quiet`: no
    /// live worker holds them.
    pub fn quiet_running(&self, job_id: &JobId, quiet: Duration) -> usize {
        let state = lock(&self.state);
        let before = self.now(&state) - quiet.as_millis() as Ms;
        state.slices_of(job_id).filter(|(_, s)| s.state == SliceState::Running && older(s.heartbeat_at, before)).count()
    }

    /// Whether the job is paused now.
    pub fn is_paused(&self, job_id: &JobId) -> bool {
        lock(&self.state).jobs.get(job_id).is_some_and(|j| j.state == JobState::Paused)
    }

    /// The states of the job's slices, in order.
    pub fn slice_states(&self, job_id: &JobId) -> Vec<SliceState> {
        lock(&self.state).slices_of(job_id).map(|(_, s)| s.state).collect()
    }

    /// Slices running now, per tenant.
    pub fn running_by_tenant(&self) -> BTreeMap<TenantId, u32> {
        let state = lock(&self.state);
        let mut running = BTreeMap::new();
        for ((job, _), s) in &state.slices {
            if s.state == SliceState::Running {
                *running.entry(state.jobs[job].tenant_id.clone()).or_default() += 1;
            }
        }
        running
    }

    /// Every failure recorded for the job, in event id order.
    pub fn failures(&self, job_id: &JobId) -> Vec<FailedEvent> {
        let state = lock(&self.state);
        state.failures.iter().filter(|((j, _), _)| j == job_id).map(|(_, f)| f.clone()).collect()
    }
}

impl State {
    fn running(&self) -> usize {
        self.slices.values().filter(|s| s.state == SliceState::Running).count()
    }

    fn running_of(&self, tenant: &TenantId) -> u32 {
        self.slices
            .iter()
            .filter(|((job, _), s)| s.state == SliceState::Running && self.jobs[job].tenant_id == *tenant)
            .count() as u32
    }

    /// The tenant's cap of running slices (0: none).
    fn running_cap(&self, tenant: &TenantId, default_cap: u32) -> u32 {
        self.tenants.get(tenant).and_then(|t| t.max_running_slices).unwrap_or(default_cap)
    }

    fn under_running_cap(&self, tenant: &TenantId, default_cap: u32) -> bool {
        let cap = self.running_cap(tenant, default_cap);
        cap == 0 || self.running_of(tenant) < cap
    }

    fn slices_of<'a>(&'a self, job_id: &'a JobId) -> impl Iterator<Item = (u32, &'a SliceRow)> + 'a {
        self.slices.range((job_id.clone(), 0)..=(job_id.clone(), u32::MAX)).map(|((_, i), s)| (*i, s))
    }

    fn slice_indexes(&self, job_id: &JobId, keep: impl Fn(&SliceRow) -> bool) -> Vec<u32> {
        self.slices_of(job_id).filter(|(_, s)| keep(s)).map(|(i, _)| i).collect()
    }

    /// Sums of the slices' counters, slices ended, slices failed.
    fn totals(&self, job_id: &JobId) -> (Counters, u32, u32) {
        let (mut counters, mut ended, mut failed) = (Counters::default(), 0, 0);
        for (_, s) in self.slices_of(job_id) {
            counters.add(&s.counters);
            ended += u32::from(s.state.has_ended());
            failed += u32::from(s.state == SliceState::Failed);
        }
        (counters, ended, failed)
    }

    fn claim(&mut self, job_id: &JobId, cap: u32, now: Ms) -> Vec<u32> {
        // A paused job's slices wait for its resume.
        let Some(job) = self.jobs.get(job_id).filter(|j| j.active()) else { return Vec::new() };
        let cap = slice_share(&job.limits, cap).parallel;
        let busy = self.slices_of(job_id).filter(|(_, s)| s.busy()).count() as u32;
        let room = cap.saturating_sub(busy) as usize;
        let free: Vec<u32> = self
            .slice_indexes(job_id, |s| s.state == SliceState::Pending && s.enqueued_at.is_none())
            .into_iter()
            .take(room)
            .collect();
        for &i in &free {
            self.slices.get_mut(&(job_id.clone(), i)).expect("a slice just listed").enqueued_at = Some(now);
        }
        free
    }

    /// A slice of the job still to start or running: its status event waits
    /// for it (a cancelled job ends at once, its running slices within a heartbeat).
    fn slice_left(&self, job_id: &JobId) -> bool {
        self.slices_of(job_id).any(|(_, s)| matches!(s.state, SliceState::Pending | SliceState::Running))
    }

    fn cancel_pending(&mut self, job_id: &JobId) {
        for ((job, _), s) in self.slices.iter_mut() {
            if job == job_id && s.state == SliceState::Pending {
                s.state = SliceState::Cancelled;
            }
        }
    }

    /// Ends a live job before its slices all ended (its pause expired, its
    /// receiver check failed), as a cancel does (MySQL: `end_early_in`).
    fn end_early(&mut self, job_id: &JobId, ending: JobState, reason: &str, now: Ms) {
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.state = ending;
            job.state_reason = Some(reason.chars().take(500).collect());
            job.paused_from = None;
            job.updated_at = now;
        }
        self.cancel_pending(job_id);
    }

    /// Ends an active job whose slices all ended; its state once terminal.
    fn finalize(&mut self, job_id: &JobId, now: Ms) -> Result<Option<JobState>> {
        let (counters, ended, failed) = self.totals(job_id);
        let job = self.jobs.get_mut(job_id).ok_or(Error::NotFound)?;
        if ended < job.slices_total {
            return Ok(None);
        }
        if job.state.is_terminal() {
            return Ok(Some(job.state));
        }
        let (state, reason) = final_state(&counters, failed, job.slices_total, job.dry_run);
        if job.live() {
            job.state = state;
            job.state_reason = Some(reason.chars().take(500).collect());
            job.updated_at = now;
        }
        Ok(Some(state))
    }

    fn view(&self, tenant: Option<&TenantId>, job_id: &JobId) -> Option<Job> {
        let job = self.jobs.get(job_id).filter(|j| tenant.is_none_or(|t| *t == j.tenant_id))?;
        let (counters, slices_done, _) = self.totals(job_id);
        let selection = job.selection.clone().unwrap_or_default();
        let result = job.state.is_terminal().then(|| self.result_of(job_id, &selection, &counters));
        Some(Job {
            job_id: job_id.clone(),
            webhook_id: job.webhook_id.clone(),
            from: job.window.from.to_rfc3339(),
            to: job.window.to.to_rfc3339(),
            state: job.state,
            state_reason: job.state_reason.clone(),
            created_at: format_ms(job.created_at),
            updated_at: format_ms(job.updated_at),
            progress: Progress { slices_total: job.slices_total, slices_done, counters },
            selection: shown(selection),
            result,
            pause: job.pause.as_ref().map(PauseRow::view),
            target_webhook_id: job.target.clone(),
            crc_check: job.crc_check,
            limits: job.limits,
            ordering_key: job.ordering_key.clone(),
            pace: job.active().then(|| self.pace_of(job_id)).flatten(),
        })
    }

    /// The pace of the job's running slices, from their last heartbeats: a
    /// slice whose latest write was not a heartbeat reports none (MySQL: `pace_of`).
    fn pace_of(&self, job_id: &JobId) -> Option<JobPace> {
        let running = self.slices_of(job_id).filter(|(_, s)| s.state == SliceState::Running);
        let beating = running.filter_map(|(_, s)| s.pace.filter(|(_, at)| s.heartbeat_at.is_none_or(|h| *at >= h)));
        let limits: Vec<u32> = beating.map(|(p, _)| p.in_flight).collect();
        (!limits.is_empty()).then(|| JobPace { in_flight: limits.iter().sum(), slices_running: limits.len() as u32 })
    }

    fn result_of(&self, job_id: &JobId, selection: &Selection, counters: &Counters) -> JobResult {
        let mut result = JobResult {
            failures: counters.delivery_failures,
            failure_report: format!("/v1/replays/{job_id}/failures"),
            ..JobResult::default()
        };
        if let (Some(ids), None) = (&selection.event_ids, &selection.failures_of) {
            let found = |id: &String| self.found.contains(&(job_id.clone(), id.clone()));
            result.not_found = ids.iter().filter(|id| !found(id)).cloned().collect();
        }
        if selection.dry_run {
            let mut total = Tally::default();
            for (_, s) in self.slices_of(job_id) {
                if let Some(t) = &s.tally {
                    total.add(t);
                }
            }
            result.dry_run = Some(DryRunResult {
                by_event_type: total.by_event_type,
                payload_bytes: total.payload_bytes,
                estimated_seconds: 0.0,
            });
        }
        result
    }
}

#[async_trait]
impl JobLedger for MemoryLedger {
    async fn create_job(&self, new: NewJob<'_>) -> Result<Created> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let live = state.webhooks.get(new.webhook_id).filter(|w| w.tenant_id == *new.tenant_id && !w.deleted);
        live.ok_or(Error::NotFound)?;
        if let Some(target) = new.target_webhook_id {
            let ours = state.webhooks.get(target).is_some_and(|w| w.tenant_id == *new.tenant_id && !w.deleted);
            if !ours {
                return Err(Error::InvalidRequest(format!(
                    "`target_webhook_id`: {target} is not a webhook of this tenant"
                )));
            }
        }
        if let Some(key) = new.idempotency_key {
            let earlier = state.jobs.iter().find(|(_, j)| {
                j.tenant_id == *new.tenant_id
                    && j.webhook_id == *new.webhook_id
                    && j.idempotency_key.as_deref() == Some(key)
            });
            if let Some((id, job)) = earlier {
                if job.request_hash != new.request_hash {
                    return Err(Error::InvalidRequest(
                        "Idempotency-Key was already used with a different request".into(),
                    ));
                }
                return Ok(Created::Existing(state.view(Some(new.tenant_id), id).ok_or(Error::NotFound)?));
            }
        }
        if let Some(limit) = new.max_active_jobs {
            let active = state.jobs.values().filter(|j| j.tenant_id == *new.tenant_id && j.live()).count();
            if active >= limit as usize {
                return Err(Error::TooManyActiveJobs { limit });
            }
        }
        let dry_run = new.selection.is_some_and(|s| s.dry_run);
        if !dry_run {
            // The webhook's one active job, and its target's (MySQL:
            // `active_webhook_id` and `active_target_id`).
            let held = [Some(new.webhook_id), new.target_webhook_id];
            let running = state.jobs.iter().find(|(_, j)| held.iter().flatten().any(|w| j.holds(w)));
            if let Some((id, _)) = running {
                return Err(Error::JobAlreadyRunning { job_id: id.to_string() });
            }
        }
        let row = JobRow {
            tenant_id: new.tenant_id.clone(),
            webhook_id: new.webhook_id.clone(),
            window: Window { from: new.from, to: new.to },
            partitions: new.partitions.to_vec(),
            state: JobState::Open,
            state_reason: None,
            idempotency_key: new.idempotency_key.map(str::to_owned),
            request_hash: new.request_hash,
            selection: new.selection.filter(|s| !s.is_everything()).cloned(),
            dry_run,
            retry_of: new.retry_of.cloned(),
            slices_total: new.slices.len() as u32,
            created_at: now,
            updated_at: now,
            enqueued_at: None,
            enqueue_claim_until: None,
            status_claim_until: None,
            status_enqueued_at: None,
            status_sent_at: None,
            pause: None,
            paused_from: None,
            target: new.target_webhook_id.cloned(),
            crc_check: new.crc_check,
            crc_passed: false,
            limits: new.limits,
            ordering_key: new.ordering_key.map(str::to_owned),
        };
        state.jobs.insert(new.id.clone(), row);
        for (i, s) in new.slices.iter().enumerate() {
            let slice = SliceRow {
                window: Window { from: s.from, to: s.to },
                planned: s.planned.clone(),
                state: SliceState::Pending,
                enqueued_at: None,
                heartbeat_at: None,
                paused_until: None,
                restarts: 0,
                restart_waiting: false,
                restart_sent_at: None,
                lease_token: 0,
                counters: Counters::default(),
                tally: None,
                pace: None,
            };
            state.slices.insert((new.id.clone(), i as u32), slice);
        }
        Ok(Created::New(state.view(Some(new.tenant_id), new.id).ok_or(Error::NotFound)?))
    }

    async fn mark_enqueued(&self, job_id: &JobId) -> Result<()> {
        self.mark_job(job_id, |job, now| {
            job.enqueued_at = Some(now);
            job.enqueue_claim_until = None;
        });
        Ok(())
    }

    async fn job_view(&self, tenant: Option<&TenantId>, job_id: &JobId) -> Result<Option<Job>> {
        Ok(lock(&self.state).view(tenant, job_id))
    }

    async fn cancel_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        if let Some(job) = state.jobs.get_mut(job_id).filter(|j| j.tenant_id == *tenant && j.live()) {
            job.state = JobState::Cancelled;
            job.state_reason = Some("cancelled by request".into());
            job.updated_at = now;
            state.cancel_pending(job_id);
        }
        Ok(state.view(Some(tenant), job_id))
    }

    async fn pause_job(&self, tenant: &TenantId, job_id: &JobId, pause: &PauseOrder<'_>) -> Result<Option<Job>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        if let Some(job) = state.jobs.get_mut(job_id).filter(|j| j.tenant_id == *tenant && j.active()) {
            let reason = pause.reason.map(|r| r.chars().take(200).collect::<String>());
            job.paused_from = Some(job.state);
            job.state = JobState::Paused;
            job.state_reason = Some(paused_reason(pause.by, reason.as_deref()));
            job.pause = Some(PauseRow {
                at: now,
                by: pause.by,
                reason,
                expires_at: now + secs(pause.expires_in_s),
                resumed_at: None,
            });
            job.updated_at = now;
            for ((job, _), s) in state.slices.iter_mut() {
                if job != job_id {
                    continue;
                }
                if s.state == SliceState::Pending {
                    s.enqueued_at = None;
                }
                if s.state == SliceState::Running && s.paused_until.is_some_and(|until| until > now) {
                    // Waiting out its receiver: no worker holds it.
                    s.state = SliceState::Pending;
                    s.enqueued_at = None;
                    s.paused_until = None;
                    s.restart_waiting = false;
                }
            }
        }
        Ok(state.view(Some(tenant), job_id))
    }

    async fn resume_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let paused = |j: &&mut JobRow| j.tenant_id == *tenant && j.state == JobState::Paused;
        if let Some(job) = state.jobs.get_mut(job_id).filter(paused) {
            job.state = job.paused_from.take().unwrap_or(JobState::Started);
            job.state_reason = None;
            if let Some(p) = job.pause.as_mut() {
                p.resumed_at = Some(now);
            }
            job.updated_at = now;
        }
        Ok(state.view(Some(tenant), job_id))
    }

    async fn record_receiver_check(&self, job_id: &JobId, failure: Option<&str>) -> Result<bool> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let job = state.jobs.get_mut(job_id).ok_or(Error::NotFound)?;
        if failure.is_none() || job.crc_passed {
            // A pass lets only a job that still runs deliver.
            job.crc_passed |= job.live();
            return Ok(job.live());
        }
        if let (true, Some(reason)) = (job.live(), failure) {
            state.end_early(job_id, JobState::Failed, reason, now);
        }
        Ok(false)
    }

    async fn failed_event_ids(&self, job_id: &JobId) -> Result<Vec<String>> {
        Ok(self.failures(job_id).into_iter().map(|f| f.event_id).collect())
    }

    async fn claim_slices(&self, job_id: &JobId, cap: u32) -> Result<Vec<u32>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        Ok(state.claim(job_id, cap, now))
    }

    async fn waiting_slices(&self, job_id: &JobId) -> Result<Vec<u32>> {
        Ok(lock(&self.state).slice_indexes(job_id, SliceRow::waiting))
    }

    async fn take_slice(&self, default_cap: u32, pool: u32) -> Result<Take> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let pool_full = pool > 0 && state.running() >= pool as usize;
        // The fairest first (adapters/mysql/fair_share.rs): fewest running,
        // then served longest ago (never first), then the oldest claim.
        let chosen = state
            .slices
            .iter()
            .filter(|(_, s)| s.waiting() && !pool_full)
            .filter_map(|((job_id, index), s)| {
                let job = &state.jobs[job_id];
                let tenant = &job.tenant_id;
                (job.active() && state.under_running_cap(tenant, default_cap)).then(|| {
                    let served = state.tenants.get(tenant).and_then(|t| t.last_slice_taken_at);
                    let order = (state.running_of(tenant), served.is_some(), served, s.enqueued_at);
                    (order, job_id.clone(), *index, tenant.clone())
                })
            })
            .min();
        let Some((_, job_id, slice_index, tenant_id)) = chosen else {
            let waiting = state.slices.iter().any(|((job, _), s)| s.waiting() && state.jobs[job].active());
            return Ok(if waiting { Take::Defer } else { Take::Nothing });
        };
        let slice = state.slices.get_mut(&(job_id.clone(), slice_index)).expect("the slice chosen");
        slice.state = SliceState::Running;
        slice.heartbeat_at = Some(now);
        slice.paused_until = None;
        state.tenants.entry(tenant_id.clone()).or_default().last_slice_taken_at = Some(now);
        let job = state.jobs.get_mut(&job_id).expect("the slice's job");
        job.updated_at = now;
        job.enqueued_at.get_or_insert(now);
        if job.state == JobState::Open {
            job.state = JobState::Started;
        }
        Ok(Take::Run { job_id, slice_index, tenant_id })
    }

    async fn slice(&self, job_id: &JobId, slice_index: u32) -> Result<Option<SliceRecord>> {
        let state = lock(&self.state);
        let Some(slice) = state.slices.get(&(job_id.clone(), slice_index)) else { return Ok(None) };
        let job = &state.jobs[job_id];
        let webhook = state.webhooks.get(job.delivered_to()).ok_or(Error::NotFound)?;
        // The job's latest fresh pace with a baseline (MySQL: the same join).
        let fresh = self.now(&state) - secs(PACE_FRESH_S);
        let latest = state
            .slices_of(job_id)
            .filter_map(|(_, s)| s.pace)
            .filter(|(p, at)| p.baseline_ms.is_some() && *at > fresh);
        let pace = latest.max_by_key(|(_, at)| *at).map(|(p, _)| p);
        Ok(Some(SliceRecord {
            job_id: job_id.clone(),
            slice_index,
            job_state: job.state,
            slice_state: slice.state,
            tenant_id: job.tenant_id.clone(),
            webhook_id: job.webhook_id.clone(),
            url: webhook.url.clone(),
            target_webhook_id: job.target.clone(),
            crc_pending: job.crc_check && !job.crc_passed,
            limits: job.limits,
            ordering_key: job.ordering_key.clone(),
            pace,
            partitions: job.partitions.clone(),
            window: slice.window,
            planned: slice.planned.clone(),
            selection: job.selection.clone().unwrap_or_default(),
        }))
    }

    async fn start_slice(&self, job_id: &JobId, slice_index: u32) -> Result<()> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        if let Some(s) = state.slices.get_mut(&(job_id.clone(), slice_index)) {
            if matches!(s.state, SliceState::Pending | SliceState::Running) {
                s.state = SliceState::Running;
                s.heartbeat_at = Some(now);
                s.paused_until = None;
                s.restart_waiting = false;
                s.enqueued_at.get_or_insert(now);
            }
        }
        if let Some(job) = state.jobs.get_mut(job_id).filter(|j| j.state == JobState::Open) {
            job.state = JobState::Started;
            job.updated_at = now;
            job.enqueued_at.get_or_insert(now);
        }
        Ok(())
    }

    async fn end_slice(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: Option<u64>,
        ending: SliceState,
        totals: Option<SliceTotals<'_>>,
        cap: u32,
    ) -> Result<SliceEnd> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let mut end = SliceEnd::default();
        if let Some(s) = state.slices.get_mut(&(job_id.clone(), slice_index)) {
            let holder = token.is_none_or(|t| s.lease_token <= t);
            if matches!(s.state, SliceState::Pending | SliceState::Running) && holder {
                s.state = ending;
                s.heartbeat_at = Some(now);
                if let Some(t) = totals {
                    s.counters = *t.counters;
                    if !t.tally.is_empty() {
                        s.tally = Some(t.tally.clone());
                    }
                }
                if let Some(t) = token {
                    s.lease_token = t;
                }
                end.ended = true;
            }
        }
        if end.ended {
            if ending == SliceState::Cancelled {
                state.cancel_pending(job_id);
            } else {
                end.claimed = state.claim(job_id, cap, now);
            }
        }
        end.job_ended = state.finalize(job_id, now)?;
        end.dry_run = state.jobs[job_id].dry_run;
        Ok(end)
    }

    async fn park_slice(&self, job_id: &JobId, slice_index: u32, token: u64, counters: &Counters) -> Result<JobState> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let job_state = state.jobs.get(job_id).ok_or(Error::NotFound)?.state;
        if job_state == JobState::Paused {
            if let Some(s) = state.slices.get_mut(&(job_id.clone(), slice_index)) {
                if s.state == SliceState::Running && s.lease_token <= token {
                    s.state = SliceState::Pending;
                    s.enqueued_at = None;
                    s.paused_until = None;
                    s.restart_waiting = false;
                    s.restarts = 0;
                    s.heartbeat_at = Some(now);
                    s.counters = *counters;
                    s.lease_token = token;
                }
            }
        }
        Ok(job_state)
    }

    async fn pause_slice(&self, job_id: &JobId, slice_index: u32, token: u64, until_s: u32) -> Result<()> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        if let Some(s) = state.slices.get_mut(&(job_id.clone(), slice_index)) {
            if s.state == SliceState::Running && s.lease_token <= token {
                s.paused_until = Some(now + secs(until_s));
                s.heartbeat_at = Some(now);
            }
        }
        Ok(())
    }

    async fn job_target(&self, job_id: &JobId) -> Result<JobTarget> {
        let state = lock(&self.state);
        let job = state.jobs.get(job_id).ok_or(Error::NotFound)?;
        let webhook = state.webhooks.get(job.delivered_to()).ok_or(Error::NotFound)?;
        Ok(JobTarget {
            webhook_id: job.delivered_to().clone(),
            url: webhook.url.clone(),
            webhook_deleted: webhook.deleted,
        })
    }

    async fn claim_status_event(&self, job_id: &JobId, claim_s: u32) -> Result<bool> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let slice_left = state.slice_left(job_id);
        let Some(job) = state.jobs.get_mut(job_id) else { return Ok(false) };
        let free = job.status_claim_until.is_none_or(|until| until < now);
        if job.status_sent_at.is_none() && !job.dry_run && job.state.is_terminal() && free && !slice_left {
            job.status_claim_until = Some(now + secs(claim_s));
            return Ok(true);
        }
        Ok(false)
    }

    async fn release_status_claim(&self, job_id: &JobId) -> Result<()> {
        if let Some(job) = lock(&self.state).jobs.get_mut(job_id).filter(|j| j.status_sent_at.is_none()) {
            job.status_claim_until = None;
        }
        Ok(())
    }

    async fn mark_status_sent(&self, job_id: &JobId) -> Result<()> {
        self.mark_job(job_id, |job, now| {
            job.status_sent_at = Some(now);
            job.status_claim_until = None;
        });
        Ok(())
    }

    async fn mark_status_enqueued(&self, job_id: &JobId) -> Result<()> {
        self.mark_job(job_id, |job, now| job.status_enqueued_at = Some(now));
        Ok(())
    }

    async fn jobs_missing_status_event(&self, requeue_after_s: u32) -> Result<Vec<JobId>> {
        let state = lock(&self.state);
        let now = self.now(&state);
        Ok(state
            .jobs
            .iter()
            .filter(|(id, j)| {
                j.state.is_terminal()
                    && !j.dry_run
                    && j.status_sent_at.is_none()
                    && j.status_claim_until.is_none_or(|until| until < now)
                    && j.status_enqueued_at.is_none_or(|at| at < now - secs(requeue_after_s))
                    && j.updated_at < now - 5_000
                    && !state.slice_left(id)
            })
            .map(|(id, _)| id.clone())
            .take(100)
            .collect())
    }

    async fn claim_unenqueued_jobs(&self, older_than_s: u32, claim_s: u32) -> Result<Vec<JobId>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let mut won = Vec::new();
        for (id, job) in state.jobs.iter_mut() {
            if job.state == JobState::Open
                && job.enqueued_at.is_none()
                && job.created_at < now - secs(older_than_s)
                && job.enqueue_claim_until.is_none_or(|until| until < now)
                && won.len() < 100
            {
                job.enqueue_claim_until = Some(now + secs(claim_s));
                won.push(id.clone());
            }
        }
        Ok(won)
    }

    async fn claim_stale_slices(&self, stale_s: u32) -> Result<Vec<StaleSlice>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let before = now - secs(stale_s);
        let restart_overdue = now - secs(stale_s.saturating_mul(RESTART_WAIT_PERIODS));
        let State { jobs, slices, .. } = &mut *state;
        let mut won = Vec::new();
        for ((job_id, index), s) in slices.iter_mut() {
            if s.state == SliceState::Running
                && older(s.heartbeat_at, before)
                && s.paused_until.is_none_or(|until| until < before)
                && (!s.restart_waiting || older(s.restart_sent_at.or(s.heartbeat_at), restart_overdue))
                && jobs[job_id].active()
                && won.len() < 100
            {
                let resent = s.restart_waiting;
                s.restarts += 1;
                s.restart_waiting = true;
                s.restart_sent_at = Some(now);
                s.heartbeat_at = Some(now);
                won.push(StaleSlice { job_id: job_id.clone(), slice_index: *index, restarts: s.restarts, resent });
            }
        }
        Ok(won)
    }

    async fn claim_lost_slices(&self, older_than_s: u32, default_cap: u32, limit: u32) -> Result<Vec<(JobId, u32)>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let mut lost: Vec<(Ms, JobId, u32)> = state
            .slices
            .iter()
            .filter(|((job_id, _), s)| {
                let job = &state.jobs[job_id];
                s.state == SliceState::Pending
                    && older(s.enqueued_at, now - secs(older_than_s))
                    && job.active()
                    && state.under_running_cap(&job.tenant_id, default_cap)
            })
            .map(|((job_id, index), s)| (s.enqueued_at.unwrap_or_default(), job_id.clone(), *index))
            .collect();
        lost.sort();
        lost.truncate(limit as usize);
        for (_, job_id, index) in &lost {
            state.slices.get_mut(&(job_id.clone(), *index)).expect("a slice just listed").enqueued_at = Some(now);
        }
        Ok(lost.into_iter().map(|(_, job_id, index)| (job_id, index)).collect())
    }

    async fn slices_waiting_count(&self) -> Result<u64> {
        let state = lock(&self.state);
        Ok(state.slices.iter().filter(|((job, _), s)| s.waiting() && state.jobs[job].active()).count() as u64)
    }

    async fn messages_besides_wake_ups(&self) -> Result<u64> {
        let state = lock(&self.state);
        let status_events =
            state.jobs.values().filter(|j| j.status_enqueued_at.is_some() && j.status_sent_at.is_none()).count();
        Ok((state.running() + status_events) as u64)
    }

    async fn stalled_jobs(&self, quiet_s: u32) -> Result<Vec<JobId>> {
        let state = lock(&self.state);
        let now = self.now(&state);
        Ok(state
            .jobs
            .iter()
            .filter(|(id, j)| {
                j.active()
                    && j.enqueued_at.is_some()
                    && j.updated_at < now - secs(quiet_s)
                    && state.slices_of(id).any(|(_, s)| s.state == SliceState::Pending && s.enqueued_at.is_none())
                    && !state.slices_of(id).any(|(_, s)| s.busy())
            })
            .map(|(id, _)| id.clone())
            .take(100)
            .collect())
    }

    async fn dead_slices_of_ended_jobs(&self, quiet_s: u32) -> Result<Vec<(JobId, u32)>> {
        let state = lock(&self.state);
        let now = self.now(&state);
        Ok(state
            .slices
            .iter()
            .filter(|((job, _), s)| {
                state.jobs[job].state.is_terminal()
                    && matches!(s.state, SliceState::Pending | SliceState::Running)
                    && s.heartbeat_at.is_none_or(|at| at < now - secs(quiet_s))
            })
            .map(|((job, index), _)| (job.clone(), *index))
            .take(100)
            .collect())
    }

    async fn park_idle_slices(&self, quiet_s: u32) -> Result<u32> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let quiet = now - secs(quiet_s);
        let State { jobs, slices, .. } = &mut *state;
        let mut parked = 0;
        for ((job_id, _), s) in slices.iter_mut() {
            let waiting_out_receiver = s.paused_until.is_some_and(|until| until > now);
            let idle = s.heartbeat_at.is_none_or(|at| at < quiet) && s.paused_until.is_none_or(|until| until < quiet);
            if jobs[job_id].state == JobState::Paused
                && s.state == SliceState::Running
                && (waiting_out_receiver || idle)
            {
                s.state = SliceState::Pending;
                s.enqueued_at = None;
                s.paused_until = None;
                s.restart_waiting = false;
                parked += 1;
            }
        }
        Ok(parked)
    }

    async fn expire_pauses(&self) -> Result<Vec<ExpiredPause>> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let due: Vec<JobId> = state
            .jobs
            .iter()
            .filter(|(_, j)| j.state == JobState::Paused && j.pause.as_ref().is_some_and(|p| p.expires_at < now))
            .map(|(id, _)| id.clone())
            .take(100)
            .collect();
        let mut expired = Vec::new();
        for id in due {
            let (counters, ended, _) = state.totals(&id);
            let job = state.jobs.get_mut(&id).expect("a job just listed");
            let pause = job.pause.as_ref().expect("a paused job's pause").view();
            let left = job.slices_total - ended.min(job.slices_total);
            let (ending, reason) = expired_pause_state(&pause, &counters, left, job.slices_total, job.dry_run);
            let dry_run = job.dry_run;
            state.end_early(&id, ending, &reason, now);
            let running = state.slices_of(&id).any(|(_, s)| s.state == SliceState::Running);
            expired.push(ExpiredPause { job_id: id, ended: !running, dry_run });
        }
        Ok(expired)
    }

    async fn purge_ended_jobs(&self, retention: Duration, limit: u32) -> Result<u32> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        let before = now - retention.as_millis() as Ms;
        let retried: BTreeSet<JobId> =
            state.jobs.values().filter(|j| !j.state.is_terminal()).filter_map(|j| j.retry_of.clone()).collect();
        let mut ended: Vec<(Ms, JobId)> = state
            .jobs
            .iter()
            .filter(|(id, j)| j.state.is_terminal() && j.updated_at < before && !retried.contains(*id))
            .map(|(id, j)| (j.updated_at, id.clone()))
            .collect();
        ended.sort();
        ended.truncate(limit as usize);
        for (_, id) in &ended {
            state.jobs.remove(id);
            state.slices.retain(|(job, _), _| job != id);
            state.failures.retain(|(job, _), _| job != id);
            state.found.retain(|(job, _)| job != id);
        }
        Ok(ended.len() as u32)
    }
}

#[async_trait]
impl SliceProgress for MemoryLedger {
    async fn heartbeat(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: u64,
        counters: &Counters,
        progressed: bool,
        pace: SlicePace,
    ) -> Result<Beat> {
        let mut state = lock(&self.state);
        let now = self.now(&state);
        if let Some(s) = state.slices.get_mut(&(job_id.clone(), slice_index)) {
            if s.state == SliceState::Running && s.lease_token <= token {
                s.heartbeat_at = Some(now);
                s.counters = *counters;
                s.pace = Some((pace, now));
                s.lease_token = token;
                s.paused_until = None;
                if progressed {
                    // Restarts in a row without progress start over.
                    s.restarts = 0;
                    s.restart_waiting = false;
                }
            } else {
                // A newer holder, or the slice restarted or ended meanwhile:
                // this run is no longer the slice's (as MySQL answers).
                return Err(Error::LeaseLost);
            }
        }
        let job = state.jobs.get_mut(job_id).ok_or(Error::NotFound)?;
        if job.active() {
            job.state = JobState::Ongoing;
            job.updated_at = now;
        }
        let (job_state, webhook) = (job.state, job.webhook_id.clone());
        state.webhooks.get(&webhook).ok_or(Error::NotFound)?;
        // Secrets never rotate here: the version `MemorySigners` hands out.
        Ok(Beat { job_state, secrets_version: "v1".into() })
    }

    async fn record_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()> {
        let mut state = lock(&self.state);
        for f in failures {
            state.failures.insert((job_id.clone(), f.event_id.clone()), f.clone());
        }
        Ok(())
    }

    async fn record_found(&self, job_id: &JobId, event_ids: &[String]) -> Result<()> {
        let mut state = lock(&self.state);
        for id in event_ids {
            state.found.insert((job_id.clone(), id.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ledger_contract::{self, LedgerBench};

    #[async_trait]
    impl LedgerBench for MemoryLedger {
        fn ledger(&self) -> &dyn JobLedger {
            self
        }
        fn progress(&self) -> &dyn SliceProgress {
            self
        }
        async fn tenant(&self, _name: &str) -> Result<TenantId> {
            let tenant = TenantId::generate();
            self.add_tenant(&tenant);
            Ok(tenant)
        }
        async fn webhook(&self, tenant: &TenantId, url: &str) -> Result<WebhookId> {
            let webhook = WebhookId::generate();
            self.add_webhook(tenant, &webhook, url);
            Ok(webhook)
        }
        async fn delete_webhook(&self, _tenant: &TenantId, webhook: &WebhookId) -> Result<()> {
            MemoryLedger::delete_webhook(self, webhook);
            Ok(())
        }
        async fn set_running_cap(&self, tenant: &TenantId, cap: u32) -> Result<()> {
            MemoryLedger::set_running_cap(self, tenant, Some(cap));
            Ok(())
        }
        async fn advance(&self, by: Duration) -> Result<()> {
            MemoryLedger::advance(self, by);
            Ok(())
        }
    }

    /// The contract, case by case, each on an empty ledger.
    #[tokio::test(start_paused = true)]
    async fn the_memory_ledger_keeps_the_ledger_contract() {
        let mut broken = Vec::new();
        for case in ledger_contract::CASES {
            if let Err(why) = ledger_contract::run(case, &MemoryLedger::default()).await {
                broken.push(format!("{case}: {}", why.0));
            }
        }
        assert!(broken.is_empty(), "{}", broken.join("\n"));
    }
}
