//! The signed event that ends a job (docs/api.md, "The job status event"): POSTed to the
//! webhook URL with `webhook-id: replay-job-<job_id>`.

use crate::ids::{JobId, WebhookId};
use crate::job::{JobPause, JobResult, JobState, Progress, Selection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of the job status event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusEvent {
    pub replay_job_status: ReplayJobStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayJobStatus {
    pub job_id: JobId,
    pub webhook_id: WebhookId,
    pub job_state: StatusWord,
    /// The job's `state_reason`.
    pub job_state_description: String,
    /// The job's final `progress`.
    pub counts: Progress,
    /// The job's `selection`; absent for the whole window.
    #[serde(default, skip_serializing_if = "Selection::is_everything")]
    pub selection: Selection,
    /// The job's `result`: failures and where they are listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// The job's last pause, if it was ever paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<JobPause>,
}

/// Twitter's words for a job's end: `Complete` (COMPLETED), `Cancelled`,
/// `Incomplete` (INCOMPLETE and FAILED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum StatusWord {
    Complete,
    Cancelled,
    Incomplete,
    #[serde(other)]
    #[serde(skip_serializing)]
    Unknown,
}

impl StatusWord {
    pub fn of(state: JobState) -> Self {
        match state {
            JobState::Completed => Self::Complete,
            JobState::Cancelled => Self::Cancelled,
            _ => Self::Incomplete,
        }
    }
}

impl StatusEvent {
    /// The `webhook-id` the event is sent with.
    pub fn message_id(job_id: &JobId) -> String {
        format!("replay-job-{job_id}")
    }
}
