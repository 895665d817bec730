//! The contract every `JobLedger` keeps, as one suite: the in-memory ledger
//! runs it in the unit tests (adapters/memory/ledger.rs), MariaDB in the
//! integration tests (tests/it/ledger_contract.rs), so the fake the
//! simulation and the unit tests lean on cannot drift from the system of
//! record. Races live beside it on MariaDB (tests/it/ledger_races.rs): a
//! fake's lock proves nothing about a database's.
//!
//! Each case starts from an empty ledger (a `LedgerBench` of its own) and
//! moves its clock by hand, never by sleeping.

use crate::domain::checkpoint::Tally;
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::{Counters, Job, JobLimits, JobState, SliceState};
use crate::error::Error;
use crate::ports::ledger::{
    Created, ExpiredPause, JobLedger, NewJob, NewSlice, PauseOrder, SliceTotals, StaleSlice, Take, PACE_FRESH_S,
};
use crate::ports::{FailedEvent, SlicePace, SliceProgress};
use async_trait::async_trait;
use replay_types::{JobPace, PausedBy, Selection};
use std::time::Duration;

/// A ledger to check, with what the ledger reads but does not write.
#[async_trait]
pub trait LedgerBench: Send + Sync {
    fn ledger(&self) -> &dyn JobLedger;
    fn progress(&self) -> &dyn SliceProgress;
    async fn tenant(&self, name: &str) -> crate::error::Result<TenantId>;
    async fn webhook(&self, tenant: &TenantId, url: &str) -> crate::error::Result<WebhookId>;
    /// Deletes a webhook whose jobs have ended.
    async fn delete_webhook(&self, tenant: &TenantId, webhook: &WebhookId) -> crate::error::Result<()>;
    /// The tenant's own cap of running slices (0: none).
    async fn set_running_cap(&self, tenant: &TenantId, cap: u32) -> crate::error::Result<()>;
    /// As if `by` had passed (MySQL: every time recorded moves back by it).
    async fn advance(&self, by: Duration) -> crate::error::Result<()>;
}

/// Why a case failed.
#[derive(Debug)]
pub struct Broken(pub String);

impl From<Error> for Broken {
    fn from(e: Error) -> Self {
        Broken(format!("the ledger answered an error: {e}"))
    }
}

type Outcome = Result<(), Broken>;

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(Broken(format!("{}: {}", stringify!($cond), format!($($why)+))));
        }
    };
}

/// Every case, by name.
pub const CASES: &[&str] = &[
    "creates_once_per_key_within_the_caps",
    "claims_and_takes_within_the_jobs_cap",
    "ends_a_slice_once_and_the_job_with_its_last",
    "final_states_and_reports_follow_the_counts",
    "a_cancel_stops_what_has_not_started",
    "a_pause_holds_the_webhook_and_parks_the_slices",
    "a_pause_past_its_expiry_ends_the_job",
    "a_target_is_held_and_delivered_to",
    "a_failed_receiver_check_ends_the_job_unless_one_passed",
    "a_jobs_own_limits_lower_its_slices_at_once",
    "an_ordering_key_reaches_the_view_and_the_slices",
    "a_slice_starts_from_the_jobs_latest_fresh_pace",
    "the_status_event_is_claimed_once",
    "the_sweeper_finds_what_was_lost",
    "takes_are_fair_within_tenant_caps_and_the_pool",
    "ended_jobs_are_purged_but_not_while_a_retry_runs",
];

/// Runs one case of `CASES` against a fresh bench.
pub async fn run(case: &str, bench: &dyn LedgerBench) -> Outcome {
    match case {
        "creates_once_per_key_within_the_caps" => creates_once_per_key_within_the_caps(bench).await,
        "claims_and_takes_within_the_jobs_cap" => claims_and_takes_within_the_jobs_cap(bench).await,
        "ends_a_slice_once_and_the_job_with_its_last" => ends_a_slice_once_and_the_job_with_its_last(bench).await,
        "final_states_and_reports_follow_the_counts" => final_states_and_reports_follow_the_counts(bench).await,
        "a_cancel_stops_what_has_not_started" => a_cancel_stops_what_has_not_started(bench).await,
        "a_pause_holds_the_webhook_and_parks_the_slices" => a_pause_holds_the_webhook_and_parks_the_slices(bench).await,
        "a_pause_past_its_expiry_ends_the_job" => a_pause_past_its_expiry_ends_the_job(bench).await,
        "a_target_is_held_and_delivered_to" => a_target_is_held_and_delivered_to(bench).await,
        "a_jobs_own_limits_lower_its_slices_at_once" => a_jobs_own_limits_lower_its_slices_at_once(bench).await,
        "a_slice_starts_from_the_jobs_latest_fresh_pace" => a_slice_starts_from_the_jobs_latest_fresh_pace(bench).await,
        "an_ordering_key_reaches_the_view_and_the_slices" => {
            an_ordering_key_reaches_the_view_and_the_slices(bench).await
        }
        "a_failed_receiver_check_ends_the_job_unless_one_passed" => {
            a_failed_receiver_check_ends_the_job_unless_one_passed(bench).await
        }
        "the_status_event_is_claimed_once" => the_status_event_is_claimed_once(bench).await,
        "the_sweeper_finds_what_was_lost" => the_sweeper_finds_what_was_lost(bench).await,
        "takes_are_fair_within_tenant_caps_and_the_pool" => takes_are_fair_within_tenant_caps_and_the_pool(bench).await,
        "ended_jobs_are_purged_but_not_while_a_retry_runs" => {
            ended_jobs_are_purged_but_not_while_a_retry_runs(bench).await
        }
        other => Err(Broken(format!("no case named {other}"))),
    }
}

/// What a create asks for.
struct Ask<'a> {
    webhook: &'a WebhookId,
    slices: u32,
    key: Option<&'a str>,
    hash: u8,
    selection: Selection,
    retry_of: Option<&'a JobId>,
    cap: Option<u32>,
    target: Option<&'a WebhookId>,
    crc_check: bool,
    limits: JobLimits,
    ordering_key: Option<&'a str>,
}

impl<'a> Ask<'a> {
    fn new(webhook: &'a WebhookId, slices: u32) -> Self {
        Self {
            webhook,
            slices,
            key: None,
            hash: 0,
            selection: Selection::default(),
            retry_of: None,
            cap: None,
            target: None,
            crc_check: false,
            limits: Default::default(),
            ordering_key: None,
        }
    }
    fn dry_run(mut self) -> Self {
        self.selection.dry_run = true;
        self
    }
}

/// Ten-minute slices from a fixed hour (the ledger never reads the log).
async fn create(b: &dyn LedgerBench, tenant: &TenantId, ask: Ask<'_>) -> Result<Created, Error> {
    const FROM: i64 = 1_796_000_400_000;
    let slices: Vec<NewSlice> = (0..i64::from(ask.slices))
        .map(|i| NewSlice {
            from: EventTime(FROM + i * 600_000),
            to: EventTime(FROM + (i + 1) * 600_000),
            planned: vec![(0, i * 10, (i + 1) * 10)],
        })
        .collect();
    b.ledger()
        .create_job(NewJob {
            id: &JobId::generate(),
            tenant_id: tenant,
            webhook_id: ask.webhook,
            from: EventTime(FROM),
            to: EventTime(FROM + i64::from(ask.slices) * 600_000),
            partitions: &[0],
            slices: &slices,
            idempotency_key: ask.key,
            request_hash: [ask.hash; 32],
            selection: Some(&ask.selection),
            retry_of: ask.retry_of,
            max_active_jobs: ask.cap,
            target_webhook_id: ask.target,
            crc_check: ask.crc_check,
            limits: ask.limits,
            ordering_key: ask.ordering_key,
        })
        .await
}

async fn new_job(b: &dyn LedgerBench, tenant: &TenantId, ask: Ask<'_>) -> Result<Job, Broken> {
    match create(b, tenant, ask).await? {
        Created::New(job) => Ok(job),
        Created::Existing(job) => Err(Broken(format!("a new request answered with job {}", job.job_id))),
    }
}

async fn view(b: &dyn LedgerBench, job: &JobId) -> Result<Job, Broken> {
    b.ledger().job_view(None, job).await?.ok_or_else(|| Broken(format!("job {job} is gone")))
}

async fn slice_state(b: &dyn LedgerBench, job: &JobId, slice: u32) -> Result<SliceState, Broken> {
    let record = b.ledger().slice(job, slice).await?;
    record.map(|r| r.slice_state).ok_or_else(|| Broken(format!("slice {slice} of {job} is gone")))
}

/// Takes the next slice; which one it was.
async fn take(b: &dyn LedgerBench, default_cap: u32, pool: u32) -> Result<Option<(JobId, u32)>, Broken> {
    Ok(match b.ledger().take_slice(default_cap, pool).await? {
        Take::Run { job_id, slice_index, .. } => Some((job_id, slice_index)),
        Take::Defer | Take::Nothing => None,
    })
}

/// Ends a slice as its worker does (lease token 1) with these counters.
async fn end(b: &dyn LedgerBench, job: &JobId, slice: u32, counters: Counters) -> Result<Option<JobState>, Broken> {
    let totals = SliceTotals { counters: &counters, tally: &Tally::default() };
    let end = b.ledger().end_slice(job, slice, Some(1), SliceState::Done, Some(totals), 1).await?;
    ensure!(end.ended, "slice {slice} of {job} ended");
    Ok(end.job_ended)
}

fn delivered(n: u64) -> Counters {
    Counters { events_scanned: n, events_matched: n, events_delivered: n, ..Counters::default() }
}

async fn creates_once_per_key_within_the_caps(b: &dyn LedgerBench) -> Outcome {
    let (acme, other) = (b.tenant("acme").await?, b.tenant("other").await?);
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let first = new_job(b, &acme, Ask { key: Some("k"), hash: 1, ..Ask::new(&hook, 3) }).await?;
    ensure!(first.state == JobState::Open, "{first:?}");
    ensure!(first.progress.slices_total == 3 && first.progress.slices_done == 0, "{first:?}");
    ensure!(first.result.is_none(), "no result before the end");

    let again = create(b, &acme, Ask { key: Some("k"), hash: 1, ..Ask::new(&hook, 3) }).await?;
    ensure!(matches!(&again, Created::Existing(j) if j.job_id == first.job_id), "same key, same job: {again:?}");
    let changed = create(b, &acme, Ask { key: Some("k"), hash: 2, ..Ask::new(&hook, 3) }).await;
    ensure!(matches!(changed, Err(Error::InvalidRequest(_))), "same key, another request: {changed:?}");
    let second = create(b, &acme, Ask::new(&hook, 1)).await;
    let running = matches!(&second, Err(Error::JobAlreadyRunning { job_id }) if *job_id == first.job_id.to_string());
    ensure!(running, "the webhook's one active job: {second:?}");
    // A dry run sends nothing: it does not hold the webhook.
    let dry = new_job(b, &acme, Ask::new(&hook, 1).dry_run()).await?;
    ensure!(dry.selection.dry_run, "{dry:?}");

    let hook2 = b.webhook(&acme, "http://receiver.test/b").await?;
    let capped = create(b, &acme, Ask { cap: Some(2), ..Ask::new(&hook2, 1) }).await;
    ensure!(matches!(capped, Err(Error::TooManyActiveJobs { limit: 2 })), "two active already: {capped:?}");
    new_job(b, &acme, Ask { cap: Some(3), ..Ask::new(&hook2, 1) }).await?;

    let foreign = create(b, &other, Ask::new(&hook, 1)).await;
    ensure!(matches!(foreign, Err(Error::NotFound)), "another tenant's webhook: {foreign:?}");
    ensure!(b.ledger().job_view(Some(&other), &first.job_id).await?.is_none(), "another tenant's job");
    ensure!(b.ledger().job_view(Some(&acme), &first.job_id).await?.is_some(), "the tenant's own job");
    let hook3 = b.webhook(&acme, "http://receiver.test/c").await?;
    b.delete_webhook(&acme, &hook3).await?;
    let deleted = create(b, &acme, Ask::new(&hook3, 1)).await;
    ensure!(matches!(deleted, Err(Error::NotFound)), "a deleted webhook: {deleted:?}");
    Ok(())
}

async fn claims_and_takes_within_the_jobs_cap(b: &dyn LedgerBench) -> Outcome {
    let l = b.ledger();
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let job = new_job(b, &acme, Ask::new(&hook, 4)).await?.job_id;
    ensure!(l.take_slice(0, 0).await? == Take::Nothing, "nothing claimed, nothing to take");
    ensure!(l.claim_slices(&job, 2).await? == [0, 1], "the first two");
    ensure!(l.claim_slices(&job, 2).await?.is_empty(), "claimed slices count against the cap");
    ensure!(l.waiting_slices(&job).await? == [0, 1], "both wait for a worker");
    ensure!(l.slices_waiting_count().await? == 2, "two wake-ups needed");

    ensure!(take(b, 0, 0).await? == Some((job.clone(), 0)), "the oldest claim first");
    ensure!(slice_state(b, &job, 0).await? == SliceState::Running, "taken");
    ensure!(view(b, &job).await?.state == JobState::Started, "the job started with its first slice");
    ensure!(l.claim_slices(&job, 2).await?.is_empty(), "running slices count against the cap");
    ensure!(take(b, 0, 0).await? == Some((job.clone(), 1)), "then the next");
    ensure!(l.take_slice(0, 0).await? == Take::Nothing, "no claimed slice is left");
    ensure!(l.claim_slices(&job, 3).await? == [2], "room for one more");
    l.start_slice(&job, 2).await?;
    ensure!(slice_state(b, &job, 2).await? == SliceState::Running, "a start runs a claimed slice");
    let record = l.slice(&job, 1).await?.ok_or(Broken("slice 1".into()))?;
    ensure!(record.webhook_id == hook && record.tenant_id == acme && record.partitions == [0], "{record:?}");
    ensure!(record.planned == [(0, 10, 20)] && record.url == "http://receiver.test/a", "as created");
    ensure!(l.slice(&job, 9).await?.is_none(), "no such slice");
    Ok(())
}

async fn ends_a_slice_once_and_the_job_with_its_last(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let job = new_job(b, &acme, Ask::new(&hook, 2)).await?.job_id;
    l.claim_slices(&job, 1).await?;
    ensure!(take(b, 0, 0).await? == Some((job.clone(), 0)), "slice 0");
    let beat = p.heartbeat(&job, 0, 5, &delivered(2), true, paced(4)).await?;
    ensure!(beat.job_state == JobState::Ongoing, "a beat makes the job ONGOING: {beat:?}");
    ensure!(view(b, &job).await?.progress.counters == delivered(2), "the beat's counters show");

    let totals = delivered(3);
    let stale = l
        .end_slice(
            &job,
            0,
            Some(4),
            SliceState::Done,
            Some(SliceTotals { counters: &totals, tally: &Tally::default() }),
            1,
        )
        .await?;
    ensure!(!stale.ended, "an older lease cannot end it: {stale:?}");
    let late = p.heartbeat(&job, 0, 4, &delivered(9), false, paced(4)).await;
    ensure!(matches!(late, Err(Error::LeaseLost)), "an older lease's beat: {late:?}");
    let first = l
        .end_slice(
            &job,
            0,
            Some(5),
            SliceState::Done,
            Some(SliceTotals { counters: &totals, tally: &Tally::default() }),
            1,
        )
        .await?;
    ensure!(first.ended && first.claimed == [1] && first.job_ended.is_none() && !first.dry_run, "{first:?}");
    let again = l.end_slice(&job, 0, None, SliceState::Failed, None, 1).await?;
    ensure!(!again.ended && again.claimed.is_empty(), "an ended slice stays as it ended: {again:?}");
    ensure!(slice_state(b, &job, 0).await? == SliceState::Done, "done");
    // Its holder's beat after the end (a worker frozen until the sweeper
    // ended the slice) is refused: it is no longer the slice's.
    let after = p.heartbeat(&job, 0, 5, &delivered(9), false, paced(4)).await;
    ensure!(matches!(after, Err(Error::LeaseLost)), "a beat of an ended slice: {after:?}");

    ensure!(take(b, 0, 0).await? == Some((job.clone(), 1)), "slice 1");
    // The sweeper gives the last slice up: the job ends with it.
    let last = l.end_slice(&job, 1, None, SliceState::Failed, None, 1).await?;
    ensure!(last.ended && last.job_ended == Some(JobState::Incomplete), "{last:?}");
    let ended = view(b, &job).await?;
    ensure!(ended.state == JobState::Incomplete && ended.progress.slices_done == 2, "{ended:?}");
    ensure!(ended.progress.counters == delivered(3), "the ended slice's totals: {ended:?}");
    let reason = ended.state_reason.unwrap_or_default();
    ensure!(reason.contains("1 slice(s) could not be replayed"), "{reason}");
    let replay = new_job(b, &acme, Ask::new(&hook, 1)).await;
    ensure!(replay.is_ok(), "the webhook is free once its job ended: {replay:?}");
    Ok(())
}

async fn final_states_and_reports_follow_the_counts(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;

    // Everything delivered.
    let job = new_job(b, &acme, Ask::new(&hook, 1)).await?.job_id;
    l.claim_slices(&job, 1).await?;
    take(b, 0, 0).await?;
    ensure!(end(b, &job, 0, delivered(4)).await? == Some(JobState::Completed), "all delivered");
    let done = view(b, &job).await?;
    let result = done.result.clone().ok_or(Broken("an ended job has a result".into()))?;
    ensure!(result.failures == 0 && result.failure_report == format!("/v1/replays/{job}/failures"), "{result:?}");

    // Two failures, recorded twice (a resumed slice), listed once each, in id order.
    let job = new_job(
        b,
        &acme,
        Ask {
            selection: Selection {
                event_ids: Some(vec!["ev_a".into(), "ev_b".into(), "ev_c".into()]),
                ..Selection::default()
            },
            ..Ask::new(&hook, 1)
        },
    )
    .await?
    .job_id;
    l.claim_slices(&job, 1).await?;
    take(b, 0, 0).await?;
    let failure = |id: &str| FailedEvent {
        event_id: id.into(),
        event_type: "order.paid".into(),
        attempts: 3,
        last_status: Some(503),
        error: "HTTP 503".into(),
    };
    for _ in 0..2 {
        p.record_failures(&job, &[failure("ev_c"), failure("ev_a")]).await?;
    }
    p.record_found(&job, &["ev_a".into(), "ev_c".into()]).await?;
    p.record_found(&job, &["ev_a".into()]).await?;
    let counts = Counters { delivery_failures: 2, ..delivered(2) };
    ensure!(end(b, &job, 0, counts).await? == Some(JobState::Incomplete), "two failed");
    ensure!(l.failed_event_ids(&job).await? == ["ev_a", "ev_c"], "each failure once");
    let result = view(b, &job).await?.result.ok_or(Broken("a result".into()))?;
    ensure!(result.failures == 2 && result.not_found == ["ev_b"], "{result:?}");

    // Every slice given up.
    let job = new_job(b, &acme, Ask::new(&hook, 2)).await?.job_id;
    l.claim_slices(&job, 2).await?;
    for slice in 0..2 {
        let end = l.end_slice(&job, slice, None, SliceState::Failed, None, 2).await?;
        ensure!(end.ended, "slice {slice}");
    }
    ensure!(view(b, &job).await?.state == JobState::Failed, "every slice failed");

    // A dry run's tally adds up across its slices.
    let job = new_job(b, &acme, Ask::new(&hook, 2).dry_run()).await?.job_id;
    l.claim_slices(&job, 2).await?;
    for slice in 0..2 {
        take(b, 0, 0).await?;
        let mut tally = Tally::default();
        tally.by_event_type.insert("order.paid".into(), 2);
        tally.payload_bytes = 100;
        let counters = Counters { events_selected: 2, ..Counters::default() };
        let end = l
            .end_slice(
                &job,
                slice,
                Some(1),
                SliceState::Done,
                Some(SliceTotals { counters: &counters, tally: &tally }),
                2,
            )
            .await?;
        ensure!(end.ended && end.dry_run, "{end:?}");
    }
    let dry = view(b, &job).await?;
    ensure!(dry.state == JobState::Completed, "{dry:?}");
    let tally = dry.result.and_then(|r| r.dry_run).ok_or(Broken("a dry run's result".into()))?;
    ensure!(tally.by_event_type.get("order.paid") == Some(&4) && tally.payload_bytes == 200, "{tally:?}");
    ensure!(!l.claim_status_event(&job, 30).await?, "a dry run sends no status event");
    Ok(())
}

async fn a_cancel_stops_what_has_not_started(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let (acme, other) = (b.tenant("acme").await?, b.tenant("other").await?);
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let job = new_job(b, &acme, Ask::new(&hook, 3)).await?.job_id;
    l.claim_slices(&job, 2).await?;
    take(b, 0, 0).await?;
    ensure!(l.cancel_job(&other, &job).await?.is_none(), "another tenant cannot see it, nor cancel it");
    ensure!(view(b, &job).await?.state == JobState::Started, "still running");

    let cancelled = l.cancel_job(&acme, &job).await?.ok_or(Broken("the job".into()))?;
    ensure!(cancelled.state == JobState::Cancelled, "{cancelled:?}");
    ensure!(cancelled.state_reason.as_deref() == Some("cancelled by request"), "{cancelled:?}");
    ensure!(slice_state(b, &job, 0).await? == SliceState::Running, "a running slice stops at its heartbeat");
    ensure!(slice_state(b, &job, 1).await? == SliceState::Cancelled, "claimed, not started");
    ensure!(slice_state(b, &job, 2).await? == SliceState::Cancelled, "not claimed");
    ensure!(l.take_slice(0, 0).await? == Take::Nothing, "nothing of a cancelled job is taken");
    ensure!(l.claim_slices(&job, 3).await?.is_empty(), "nor claimed");
    let beat = p.heartbeat(&job, 0, 1, &delivered(1), true, paced(4)).await?;
    ensure!(beat.job_state == JobState::Cancelled, "the heartbeat tells the worker: {beat:?}");
    b.advance(Duration::from_secs(6)).await?;
    // A paused slice resumes and delivers until its first heartbeat: the
    // status event would come before its deliveries (the platform
    // simulation's seed 635 found it).
    ensure!(!l.claim_status_event(&job, 30).await?, "a slice still runs: the status event waits for it");
    ensure!(!l.jobs_missing_status_event(60).await?.contains(&job), "nor does the sweeper queue it");
    p.heartbeat(&job, 0, 1, &delivered(1), true, paced(4)).await?;

    ensure!(l.dead_slices_of_ended_jobs(60).await?.is_empty(), "its worker is alive");
    b.advance(Duration::from_secs(61)).await?;
    ensure!(l.dead_slices_of_ended_jobs(60).await? == [(job.clone(), 0)], "its worker went quiet");
    let end = l.end_slice(&job, 0, None, SliceState::Cancelled, None, 1).await?;
    ensure!(end.ended && end.job_ended == Some(JobState::Cancelled), "{end:?}");
    ensure!(l.claim_status_event(&job, 30).await?, "no slice runs: its status event is due");
    ensure!(l.cancel_job(&acme, &job).await?.is_some_and(|j| j.state == JobState::Cancelled), "as it ended");
    new_job(b, &acme, Ask::new(&hook, 1)).await?;
    Ok(())
}

fn paced(in_flight: u32) -> SlicePace {
    SlicePace { in_flight, baseline_ms: None }
}

fn pause_order(reason: Option<&str>, expires_in_s: u32) -> PauseOrder<'_> {
    PauseOrder { by: PausedBy::Request, reason, expires_in_s }
}

async fn a_pause_holds_the_webhook_and_parks_the_slices(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let (acme, other) = (b.tenant("acme").await?, b.tenant("other").await?);
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let second = b.webhook(&acme, "http://receiver.test/b").await?;
    let job = new_job(b, &acme, Ask::new(&hook, 4)).await?.job_id;
    ensure!(l.claim_slices(&job, 3).await? == [0, 1, 2], "three claimed");
    ensure!(take(b, 0, 0).await? == Some((job.clone(), 0)), "slice 0 runs");
    ensure!(take(b, 0, 0).await? == Some((job.clone(), 1)), "slice 1 runs");
    p.heartbeat(&job, 0, 1, &delivered(2), true, paced(3)).await?;
    p.heartbeat(&job, 1, 1, &delivered(1), true, paced(5)).await?;
    let pace = view(b, &job).await?.pace;
    ensure!(pace == Some(JobPace { in_flight: 8, slices_running: 2 }), "the running slices' pace: {pace:?}");
    // Slice 1 waits out its receiver: no worker holds it, and it has no pace.
    b.advance(Duration::from_millis(20)).await?;
    l.pause_slice(&job, 1, 1, 300).await?;
    let pace = view(b, &job).await?.pace;
    ensure!(pace == Some(JobPace { in_flight: 3, slices_running: 1 }), "slice 1 waits: {pace:?}");

    let order = pause_order(Some("maintenance"), 3_600);
    ensure!(l.pause_job(&other, &job, &order).await?.is_none(), "another tenant cannot see it, nor pause it");
    let paused = l.pause_job(&acme, &job, &order).await?.ok_or(Broken("the job".into()))?;
    ensure!(paused.state == JobState::Paused, "{paused:?}");
    ensure!(paused.state_reason.as_deref() == Some("paused by request: maintenance"), "{paused:?}");
    let pause = paused.pause.clone().ok_or(Broken("the pause is shown".into()))?;
    ensure!(pause.paused_by == PausedBy::Request && pause.reason.as_deref() == Some("maintenance"), "{pause:?}");
    ensure!(pause.resumed_at.is_none() && pause.expires_at > pause.paused_at, "{pause:?}");
    ensure!(paused.pace.is_none(), "a paused job has no pace: {:?}", paused.pace);
    ensure!(slice_state(b, &job, 0).await? == SliceState::Running, "a running slice stops at its heartbeat");
    ensure!(slice_state(b, &job, 1).await? == SliceState::Pending, "one waiting out its receiver is parked");
    ensure!(l.waiting_slices(&job).await?.is_empty(), "claims are given back");
    ensure!(l.take_slice(0, 0).await? == Take::Nothing, "nothing of a paused job is taken");
    ensure!(l.claim_slices(&job, 4).await?.is_empty(), "nor claimed");
    ensure!(l.slices_waiting_count().await? == 0, "nor counted as waiting");
    let beat = p.heartbeat(&job, 0, 1, &delivered(3), true, paced(4)).await?;
    ensure!(beat.job_state == JobState::Paused, "the heartbeat tells the worker: {beat:?}");

    // It holds the webhook and the tenant's active-job slot.
    let again = create(b, &acme, Ask::new(&hook, 1)).await;
    ensure!(matches!(again, Err(Error::JobAlreadyRunning { .. })), "{again:?}");
    let capped = create(b, &acme, Ask { cap: Some(1), ..Ask::new(&second, 1) }).await;
    ensure!(matches!(capped, Err(Error::TooManyActiveJobs { .. })), "{capped:?}");
    let twice = l.pause_job(&acme, &job, &pause_order(None, 60)).await?.ok_or(Broken("the job".into()))?;
    ensure!(twice.pause.as_ref() == Some(&pause), "a second pause changes nothing: {twice:?}");

    ensure!(l.park_slice(&job, 0, 0, &delivered(9)).await? == JobState::Paused, "the job is paused");
    ensure!(slice_state(b, &job, 0).await? == SliceState::Running, "an older lease parks nothing");
    ensure!(l.park_slice(&job, 0, 1, &delivered(3)).await? == JobState::Paused, "the job is paused");
    ensure!(slice_state(b, &job, 0).await? == SliceState::Pending, "parked");
    ensure!(view(b, &job).await?.progress.counters.events_delivered == 4, "its counters are kept");
    b.advance(Duration::from_secs(600)).await?;
    ensure!(l.claim_stale_slices(60).await?.is_empty(), "the sweeper restarts none of its slices");
    ensure!(l.claim_lost_slices(60, 0, 100).await?.is_empty(), "nor wakes them");
    ensure!(!l.stalled_jobs(60).await?.contains(&job), "nor starts them");
    ensure!(l.park_idle_slices(60).await? == 0, "nothing left to park");
    ensure!(l.expire_pauses().await?.is_empty(), "the pause has not expired");

    ensure!(l.resume_job(&other, &job).await?.is_none(), "another tenant cannot resume it");
    let resumed = l.resume_job(&acme, &job).await?.ok_or(Broken("the job".into()))?;
    ensure!(resumed.state == JobState::Ongoing, "back to the state it paused in: {resumed:?}");
    ensure!(resumed.state_reason.is_none(), "{resumed:?}");
    let last = resumed.pause.clone().ok_or(Broken("the last pause is still shown".into()))?;
    ensure!(last.reason == pause.reason && last.resumed_at.is_some(), "{last:?}");
    ensure!(l.resume_job(&acme, &job).await?.is_some_and(|j| j.state == JobState::Ongoing), "twice is once");
    ensure!(l.claim_slices(&job, 3).await? == [0, 1, 2], "its slices are claimed again");
    ensure!(take(b, 0, 0).await? == Some((job.clone(), 0)), "and run from their checkpoints");
    // A worker that stopped for a pause that was lifted meanwhile keeps its slice.
    ensure!(l.park_slice(&job, 0, 2, &delivered(3)).await? == JobState::Ongoing, "resumed");
    ensure!(slice_state(b, &job, 0).await? == SliceState::Running, "not parked");
    Ok(())
}

async fn a_pause_past_its_expiry_ends_the_job(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let acme = b.tenant("acme").await?;
    let (hook, busy) =
        (b.webhook(&acme, "http://receiver.test/a").await?, b.webhook(&acme, "http://receiver.test/b").await?);
    // One job whose worker died while paused, one whose worker still runs.
    let idle = new_job(b, &acme, Ask::new(&hook, 3)).await?.job_id;
    let running = new_job(b, &acme, Ask::new(&busy, 2)).await?.job_id;
    l.claim_slices(&idle, 1).await?;
    l.claim_slices(&running, 1).await?;
    take(b, 0, 0).await?;
    take(b, 0, 0).await?;
    p.heartbeat(&idle, 0, 1, &delivered(2), true, paced(4)).await?;
    p.heartbeat(&running, 0, 1, &delivered(1), true, paced(4)).await?;
    l.pause_job(&acme, &idle, &pause_order(None, 120)).await?;
    l.pause_job(&acme, &running, &pause_order(Some("moving servers"), 120)).await?;
    ensure!(l.park_idle_slices(60).await? == 0, "their workers are alive");
    b.advance(Duration::from_secs(61)).await?;
    p.heartbeat(&running, 0, 1, &delivered(1), true, paced(4)).await?;
    ensure!(l.park_idle_slices(60).await? == 1, "the quiet one is parked");
    ensure!(slice_state(b, &idle, 0).await? == SliceState::Pending, "parked");
    ensure!(slice_state(b, &running, 0).await? == SliceState::Running, "its worker still beats");
    ensure!(l.expire_pauses().await?.is_empty(), "not yet");

    b.advance(Duration::from_secs(60)).await?;
    let mut expired = l.expire_pauses().await?;
    expired.sort_by_key(|e| e.job_id != idle);
    let want = [
        ExpiredPause { job_id: idle.clone(), ended: true, dry_run: false },
        ExpiredPause { job_id: running.clone(), ended: false, dry_run: false },
    ];
    ensure!(expired == want, "{expired:?}");
    let ended = view(b, &idle).await?;
    ensure!(ended.state == JobState::Incomplete, "{ended:?}");
    let reason = ended.state_reason.clone().unwrap_or_default();
    ensure!(reason.contains("not resumed before the pause expired") && reason.contains("3 of 3 slice(s)"), "{reason}");
    ensure!(ended.progress.counters.events_delivered == 2 && ended.progress.slices_done == 3, "{ended:?}");
    ensure!(ended.result.is_some(), "an ended job's report");
    ensure!(l.claim_status_event(&idle, 30).await?, "its status event is due");
    ensure!(l.resume_job(&acme, &idle).await?.is_some_and(|j| j.state == JobState::Incomplete), "too late");
    new_job(b, &acme, Ask::new(&hook, 1)).await?;

    let beat = p.heartbeat(&running, 0, 1, &delivered(1), true, paced(4)).await?;
    ensure!(beat.job_state == JobState::Incomplete, "the running slice is told: {beat:?}");
    ensure!(!l.claim_status_event(&running, 30).await?, "its status event waits for the slice");
    b.advance(Duration::from_secs(61)).await?;
    ensure!(l.dead_slices_of_ended_jobs(60).await? == [(running.clone(), 0)], "a quiet slice is the sweeper's to end");
    let end = l.end_slice(&running, 0, None, SliceState::Cancelled, None, 1).await?;
    ensure!(end.ended && end.job_ended == Some(JobState::Incomplete), "{end:?}");

    // A paused job can be cancelled.
    let third = new_job(b, &acme, Ask::new(&busy, 2)).await?.job_id;
    l.pause_job(&acme, &third, &pause_order(None, 60)).await?;
    let cancelled = l.cancel_job(&acme, &third).await?.ok_or(Broken("the job".into()))?;
    ensure!(cancelled.state == JobState::Cancelled && cancelled.progress.slices_done == 2, "{cancelled:?}");
    Ok(())
}

async fn a_target_is_held_and_delivered_to(b: &dyn LedgerBench) -> Outcome {
    let l = b.ledger();
    let (acme, other) = (b.tenant("acme").await?, b.tenant("other").await?);
    let source = b.webhook(&acme, "http://receiver.test/live").await?;
    let stage = b.webhook(&acme, "http://receiver.test/staging").await?;
    let third = b.webhook(&acme, "http://receiver.test/third").await?;
    let theirs = b.webhook(&other, "http://receiver.test/theirs").await?;

    let refused = create(b, &acme, Ask { target: Some(&theirs), ..Ask::new(&source, 1) }).await;
    ensure!(matches!(refused, Err(Error::InvalidRequest(_))), "another tenant's webhook: {refused:?}");
    let job = new_job(b, &acme, Ask { target: Some(&stage), ..Ask::new(&source, 2) }).await?;
    ensure!(job.target_webhook_id.as_ref() == Some(&stage), "{job:?}");
    let record = l.slice(&job.job_id, 0).await?.ok_or(Broken("slice 0".into()))?;
    ensure!(record.url == "http://receiver.test/staging", "delivered to the target's URL: {}", record.url);
    ensure!(record.webhook_id == source && record.target_webhook_id.as_ref() == Some(&stage), "{record:?}");
    let target = l.job_target(&job.job_id).await?;
    ensure!(target.webhook_id == stage && target.url == "http://receiver.test/staging", "{target:?}");

    // Both webhooks are held: as a source, and as a target.
    for (webhook, to) in [(&stage, None), (&third, Some(&stage)), (&third, Some(&source))] {
        let again = create(b, &acme, Ask { target: to, ..Ask::new(webhook, 1) }).await;
        let holder = job.job_id.to_string();
        ensure!(matches!(&again, Err(Error::JobAlreadyRunning { job_id }) if *job_id == holder), "{again:?}");
    }
    let dry = new_job(b, &acme, Ask { target: Some(&stage), ..Ask::new(&third, 1).dry_run() }).await?;
    ensure!(dry.target_webhook_id.as_ref() == Some(&stage), "a dry run holds nothing: {dry:?}");

    l.cancel_job(&acme, &job.job_id).await?;
    new_job(b, &acme, Ask::new(&stage, 1)).await?;
    Ok(())
}

async fn a_failed_receiver_check_ends_the_job_unless_one_passed(b: &dyn LedgerBench) -> Outcome {
    let l = b.ledger();
    let acme = b.tenant("acme").await?;
    let (first, second) =
        (b.webhook(&acme, "http://receiver.test/a").await?, b.webhook(&acme, "http://receiver.test/b").await?);
    let checked = new_job(b, &acme, Ask { crc_check: true, ..Ask::new(&first, 3) }).await?;
    ensure!(checked.crc_check, "{checked:?}");
    let record = l.slice(&checked.job_id, 0).await?.ok_or(Broken("slice 0".into()))?;
    ensure!(record.crc_pending, "nothing checked yet");
    ensure!(l.record_receiver_check(&checked.job_id, None).await?, "a pass");
    ensure!(!l.slice(&checked.job_id, 1).await?.is_some_and(|r| r.crc_pending), "passed for every slice");
    ensure!(l.record_receiver_check(&checked.job_id, Some("late")).await?, "a pass came first: it holds");
    ensure!(view(b, &checked.job_id).await?.state == JobState::Open, "still to run");

    let failing = new_job(b, &acme, Ask { crc_check: true, ..Ask::new(&second, 3) }).await?.job_id;
    l.claim_slices(&failing, 2).await?;
    take(b, 0, 0).await?;
    ensure!(!l.record_receiver_check(&failing, Some("the receiver check (CRC) failed: HTTP 404")).await?, "fails");
    let ended = view(b, &failing).await?;
    ensure!(ended.state == JobState::Failed, "{ended:?}");
    ensure!(ended.state_reason.as_deref() == Some("the receiver check (CRC) failed: HTTP 404"), "{ended:?}");
    ensure!(slice_state(b, &failing, 2).await? == SliceState::Cancelled, "nothing else starts");
    ensure!(!l.record_receiver_check(&failing, None).await?, "a later pass cannot revive it");
    ensure!(view(b, &failing).await?.state == JobState::Failed, "ended for good");
    new_job(b, &acme, Ask::new(&second, 1)).await?;
    Ok(())
}

async fn a_jobs_own_limits_lower_its_slices_at_once(b: &dyn LedgerBench) -> Outcome {
    let l = b.ledger();
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let limits = JobLimits { max_in_flight: Some(2), max_events_per_second: Some(50) };
    let job = new_job(b, &acme, Ask { limits, ..Ask::new(&hook, 4) }).await?;
    ensure!(job.limits == limits, "{job:?}");
    ensure!(l.claim_slices(&job.job_id, 4).await? == [0, 1], "two at once: one request in flight each");
    let record = l.slice(&job.job_id, 0).await?.ok_or(Broken("slice 0".into()))?;
    ensure!(record.limits == limits, "the slices know the limits: {:?}", record.limits);
    ensure!(l.claim_slices(&job.job_id, 4).await?.is_empty(), "the cap holds");
    Ok(())
}

async fn an_ordering_key_reaches_the_view_and_the_slices(b: &dyn LedgerBench) -> Outcome {
    let l = b.ledger();
    let acme = b.tenant("acme").await?;
    let (ordered, unordered) =
        (b.webhook(&acme, "http://receiver.test/a").await?, b.webhook(&acme, "http://receiver.test/b").await?);
    let job = new_job(b, &acme, Ask { ordering_key: Some("/user/id"), ..Ask::new(&ordered, 1) }).await?;
    ensure!(job.ordering_key.as_deref() == Some("/user/id"), "{job:?}");
    let record = l.slice(&job.job_id, 0).await?.ok_or(Broken("slice 0".into()))?;
    ensure!(record.ordering_key.as_deref() == Some("/user/id"), "the slice knows the key: {:?}", record.ordering_key);
    let plain = new_job(b, &acme, Ask::new(&unordered, 1)).await?;
    ensure!(plain.ordering_key.is_none(), "{plain:?}");
    let record = l.slice(&plain.job_id, 0).await?.ok_or(Broken("slice 0".into()))?;
    ensure!(record.ordering_key.is_none(), "unordered: {:?}", record.ordering_key);
    Ok(())
}

async fn a_slice_starts_from_the_jobs_latest_fresh_pace(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let job = new_job(b, &acme, Ask::new(&hook, 3)).await?.job_id;
    let third = async || -> Result<Option<SlicePace>, Broken> {
        Ok(l.slice(&job, 2).await?.ok_or(Broken("slice 2".into()))?.pace)
    };
    ensure!(third().await?.is_none(), "no slice beat yet");
    ensure!(l.claim_slices(&job, 2).await? == [0, 1], "two claimed");
    take(b, 0, 0).await?;
    take(b, 0, 0).await?;
    let measured = SlicePace { in_flight: 6, baseline_ms: Some(200) };
    p.heartbeat(&job, 0, 1, &delivered(1), true, measured).await?;
    b.advance(Duration::from_millis(20)).await?;
    // A later beat without a baseline (a fixed pace) is no place to start from.
    p.heartbeat(&job, 1, 1, &delivered(1), true, paced(16)).await?;
    let pace = third().await?;
    ensure!(pace == Some(measured), "the latest with a baseline: {pace:?}");
    b.advance(Duration::from_secs(u64::from(PACE_FRESH_S) + 1)).await?;
    // Writes other than a heartbeat (a start, a wake-up's take) leave the pace as old as it is.
    l.start_slice(&job, 0).await?;
    let pace = third().await?;
    ensure!(pace.is_none(), "a stale pace is a new start: {pace:?}");
    Ok(())
}

async fn the_status_event_is_claimed_once(b: &dyn LedgerBench) -> Outcome {
    let l = b.ledger();
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let job = new_job(b, &acme, Ask::new(&hook, 1)).await?.job_id;
    ensure!(!l.claim_status_event(&job, 30).await?, "not before the job ends");
    l.claim_slices(&job, 1).await?;
    take(b, 0, 0).await?;
    ensure!(l.messages_besides_wake_ups().await? == 1, "a running slice may have a message on its way");
    end(b, &job, 0, delivered(1)).await?;

    ensure!(l.jobs_missing_status_event(60).await?.is_empty(), "just ended: its worker sends it");
    b.advance(Duration::from_secs(6)).await?;
    ensure!(l.jobs_missing_status_event(60).await? == [job.clone()], "ended a while ago, never sent");
    l.mark_status_enqueued(&job).await?;
    ensure!(l.messages_besides_wake_ups().await? == 1, "its status event is on its way");
    ensure!(l.jobs_missing_status_event(60).await?.is_empty(), "queued");
    b.advance(Duration::from_secs(61)).await?;
    ensure!(l.jobs_missing_status_event(60).await? == [job.clone()], "queued long ago and still not sent");

    ensure!(l.claim_status_event(&job, 30).await?, "the first claim");
    ensure!(!l.claim_status_event(&job, 30).await?, "one sender at a time");
    ensure!(l.jobs_missing_status_event(60).await?.is_empty(), "being sent");
    b.advance(Duration::from_secs(31)).await?;
    ensure!(l.claim_status_event(&job, 30).await?, "a claim runs out");
    l.release_status_claim(&job).await?;
    ensure!(l.claim_status_event(&job, 30).await?, "a released claim is free");
    l.mark_status_sent(&job).await?;
    ensure!(!l.claim_status_event(&job, 30).await?, "sent: never again");
    ensure!(l.messages_besides_wake_ups().await? == 0, "nothing on its way");
    b.advance(Duration::from_secs(120)).await?;
    ensure!(l.jobs_missing_status_event(60).await?.is_empty(), "sent");

    let target = l.job_target(&job).await?;
    ensure!(target.webhook_id == hook && target.url == "http://receiver.test/a" && !target.webhook_deleted, "live");
    b.delete_webhook(&acme, &hook).await?;
    ensure!(l.job_target(&job).await?.webhook_deleted, "deleted after its job ended");
    Ok(())
}

async fn the_sweeper_finds_what_was_lost(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let other_hook = b.webhook(&acme, "http://receiver.test/b").await?;

    // The outbox: a job whose first wake-ups may never have been sent.
    let job = new_job(b, &acme, Ask::new(&hook, 3)).await?.job_id;
    ensure!(l.claim_unenqueued_jobs(30, 60).await?.is_empty(), "too young");
    b.advance(Duration::from_secs(31)).await?;
    ensure!(l.claim_unenqueued_jobs(30, 60).await? == [job.clone()], "old and never marked");
    ensure!(l.claim_unenqueued_jobs(30, 60).await?.is_empty(), "claimed by one sweeper");
    b.advance(Duration::from_secs(61)).await?;
    ensure!(l.claim_unenqueued_jobs(30, 60).await? == [job.clone()], "the claim ran out");
    l.mark_enqueued(&job).await?;
    b.advance(Duration::from_secs(61)).await?;
    ensure!(l.claim_unenqueued_jobs(30, 60).await?.is_empty(), "enqueued");

    // A stalled job: enqueued, slices to start, none running or claimed.
    ensure!(l.stalled_jobs(60).await? == [job.clone()], "nothing moves it on");
    ensure!(l.claim_slices(&job, 1).await? == [0], "one claim");
    ensure!(l.stalled_jobs(60).await?.is_empty(), "a claimed slice moves it on");
    // A second claim later: claims are told apart by their age.
    b.advance(Duration::from_secs(1)).await?;
    ensure!(l.claim_slices(&job, 2).await? == [1], "and another");

    // Lost wake-ups: claimed slices no worker took.
    ensure!(l.claim_lost_slices(60, 0, 10).await?.is_empty(), "just claimed");
    b.advance(Duration::from_secs(61)).await?;
    ensure!(l.claim_lost_slices(60, 0, 1).await? == [(job.clone(), 0)], "the oldest claim first, up to the limit");
    ensure!(l.claim_lost_slices(60, 0, 10).await? == [(job.clone(), 1)], "the other; slice 0 was re-claimed");

    // A stale slice: its worker stopped beating.
    ensure!(take(b, 0, 0).await? == Some((job.clone(), 0)), "slice 0");
    b.advance(Duration::from_secs(61)).await?;
    // A slice waiting on its tenant's cap is not lost: its wake-ups go round deferred.
    ensure!(l.claim_lost_slices(60, 1, 10).await?.is_empty(), "the tenant is at its cap");
    b.set_running_cap(&acme, 2).await?;
    ensure!(l.claim_lost_slices(60, 1, 10).await? == [(job.clone(), 1)], "under its own cap of 2");
    b.set_running_cap(&acme, 0).await?;
    let stale = l.claim_stale_slices(60).await?;
    let one = |restarts, resent| vec![StaleSlice { job_id: job.clone(), slice_index: 0, restarts, resent }];
    ensure!(format!("{stale:?}") == format!("{:?}", one(1, false)), "{stale:?}");
    ensure!(l.claim_stale_slices(60).await?.is_empty(), "claimed for one restart");
    b.advance(Duration::from_secs(61)).await?;
    // No worker took the restart (the pool is full, a frozen worker holds a
    // slot): it waits, and nothing more is sent or counted.
    ensure!(l.claim_stale_slices(60).await?.is_empty(), "a restart no worker took yet is not repeated");
    // Four stale periods after it was sent, it is taken for lost: counted, sent again.
    b.advance(Duration::from_secs(180)).await?;
    let stale = l.claim_stale_slices(60).await?;
    ensure!(format!("{stale:?}") == format!("{:?}", one(2, true)), "an overdue restart is counted again: {stale:?}");
    // A heartbeat without progress (the frozen worker woke) does not take the restart.
    p.heartbeat(&job, 0, 1, &delivered(1), false, paced(4)).await?;
    b.advance(Duration::from_secs(61)).await?;
    ensure!(l.claim_stale_slices(60).await?.is_empty(), "the restart still waits");
    l.start_slice(&job, 0).await?;
    b.advance(Duration::from_secs(61)).await?;
    let stale = l.claim_stale_slices(60).await?;
    ensure!(format!("{stale:?}") == format!("{:?}", one(3, false)), "taken restarts add up: {stale:?}");
    p.heartbeat(&job, 0, 1, &delivered(1), true, paced(4)).await?;
    b.advance(Duration::from_secs(61)).await?;
    let stale = l.claim_stale_slices(60).await?;
    ensure!(format!("{stale:?}") == format!("{:?}", one(1, false)), "progress starts over: {stale:?}");

    // A paused slice is not stale before its pause ends.
    p.heartbeat(&job, 0, 1, &delivered(1), true, paced(4)).await?;
    l.pause_slice(&job, 0, 1, 300).await?;
    b.advance(Duration::from_secs(200)).await?;
    ensure!(l.claim_stale_slices(60).await?.is_empty(), "paused");
    b.advance(Duration::from_secs(200)).await?;
    ensure!(l.claim_stale_slices(60).await?.len() == 1, "the pause ended long ago");

    // Nothing of an ended job.
    let quiet = new_job(b, &acme, Ask::new(&other_hook, 1)).await?.job_id;
    l.claim_slices(&quiet, 1).await?;
    l.cancel_job(&acme, &quiet).await?;
    b.advance(Duration::from_secs(600)).await?;
    let lost = l.claim_lost_slices(60, 0, 10).await?;
    ensure!(lost.iter().all(|(j, _)| *j != quiet), "{lost:?}");
    ensure!(!l.stalled_jobs(60).await?.contains(&quiet), "cancelled");
    Ok(())
}

async fn takes_are_fair_within_tenant_caps_and_the_pool(b: &dyn LedgerBench) -> Outcome {
    let l = b.ledger();
    let (a, bb) = (b.tenant("a").await?, b.tenant("b").await?);
    let hook_a = b.webhook(&a, "http://receiver.test/a").await?;
    let hook_b = b.webhook(&bb, "http://receiver.test/b").await?;
    let job_a = new_job(b, &a, Ask::new(&hook_a, 3)).await?.job_id;
    let job_b = new_job(b, &bb, Ask::new(&hook_b, 3)).await?.job_id;
    l.claim_slices(&job_a, 3).await?;
    b.advance(Duration::from_secs(1)).await?;
    l.claim_slices(&job_b, 3).await?;
    b.advance(Duration::from_secs(1)).await?;

    let tenant_of = |taken: Option<(JobId, u32)>| taken.map(|(job, _)| if job == job_a { "a" } else { "b" });
    ensure!(tenant_of(take(b, 0, 0).await?) == Some("a"), "the oldest claim first");
    ensure!(tenant_of(take(b, 0, 0).await?) == Some("b"), "then the tenant running fewer");
    b.advance(Duration::from_secs(1)).await?;
    ensure!(tenant_of(take(b, 0, 0).await?) == Some("a"), "as many: the one served longest ago");
    ensure!(tenant_of(take(b, 0, 0).await?) == Some("b"), "round and round");
    // Two each running, one each waiting.
    b.set_running_cap(&bb, 2).await?;
    ensure!(tenant_of(take(b, 0, 0).await?) == Some("a"), "b is at its own cap");
    ensure!(l.take_slice(0, 0).await? == Take::Defer, "b's slice waits for its cap");
    ensure!(l.take_slice(0, 0).await? == Take::Defer, "and waits");
    b.set_running_cap(&bb, 0).await?;
    ensure!(l.take_slice(2, 5).await? == Take::Defer, "five run: the pool is full");
    ensure!(
        l.take_slice(4, 0).await? == Take::Run { job_id: job_b.clone(), slice_index: 2, tenant_id: bb.clone() },
        "b has no cap of its own now"
    );
    ensure!(l.take_slice(0, 0).await? == Take::Nothing, "every claimed slice runs");
    Ok(())
}

async fn ended_jobs_are_purged_but_not_while_a_retry_runs(b: &dyn LedgerBench) -> Outcome {
    let (l, p) = (b.ledger(), b.progress());
    let acme = b.tenant("acme").await?;
    let hook = b.webhook(&acme, "http://receiver.test/a").await?;
    let failed = new_job(b, &acme, Ask::new(&hook, 1)).await?.job_id;
    l.claim_slices(&failed, 1).await?;
    take(b, 0, 0).await?;
    p.record_failures(
        &failed,
        &[FailedEvent {
            event_id: "ev_1".into(),
            event_type: String::new(),
            attempts: 1,
            last_status: Some(410),
            error: "HTTP 410".into(),
        }],
    )
    .await?;
    end(b, &failed, 0, Counters { delivery_failures: 1, ..delivered(0) }).await?;
    let retry = new_job(b, &acme, Ask { retry_of: Some(&failed), ..Ask::new(&hook, 1) }).await?.job_id;

    ensure!(l.purge_ended_jobs(Duration::from_secs(3_600), 10).await? == 0, "nothing is an hour old");
    b.advance(Duration::from_secs(7_200)).await?;
    ensure!(l.purge_ended_jobs(Duration::from_secs(3_600), 10).await? == 0, "its retry reads its failures");
    l.claim_slices(&retry, 1).await?;
    take(b, 0, 0).await?;
    end(b, &retry, 0, delivered(1)).await?;
    ensure!(l.purge_ended_jobs(Duration::from_secs(3_600), 10).await? == 1, "the retry ended; it is young");
    ensure!(l.job_view(None, &failed).await?.is_none(), "gone");
    ensure!(l.failed_event_ids(&failed).await?.is_empty(), "with its failures");
    b.advance(Duration::from_secs(7_200)).await?;
    ensure!(l.purge_ended_jobs(Duration::from_secs(3_600), 10).await? == 1, "the retry's turn");
    ensure!(l.slice(&retry, 0).await?.is_none(), "with its slices");
    Ok(())
}
