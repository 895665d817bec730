//! Replay jobs: states, progress counters and the views the API returns.

use super::ids::{JobId, WebhookId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Open,
    Started,
    Ongoing,
    Completed,
    Incomplete,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Open => "OPEN",
            JobState::Started => "STARTED",
            JobState::Ongoing => "ONGOING",
            JobState::Completed => "COMPLETED",
            JobState::Incomplete => "INCOMPLETE",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OPEN" => JobState::Open,
            "STARTED" => JobState::Started,
            "ONGOING" => JobState::Ongoing,
            "COMPLETED" => JobState::Completed,
            "INCOMPLETE" => JobState::Incomplete,
            "FAILED" => JobState::Failed,
            "CANCELLED" => JobState::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Completed | JobState::Incomplete | JobState::Failed | JobState::Cancelled)
    }

    /// The `job_state` word of the final status event.
    pub fn status_event_word(self) -> &'static str {
        match self {
            JobState::Completed => "Complete",
            JobState::Cancelled => "Cancelled",
            _ => "Incomplete",
        }
    }
}

/// A slice's state (`replay_slices.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceState {
    /// Not started (it may be claimed for enqueue: `enqueued_at`).
    Pending,
    Running,
    Done,
    /// Given up after repeated restarts.
    Failed,
    Cancelled,
}

impl SliceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SliceState::Pending => "PENDING",
            SliceState::Running => "RUNNING",
            SliceState::Done => "DONE",
            SliceState::Failed => "FAILED",
            SliceState::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PENDING" => SliceState::Pending,
            "RUNNING" => SliceState::Running,
            "DONE" => SliceState::Done,
            "FAILED" => SliceState::Failed,
            "CANCELLED" => SliceState::Cancelled,
            _ => return None,
        })
    }

    pub fn has_ended(self) -> bool {
        matches!(self, SliceState::Done | SliceState::Failed | SliceState::Cancelled)
    }
}

/// Counters of one slice or, summed, of one job (contract `progress`).
///
/// Every matched event ends in exactly one outcome:
/// `events_matched = events_delivered + delivery_failures + duplicates_skipped + events_filtered`.
/// Counted apart: records that did not parse (`malformed`), records retention
/// deleted before they were read (`records_expired`, of any webhook), and
/// this webhook's records whose timestamp was far ahead of the log around
/// them (`clock_anomalies`: a producer's broken clock; they are still
/// selected by their timestamp).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub events_scanned: u64,
    pub events_matched: u64,
    pub events_delivered: u64,
    pub duplicates_skipped: u64,
    pub delivery_failures: u64,
    #[serde(default)]
    pub events_filtered: u64,
    pub malformed: u64,
    #[serde(default)]
    pub records_expired: u64,
    #[serde(default)]
    pub clock_anomalies: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.events_scanned += other.events_scanned;
        self.events_matched += other.events_matched;
        self.events_delivered += other.events_delivered;
        self.duplicates_skipped += other.duplicates_skipped;
        self.delivery_failures += other.delivery_failures;
        self.events_filtered += other.events_filtered;
        self.malformed += other.malformed;
        self.records_expired += other.records_expired;
        self.clock_anomalies += other.clock_anomalies;
    }

    /// The counts equation holds.
    pub fn adds_up(&self) -> bool {
        self.events_matched
            == self.events_delivered + self.delivery_failures + self.duplicates_skipped + self.events_filtered
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Progress {
    pub slices_total: u32,
    pub slices_done: u32,
    #[serde(flatten)]
    pub counters: Counters,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    pub job_id: JobId,
    pub webhook_id: WebhookId,
    pub from: String,
    pub to: String,
    pub state: JobState,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub progress: Progress,
}

/// The signed status event POSTed when a job ends (contract section 3).
pub fn status_event_body(
    job_id: &JobId,
    webhook_id: &WebhookId,
    state: JobState,
    description: &str,
    progress: &Progress,
) -> serde_json::Value {
    serde_json::json!({
        "replay_job_status": {
            "job_id": job_id,
            "webhook_id": webhook_id,
            "job_state": state.status_event_word(),
            "job_state_description": description,
            "counts": progress,
        }
    })
}

/// Final state of a job whose slices all ended, and the reason that says
/// which outcome each count is.
pub fn final_state(counters: &Counters, slices_failed: u32, slices_total: u32) -> (JobState, String) {
    let c = counters;
    let mut problems = Vec::new();
    if slices_failed > 0 {
        problems.push(format!("{slices_failed} slice(s) could not be replayed"));
    }
    if c.delivery_failures > 0 {
        problems.push(format!("{} event(s) could not be delivered (see the failure list)", c.delivery_failures));
    }
    if c.records_expired > 0 {
        problems.push(format!("{} record(s) were deleted by retention before they could be read", c.records_expired));
    }
    let summary = format!(
        "{} delivered, {} failed, {} duplicates skipped, {} filtered out of {} matched; {} malformed set aside",
        c.events_delivered, c.delivery_failures, c.duplicates_skipped, c.events_filtered, c.events_matched, c.malformed
    );
    if slices_failed > 0 && slices_failed >= slices_total {
        (JobState::Failed, format!("every slice failed after repeated restarts; {summary}"))
    } else if problems.is_empty() {
        (JobState::Completed, format!("all events in the window were replayed: {summary}"))
    } else {
        (JobState::Incomplete, format!("{}; {summary}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_terminality() {
        for s in [
            JobState::Open,
            JobState::Started,
            JobState::Ongoing,
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
    }

    #[test]
    fn final_state_depends_on_failures() {
        let mut c = Counters::default();
        assert_eq!(final_state(&c, 0, 3).0, JobState::Completed);
        c.delivery_failures = 1;
        assert_eq!(final_state(&c, 0, 3).0, JobState::Incomplete);
        let expired = Counters { records_expired: 4, ..Counters::default() };
        let (state, reason) = final_state(&expired, 0, 3);
        assert_eq!(state, JobState::Incomplete, "lost data never reports COMPLETED");
        assert!(reason.contains("4 record(s) were deleted by retention"), "{reason}");
        assert_eq!(final_state(&Counters::default(), 2, 3).0, JobState::Incomplete);
        assert_eq!(final_state(&Counters::default(), 3, 3).0, JobState::Failed);
    }
}
