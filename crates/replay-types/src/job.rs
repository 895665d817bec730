//! Replay jobs: the request that starts one, its states and its counters.

use crate::ids::{JobId, WebhookId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/webhooks/{webhook_id}/replays`: the window `[from, to)` and,
/// optionally, which of its events to replay (docs/api.md, "Choosing the
/// events"). Without a selection every event of the window is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReplayRequest {
    /// Window start, inclusive (RFC 3339).
    #[schema(example = "2026-11-23T00:00:00Z")]
    pub from: String,
    /// Window end, exclusive (RFC 3339); at least `SETTLE_SECONDS` ago.
    #[schema(example = "2026-11-23T06:00:00Z")]
    pub to: String,
    /// Only events of these types (1-50 names, 1-100 characters each); the
    /// others are counted in `events_filtered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["tweet_create_events"]), min_items = 1, max_items = 50)]
    pub event_types: Option<Vec<String>>,
    /// Only these events (1-1,000 ids) within the window; ids not found are
    /// listed in the job's `result.not_found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 1000)]
    pub event_ids: Option<Vec<String>>,
    /// `failed`: only events whose logged copies include a failed original
    /// delivery and no succeeded one (docs/delivery-log.md, `delivery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Only>)]
    pub only: Option<String>,
    /// Scan and count, deliver nothing (no status event either); the result
    /// says what a real run would send. Does not hold the webhook's one active
    /// job; counts against the rate limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Deliver to another webhook of the tenant (a staging endpoint, a new
    /// URL): its URL, signed with its secret, each event's payload and
    /// `webhook-id` unchanged, with `x-replay-source-webhook-id` naming this
    /// one. The target is held as this webhook is (one active job each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "wh_staging_1")]
    pub target_webhook_id: Option<WebhookId>,
    /// Before the first delivery, check the receiver as Twitter's CRC does:
    /// `GET` the URL with `crc_token`; it must answer within 3 s with
    /// `{"response_token": "sha256=<base64 of HMAC-SHA256(signing secret,
    /// crc_token)>"}`, else the job ends `FAILED` with nothing sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crc_check: bool,
    /// The job's requests in flight at most, across its slices (1 to the
    /// deployment's `MAX_PARALLEL_SLICES × DELIVERY_CONCURRENCY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_in_flight: Option<u32>,
    /// The job's request starts per second at most, across its slices (1 to
    /// `MAX_PARALLEL_SLICES × DELIVERY_RATE_PER_SECOND`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_events_per_second: Option<u32>,
    /// Deliver in log order per key (docs/guarantees.md, "Ordering per
    /// key"): a JSON Pointer (RFC 6901) into each event's payload, for
    /// example `/account_id`; an event of a key starts only once the key's
    /// earlier events are delivered or failed for good. Keys run
    /// concurrently; the job runs as one slice. Absent: unordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "/for_user_id", max_length = 200)]
    pub ordering_key: Option<String>,
}

/// A job's own limits on its load on the receiver (docs/api.md, "Limits").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events_per_second: Option<u32>,
}

impl JobLimits {
    pub fn is_none(&self) -> bool {
        self.max_in_flight.is_none() && self.max_events_per_second.is_none()
    }
}

/// The values of `only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Only {
    Failed,
}

impl CreateReplayRequest {
    /// Every event of `[from, to)`.
    pub fn window(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self { from: from.into(), to: to.into(), ..Self::default() }
    }
}

/// Which events of the window a job replays, as the job shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Selection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// The ids asked for (absent for a retry: see `failures_of`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Only>)]
    pub only: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// A retry: the failed events of this job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures_of: Option<JobId>,
}

impl Selection {
    /// Every event of the window, delivered.
    pub fn is_everything(&self) -> bool {
        *self == Self::default()
    }
}

/// A job's state (docs/api.md, "Job states"). `OPEN`, `STARTED` and
/// `ONGOING` are active; `PAUSED` holds the webhook and runs nothing until
/// it is resumed; the other four are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Open,
    Started,
    Ongoing,
    /// Paused by request or by the receiver: no slice runs until a resume.
    Paused,
    Completed,
    Incomplete,
    Failed,
    Cancelled,
    /// A state this version does not know (a newer service): not final as
    /// far as this client can tell. The service never sends it.
    #[serde(other)]
    #[serde(skip_serializing)]
    Unknown,
}

impl JobState {
    /// Every state the service writes, in the order of a job's life.
    pub const ALL: [JobState; 8] = [
        JobState::Open,
        JobState::Started,
        JobState::Ongoing,
        JobState::Paused,
        JobState::Completed,
        JobState::Incomplete,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// Their names, for messages: `OPEN, STARTED, ...`.
    pub fn names() -> String {
        Self::ALL.map(JobState::as_str).join(", ")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Open => "OPEN",
            JobState::Started => "STARTED",
            JobState::Ongoing => "ONGOING",
            JobState::Paused => "PAUSED",
            JobState::Completed => "COMPLETED",
            JobState::Incomplete => "INCOMPLETE",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Unknown => "UNKNOWN",
        }
    }

    /// A state the service writes (never `Unknown`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Completed | JobState::Incomplete | JobState::Failed | JobState::Cancelled)
    }

    /// Its slices may run: `OPEN`, `STARTED` or `ONGOING` (not `PAUSED`).
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Open | JobState::Started | JobState::Ongoing)
    }

    /// It holds its webhook's one active job and its tenant's active-job
    /// slot: active or paused.
    pub fn is_live(self) -> bool {
        self.is_active() || self == JobState::Paused
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of one slice or, summed, of one job.
///
/// Every matched event ends in exactly one outcome:
/// `events_matched = events_delivered + delivery_failures + duplicates_skipped + events_filtered + events_selected`
/// (`events_selected` only in dry runs, where nothing is delivered).
/// Counted apart: records that did not parse (`malformed`; of them,
/// `unusable_ids` parsed but carry an `event_id` that cannot be a header),
/// records retention deleted before they were read (`records_expired`, of
/// any webhook), and this webhook's records timestamped far ahead of the log
/// around them (`clock_anomalies`, a producer's broken clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counters {
    /// Log records (of every webhook) with a timestamp in the window: read,
    /// or skipped where the log's index showed they were other webhooks'.
    pub events_scanned: u64,
    /// This webhook's events in the window.
    pub events_matched: u64,
    /// Events the webhook URL accepted with a 2xx.
    pub events_delivered: u64,
    /// Repeated `event_id`s that were not delivered again.
    pub duplicates_skipped: u64,
    /// Events that still failed after their retries (see the failure list).
    pub delivery_failures: u64,
    /// Events left out by the job's selection.
    #[serde(default)]
    pub events_filtered: u64,
    /// A dry run: events it would have delivered.
    #[serde(default)]
    pub events_selected: u64,
    /// `only: failed`: of the filtered events, those whose copies carried no
    /// delivery outcome at all.
    #[serde(default)]
    pub events_without_outcome: u64,
    /// This webhook's records that did not parse, named another webhook, or
    /// had an `event_id` that cannot be a header: set aside.
    pub malformed: u64,
    /// Records of the window deleted by retention before they were read.
    #[serde(default)]
    pub records_expired: u64,
    /// Records timestamped far ahead of the records around them.
    #[serde(default)]
    pub clock_anomalies: u64,
    /// Of `malformed`: events of the window that parsed but whose `event_id`
    /// cannot be a `webhook-id` header. They were not delivered, so the job
    /// ends `INCOMPLETE` (docs/delivery-log.md, "event_id").
    #[serde(default)]
    pub unusable_ids: u64,
    /// Of `events_scanned`, other webhooks' records the slices did not read:
    /// the log's index showed this webhook had none there (docs/guarantees.md,
    /// "The log's index").
    #[serde(default)]
    pub records_skipped: u64,
    /// Of `events_scanned`, other webhooks' records the slices read because
    /// the log's index did not cover them (not written yet, lost, or the
    /// index off for a log that changed): the index's fallback to a full scan.
    #[serde(default)]
    pub records_unindexed: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.events_scanned += other.events_scanned;
        self.events_matched += other.events_matched;
        self.events_delivered += other.events_delivered;
        self.duplicates_skipped += other.duplicates_skipped;
        self.delivery_failures += other.delivery_failures;
        self.events_filtered += other.events_filtered;
        self.events_selected += other.events_selected;
        self.events_without_outcome += other.events_without_outcome;
        self.malformed += other.malformed;
        self.records_expired += other.records_expired;
        self.clock_anomalies += other.clock_anomalies;
        self.unusable_ids += other.unusable_ids;
        self.records_skipped += other.records_skipped;
        self.records_unindexed += other.records_unindexed;
    }

    /// Takes back what `add` added (a running sum losing one of its parts).
    pub fn remove(&mut self, other: &Counters) {
        self.events_scanned -= other.events_scanned;
        self.events_matched -= other.events_matched;
        self.events_delivered -= other.events_delivered;
        self.duplicates_skipped -= other.duplicates_skipped;
        self.delivery_failures -= other.delivery_failures;
        self.events_filtered -= other.events_filtered;
        self.events_selected -= other.events_selected;
        self.events_without_outcome -= other.events_without_outcome;
        self.malformed -= other.malformed;
        self.records_expired -= other.records_expired;
        self.clock_anomalies -= other.clock_anomalies;
        self.unusable_ids -= other.unusable_ids;
        self.records_skipped -= other.records_skipped;
        self.records_unindexed -= other.records_unindexed;
    }

    /// The counts equation holds.
    pub fn adds_up(&self) -> bool {
        self.events_matched
            == self.events_delivered
                + self.delivery_failures
                + self.duplicates_skipped
                + self.events_filtered
                + self.events_selected
    }
}

/// A job's progress: its slices and its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// Time slices the window was cut into.
    pub slices_total: u32,
    /// Slices that have ended (done, failed or cancelled).
    pub slices_done: u32,
    #[serde(flatten)]
    pub counters: Counters,
}

/// A replay job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Job {
    pub job_id: JobId,
    pub webhook_id: WebhookId,
    #[schema(example = "2026-11-23T00:00:00.000Z")]
    pub from: String,
    #[schema(example = "2026-11-23T06:00:00.000Z")]
    pub to: String,
    pub state: JobState,
    /// Why the job is in its state, with its counts once it has ended;
    /// absent when there is nothing to say.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state_reason: Option<String>,
    #[schema(example = "2026-11-24T09:15:02.417Z")]
    pub created_at: String,
    #[schema(example = "2026-11-24T09:15:40.052Z")]
    pub updated_at: String,
    pub progress: Progress,
    /// Which events the job replays; absent for the whole window.
    #[serde(default, skip_serializing_if = "Selection::is_everything")]
    pub selection: Selection,
    /// Once the job has ended: what it did not deliver and where to see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// The job's last pause, if it was ever paused (docs/api.md, "Pause and resume").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<JobPause>,
    /// The webhook the events are delivered to, when not `webhook_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub target_webhook_id: Option<WebhookId>,
    /// The job checks its receiver before its first delivery.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crc_check: bool,
    /// The limits the request set (absent: the deployment's ceilings).
    #[serde(default, skip_serializing_if = "JobLimits::is_none")]
    pub limits: JobLimits,
    /// The JSON Pointer whose value orders the job's deliveries per key;
    /// absent: unordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// While slices of the job run: its pace now, from their last
    /// heartbeats (docs/api.md, "Limits").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<JobPace>,
}

/// A running job's pace: how hard it may press its receiver now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobPace {
    /// Requests the running slices may have in flight now, together: their
    /// share of the job's limits, or less while the adaptive pace backs off.
    pub in_flight: u32,
    /// Slices running (a heartbeat reported their pace).
    pub slices_running: u32,
}

/// Who paused a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PausedBy {
    /// `POST /v1/replays/{job_id}/pause`.
    Request,
    /// A delivery's answer carried `webhook-delivery: pause`.
    Receiver,
    /// A value this version does not know (a newer service).
    #[serde(other)]
    #[serde(skip_serializing)]
    Unknown,
}

impl PausedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            PausedBy::Request => "request",
            PausedBy::Receiver => "receiver",
            PausedBy::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "request" => PausedBy::Request,
            "receiver" => PausedBy::Receiver,
            _ => PausedBy::Unknown,
        }
    }
}

/// A job's last pause: when, by whom and why; until when it may last; when
/// it was resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobPause {
    #[schema(example = "2026-11-24T09:20:11.003Z")]
    pub paused_at: String,
    pub paused_by: PausedBy,
    /// The reason given with the request, or the receiver's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Not resumed by then, the job ends `INCOMPLETE` (`MAX_PAUSE_SECONDS`,
    /// or the request's `expires_in_seconds`).
    #[schema(example = "2026-11-25T09:20:11.003Z")]
    pub expires_at: String,
    /// When it was resumed; absent while paused, or if the pause expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<String>,
}

/// `POST /v1/replays/{job_id}/pause` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Shown in the job's `pause.reason` (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "receiver maintenance until 10:00 UTC", max_length = 200)]
    pub reason: Option<String>,
    /// Not resumed within this many seconds, the job ends `INCOMPLETE`; at
    /// most (and by default) the deployment's `MAX_PAUSE_SECONDS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub expires_in_seconds: Option<u32>,
}

/// An ended job's report (also in its status event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobResult {
    /// Events that could not be delivered (`progress.delivery_failures`).
    pub failures: u64,
    /// Where they are listed: `GET` this path (paged, or NDJSON).
    #[schema(example = "/v1/replays/job_7c1e5a9d2b4f4e8a9c3d6b0f1e2a5c7d/failures")]
    pub failure_report: String,
    /// `event_ids` asked for and not found in the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_found: Vec<String>,
    /// A dry run's findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunResult>,
}

/// What a dry run found: what a real run of the same request would send.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DryRunResult {
    /// Events that would be delivered, by event type.
    pub by_event_type: std::collections::BTreeMap<String, u64>,
    /// Their payload bytes.
    pub payload_bytes: u64,
    /// How long delivering them would take at the job's caps with a receiver
    /// answering in 100 ms: `MAX_PARALLEL_SLICES` × the smaller of
    /// `DELIVERY_RATE_PER_SECOND` and `DELIVERY_CONCURRENCY` / 0.1 s.
    pub estimated_seconds: f64,
}

/// `GET /v1/replays/{job_id}/failures`: one page of the failure list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FailurePage {
    pub failures: Vec<Failure>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An event a job could not deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Failure {
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The receiver's last HTTP status; absent when it never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    pub attempts: u32,
    pub last_error: String,
    /// When it failed for good (RFC 3339).
    pub at: String,
}

/// The answer to a replay request (202).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayAccepted {
    pub job_id: JobId,
    pub webhook_id: WebhookId,
    #[schema(example = "2026-11-23T00:00:00.000Z")]
    pub from: String,
    #[schema(example = "2026-11-23T06:00:00.000Z")]
    pub to: String,
    pub state: JobState,
    #[schema(example = "2026-11-24T09:15:02.417Z")]
    pub created_at: String,
}

impl From<&Job> for ReplayAccepted {
    fn from(job: &Job) -> Self {
        Self {
            job_id: job.job_id.clone(),
            webhook_id: job.webhook_id.clone(),
            from: job.from.clone(),
            to: job.to.clone(),
            state: job.state,
            created_at: job.created_at.clone(),
        }
    }
}

/// The Twitter-form replay request's answer (202).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TwitterReplayAccepted {
    pub job_id: JobId,
    #[schema(example = "2026-11-24T09:15:02.417Z")]
    pub created_at: String,
}

/// `GET /v1/replays` and `GET /v1/webhooks/{webhook_id}/replays`: a page of
/// jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayList {
    pub replays: Vec<Job>,
    /// Where the next page starts (`cursor`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_ones_are_tolerated() {
        for s in [
            JobState::Open,
            JobState::Started,
            JobState::Ongoing,
            JobState::Paused,
            JobState::Completed,
            JobState::Incomplete,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert!(!JobState::Ongoing.is_terminal());
        assert!(JobState::Cancelled.is_terminal());
        assert!(JobState::Paused.is_live() && !JobState::Paused.is_active() && !JobState::Paused.is_terminal());
        let later: JobState = serde_json::from_str(r#""ARCHIVED""#).unwrap();
        assert_eq!(later, JobState::Unknown);
        assert!(!later.is_terminal());
        assert_eq!(JobState::parse("ARCHIVED"), None);
    }

    #[test]
    fn progress_is_flat_and_tolerates_new_counters() {
        let p = Progress {
            slices_total: 2,
            slices_done: 1,
            counters: Counters { events_matched: 3, ..Counters::default() },
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["events_matched"], 3);
        assert_eq!(v["slices_done"], 1);
        let mut newer = v.clone();
        newer["events_rerouted"] = 7.into();
        let back: Progress = serde_json::from_value(newer).unwrap();
        assert_eq!(back, p);
    }
}
