//! Queue messages. Tagged and versioned so old messages still decode after a deploy.

use super::ids::JobId;
use serde::{Deserialize, Serialize};

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
    },
}

impl QueueTask {
    pub fn slice(job_id: JobId, slice_index: u32, continuation: u32) -> Self {
        QueueTask::ReplaySlice { v: 1, job_id, slice_index, continuation }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = QueueTask::slice(JobId::from("job_1"), 3, 2);
        assert_eq!(QueueTask::from_json(&t.to_json()).unwrap(), t);
        let old = r#"{"type":"replay_slice","v":1,"job_id":"job_1","slice_index":3}"#;
        assert_eq!(QueueTask::from_json(old).unwrap(), QueueTask::slice(JobId::from("job_1"), 3, 0));
        assert!(QueueTask::from_json("{}").is_err());
    }
}
