//! Replay jobs: slice states, the final state of a job and its status
//! event. The wire types (job states, counters, the job view) are the API's
//! own, in the types crate.

use replay_types::event::{ReplayJobStatus, StatusEvent, StatusWord};
pub use replay_types::job::{Counters, Job, JobLimits, JobPause, JobState, PausedBy, Progress};

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

/// The signed status event POSTed when a job ends (docs/api.md, "The job status event"):
/// the job's state, counts, selection and result.
pub fn status_event_body(job: &Job) -> StatusEvent {
    StatusEvent {
        replay_job_status: ReplayJobStatus {
            job_id: job.job_id.clone(),
            webhook_id: job.webhook_id.clone(),
            job_state: StatusWord::of(job.state),
            job_state_description: job.state_reason.clone().unwrap_or_default(),
            counts: job.progress.clone(),
            selection: job.selection.clone(),
            result: job.result.clone(),
            pause: job.pause.clone(),
        },
    }
}

/// What one slice of a job may put on its receiver: slices of the job at
/// once, and each one's requests in flight and starts per second (None: the
/// deployment's per-slice settings). A job's own limits are split evenly
/// among its slices, and the slices at once are capped so each share is at
/// least 1: the job as a whole never exceeds its limits (docs/api.md, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceShare {
    pub parallel: u32,
    pub in_flight: Option<u32>,
    pub per_second: Option<u32>,
}

pub fn slice_share(limits: &JobLimits, max_parallel_slices: u32) -> SliceShare {
    let parallel = [Some(max_parallel_slices), limits.max_in_flight, limits.max_events_per_second]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(1)
        .max(1);
    SliceShare {
        parallel,
        in_flight: limits.max_in_flight.map(|n| (n / parallel).max(1)),
        per_second: limits.max_events_per_second.map(|n| (n / parallel).max(1)),
    }
}

/// A paused job's `state_reason`.
pub fn paused_reason(by: PausedBy, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("paused by {}: {r}", by.as_str()),
        None => format!("paused by {}", by.as_str()),
    }
}

/// The end of a job whose pause expired: `INCOMPLETE`, whatever it had
/// done (what it did not read is lost to it); the reason says who paused it,
/// when, why, and what was left.
pub fn expired_pause_state(
    pause: &JobPause,
    counters: &Counters,
    slices_left: u32,
    slices_total: u32,
    dry_run: bool,
) -> (JobState, String) {
    let why = match &pause.reason {
        Some(r) => format!("paused by {} at {} ({r})", pause.paused_by.as_str(), pause.paused_at),
        None => format!("paused by {} at {}", pause.paused_by.as_str(), pause.paused_at),
    };
    let c = counters;
    (
        JobState::Incomplete,
        format!(
            "{why} and not resumed before the pause expired: {slices_left} of {slices_total} slice(s) were not \
             replayed to their end; {} delivered, {} failed, {} duplicates skipped, {} filtered out of {} matched \
             so far{}",
            c.events_delivered,
            c.delivery_failures,
            c.duplicates_skipped,
            c.events_filtered,
            c.events_matched,
            if dry_run { " (dry run, nothing sent)" } else { "" }
        ),
    )
}

/// Final state of a job whose slices all ended, and the reason that says
/// which outcome each count is.
pub fn final_state(counters: &Counters, slices_failed: u32, slices_total: u32, dry_run: bool) -> (JobState, String) {
    let c = counters;
    let mut problems = Vec::new();
    if slices_failed > 0 {
        problems.push(format!("{slices_failed} slice(s) could not be replayed"));
    }
    if c.delivery_failures > 0 {
        problems.push(format!("{} event(s) could not be delivered (see the failure list)", c.delivery_failures));
    }
    if c.unusable_ids > 0 {
        problems.push(format!(
            "{} event(s) had an event_id that cannot be a webhook-id header and were not delivered",
            c.unusable_ids
        ));
    }
    if c.records_expired > 0 {
        problems.push(format!("{} record(s) were deleted by retention before they could be read", c.records_expired));
    }
    let summary = if dry_run {
        format!(
            "dry run, nothing sent: {} would be delivered, {} duplicates skipped, {} filtered out of {} matched; {} malformed set aside",
            c.events_selected, c.duplicates_skipped, c.events_filtered, c.events_matched, c.malformed
        )
    } else {
        format!(
            "{} delivered, {} failed, {} duplicates skipped, {} filtered out of {} matched; {} malformed set aside",
            c.events_delivered,
            c.delivery_failures,
            c.duplicates_skipped,
            c.events_filtered,
            c.events_matched,
            c.malformed
        )
    };
    if slices_failed > 0 && slices_failed >= slices_total {
        (JobState::Failed, format!("every slice failed after repeated restarts; {summary}"))
    } else if problems.is_empty() {
        (JobState::Completed, format!("all events in the window were replayed: {summary}"))
    } else {
        (JobState::Incomplete, format!("{}; {summary}", problems.join("; ")))
    }
}

/// How long `events` deliveries take at the job's caps with a receiver that
/// answers in 100 ms: slices at once × per slice the smaller of the rate
/// limit and the in-flight cap at 100 ms per request.
pub fn estimated_seconds(events: u64, max_parallel_slices: u32, rate_per_second: u32, concurrency: usize) -> f64 {
    let in_flight = concurrency as f64 * 10.0;
    let per_slice = if rate_per_second > 0 { f64::from(rate_per_second).min(in_flight) } else { in_flight }.max(1.0);
    events as f64 / (per_slice * f64::from(max_parallel_slices.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_state_depends_on_failures() {
        let mut c = Counters::default();
        assert_eq!(final_state(&c, 0, 3, false).0, JobState::Completed);
        c.delivery_failures = 1;
        assert_eq!(final_state(&c, 0, 3, false).0, JobState::Incomplete);
        let expired = Counters { records_expired: 4, ..Counters::default() };
        let (state, reason) = final_state(&expired, 0, 3, false);
        assert_eq!(state, JobState::Incomplete, "lost data never reports COMPLETED");
        assert!(reason.contains("4 record(s) were deleted by retention"), "{reason}");
        assert_eq!(final_state(&Counters::default(), 2, 3, false).0, JobState::Incomplete);
        assert_eq!(final_state(&Counters::default(), 3, 3, false).0, JobState::Failed);
        // An unusable id lost an event; a record that does not parse did not.
        let unusable = Counters { malformed: 3, unusable_ids: 2, ..Counters::default() };
        let (state, reason) = final_state(&unusable, 0, 3, false);
        assert_eq!(state, JobState::Incomplete);
        assert!(reason.contains("2 event(s) had an event_id that cannot be a webhook-id header"), "{reason}");
        assert_eq!(final_state(&Counters { malformed: 3, ..Counters::default() }, 0, 3, false).0, JobState::Completed);
        let dry = Counters { events_matched: 5, events_selected: 5, ..Counters::default() };
        let (state, reason) = final_state(&dry, 0, 1, true);
        assert_eq!(state, JobState::Completed);
        assert!(reason.contains("dry run, nothing sent: 5 would be delivered"), "{reason}");
    }

    #[test]
    fn a_jobs_limits_are_split_so_the_slices_never_exceed_them() {
        let none = slice_share(&JobLimits::default(), 4);
        assert_eq!(none, SliceShare { parallel: 4, in_flight: None, per_second: None });
        for in_flight in 1..=70 {
            for per_second in [1, 2, 3, 5, 10, 99, 1_000] {
                let limits = JobLimits { max_in_flight: Some(in_flight), max_events_per_second: Some(per_second) };
                let share = slice_share(&limits, 4);
                assert!(share.parallel >= 1 && share.parallel <= 4, "{share:?}");
                assert!(share.parallel * share.in_flight.unwrap() <= in_flight, "{limits:?} {share:?}");
                assert!(share.parallel * share.per_second.unwrap() <= per_second, "{limits:?} {share:?}");
            }
        }
        // 20 in flight over 4 slices: 5 each.
        let share = slice_share(&JobLimits { max_in_flight: Some(20), max_events_per_second: None }, 4);
        assert_eq!(share, SliceShare { parallel: 4, in_flight: Some(5), per_second: None });
    }

    #[test]
    fn the_estimate_follows_the_caps() {
        // 16 in flight at 100 ms each = 160/s per slice, under the 1,000/s rate.
        assert_eq!(estimated_seconds(4_000, 4, 1_000, 16), 6.25);
        assert_eq!(estimated_seconds(1_600, 1, 0, 16), 10.0);
        // A rate limit below that is the bound.
        assert_eq!(estimated_seconds(1_000, 2, 50, 16), 10.0);
    }
}
