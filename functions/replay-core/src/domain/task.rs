//! Queue messages: tagged and versioned, so workers of two releases can run
//! side by side during a deploy (docs/operations.md, "Formats and versions").
//!
//! Version 2 added `send_status_event`; version 1's `replay_slice` is read as
//! it is. `replay_slice`'s optional `wake_up` came later within version 2:
//! a worker that does not know it reads the message as it always did. A message of a newer version is handed back to the queue untouched
//! (services::worker), to be taken by a worker of the newer release.

use super::ids::JobId;
use serde::{Deserialize, Serialize};

/// The message format this code writes; it reads this one and the previous.
pub const TASK_VERSION: u32 = 2;

/// The version this build writes: [`TASK_VERSION`], unless the mixed-version
/// tests' `task_version_written=return(N)` plays a newer release (builds
/// with the `failpoints` feature only).
fn written_version() -> u32 {
    fail::fail_point!("task_version_written", |v| v.and_then(|v| v.parse().ok()).unwrap_or(TASK_VERSION));
    TASK_VERSION
}

/// The newest version this build reads (`task_version_read=return(N)`: a
/// newer release's worker, in the tests).
fn readable_version() -> u32 {
    fail::fail_point!("task_version_read", |v| v.and_then(|v| v.parse().ok()).unwrap_or(TASK_VERSION));
    TASK_VERSION
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QueueTask {
    /// Replay (or continue replaying) one slice of a job. Everything else the
    /// worker needs is in MySQL (the job) and DynamoDB (the checkpoint).
    ReplaySlice {
        v: u32,
        job_id: JobId,
        slice_index: u32,
        /// 0 for the first run; incremented by each continuation.
        #[serde(default)]
        continuation: u32,
        /// A wake-up: the worker runs whichever waiting slice is fairest to
        /// run now (docs/security.md, "Fair shares"), this one or another.
        /// Without it, the message is for this slice alone (a continuation,
        /// a resume after a pause, a restart). Older workers ignore the
        /// field and run the named slice, as they always did.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        wake_up: bool,
    },
    /// Send the job's signed status event (the job has ended).
    SendStatusEvent { v: u32, job_id: JobId },
}

/// What a message body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Task(QueueTask),
    /// Written by a newer release: another worker should take it.
    NewerVersion(u32),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    v: u32,
}

impl QueueTask {
    /// A message for this slice alone.
    pub fn slice(job_id: JobId, slice_index: u32, continuation: u32) -> Self {
        QueueTask::ReplaySlice { v: written_version(), job_id, slice_index, continuation, wake_up: false }
    }

    /// A wake-up sent when `slice_index` was claimed to start: some waiting
    /// slice starts, the fairest (not necessarily this one).
    pub fn wake_up(job_id: JobId, slice_index: u32) -> Self {
        QueueTask::ReplaySlice { v: written_version(), job_id, slice_index, continuation: 0, wake_up: true }
    }

    pub fn status_event(job_id: JobId) -> Self {
        QueueTask::SendStatusEvent { v: written_version(), job_id }
    }

    pub fn job_id(&self) -> &JobId {
        match self {
            QueueTask::ReplaySlice { job_id, .. } | QueueTask::SendStatusEvent { job_id, .. } => job_id,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(body: &str) -> Result<Decoded, String> {
        let envelope: Envelope = serde_json::from_str(body).map_err(|e| e.to_string())?;
        if envelope.v > readable_version() {
            return Ok(Decoded::NewerVersion(envelope.v));
        }
        serde_json::from_str(body).map(Decoded::Task).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_version_1() {
        let t = QueueTask::slice(JobId::from("job_1"), 3, 2);
        assert_eq!(QueueTask::decode(&t.to_json()).unwrap(), Decoded::Task(t));
        let old = r#"{"type":"replay_slice","v":1,"job_id":"job_1","slice_index":3}"#;
        assert_eq!(
            QueueTask::decode(old).unwrap(),
            Decoded::Task(QueueTask::ReplaySlice {
                v: 1,
                job_id: JobId::from("job_1"),
                slice_index: 3,
                continuation: 0,
                wake_up: false,
            })
        );
        let w = QueueTask::wake_up(JobId::from("job_1"), 4);
        assert!(w.to_json().contains(r#""wake_up":true"#), "{}", w.to_json());
        assert_eq!(QueueTask::decode(&w.to_json()).unwrap(), Decoded::Task(w));
        let targeted = QueueTask::slice(JobId::from("job_1"), 4, 0).to_json();
        assert!(!targeted.contains("wake_up"), "a targeted message reads as version 2 always did: {targeted}");
        let s = QueueTask::status_event(JobId::from("job_2"));
        assert_eq!(QueueTask::decode(&s.to_json()).unwrap(), Decoded::Task(s));
        assert!(QueueTask::decode("{}").is_err());
        assert!(QueueTask::decode("not json").is_err());
    }

    #[test]
    fn a_newer_version_is_recognised_not_misread() {
        let newer = r#"{"type":"replay_slice","v":3,"job_id":"job_1","slice_index":3,"shard":"new field"}"#;
        assert_eq!(QueueTask::decode(newer).unwrap(), Decoded::NewerVersion(3));
        let unknown_type = r#"{"type":"compact_everything","v":9}"#;
        assert_eq!(QueueTask::decode(unknown_type).unwrap(), Decoded::NewerVersion(9));
    }
}
