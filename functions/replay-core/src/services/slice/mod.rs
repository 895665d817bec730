//! The slice engine: read one time slice of a webhook's partitions, select by
//! timestamp, dedup, deliver, checkpoint (docs/guarantees.md). Pure
//! orchestration over the ports, unit-tested with fakes.
//!
//! - `run.rs`: the driver: reads, sends, writes and waits, in a fixed order;
//! - `decider.rs`: every decision, synchronous and pure (inputs in, commands
//!   out), with `intake.rs` (the hold rule, dedup, selection), `circuit.rs`
//!   (is the receiver down) and `queue.rs` (what a checkpoint covers);
//! - `ahead.rs`: what an earlier run settled beyond its checkpoint;
//! - `save.rs`: the driver's writes (commits, checkpoint saves, the failure list);
//! - `keeper.rs`: lease renewal and heartbeats while deliveries run;
//! - `outcomes.rs`: the failed-only rule's first pass (logged delivery outcomes);
//! - `range.rs`: where each partition's reading starts and ends, and what
//!   retention deleted before it was read;
//! - `retry.rs`: Kafka retries, the request rate limit.

mod ahead;
mod attempts;
mod circuit;
mod decider;
mod intake;
mod keeper;
mod outcomes;
mod queue;
mod range;
mod retries;
mod retry;
mod run;
mod save;
mod scan;

#[cfg(test)]
mod tests;

pub use decider::{MemoryPeak, MAX_HELD_WINDOWS};
pub use run::{run_slice, PEAK_MEMORY};

use crate::domain::checkpoint::Tally;
use crate::domain::filter::EventFilter;
use crate::domain::ids::{JobId, WebhookId};
use crate::domain::job::Counters;
use crate::domain::signing::Signer;
use crate::domain::window::Window;
use crate::ports::{CheckpointStore, Deliverer, DeliveryLog, SliceProgress, WebhookSigners};
use std::time::Duration;

/// Everything about the slice the loop needs, loaded by the caller.
#[derive(Debug, Clone)]
pub struct SliceSpec {
    pub job_id: JobId,
    pub slice_index: u32,
    pub webhook_id: WebhookId,
    /// Read one after another (more than one when the topic gained partitions).
    pub partitions: Vec<u32>,
    pub window: Window,
    /// Per partition, the offsets of the window's start and end when the job
    /// was created (what retention deletes before the slice reads it is counted).
    pub planned: Vec<(u32, i64, i64)>,
    pub url: String,
    /// The webhook delivered to when not `webhook_id` (its key signs; each
    /// request names the source in `x-replay-source-webhook-id`).
    pub target_webhook_id: Option<WebhookId>,
    /// Shared by every delivery of the slice; the keeper replaces its keys
    /// when a heartbeat shows another `secrets_version` (a rotation).
    pub key: Signer,
    /// The version of the webhook's keys `key` holds.
    pub secrets_version: String,
    /// Which of the window's events to replay.
    pub filter: EventFilter,
    /// An ordered job's JSON Pointer to each event's key (domain/ordering.rs).
    pub ordering_key: Option<String>,
    /// Where the job's latest slice left the pace (domain/pace.rs).
    pub pace: Option<crate::domain::pace::SlicePace>,
}

impl SliceSpec {
    /// The time for every decision and deadline of a slice: tokio's clock, which
    /// is the system's in production and a virtual one under the simulation
    /// (a paused runtime), so no wall clock reaches the simulated path.
    pub fn now() -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }

    /// The webhook whose secret signs the deliveries.
    pub fn signing_webhook(&self) -> &WebhookId {
        self.target_webhook_id.as_ref().unwrap_or(&self.webhook_id)
    }

    pub fn checkpoint_key(&self) -> String {
        checkpoint_key(&self.job_id, self.slice_index)
    }
}

/// The time for every decision and deadline of a slice: tokio's clock, which
/// is the system's in production and a virtual one under the simulation
/// (a paused runtime), so no wall clock reaches the simulated path.
pub fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

pub fn checkpoint_key(job_id: &JobId, slice_index: u32) -> String {
    format!("{job_id}#{slice_index}")
}

pub struct SlicePorts<'a> {
    pub log: &'a dyn DeliveryLog,
    pub checkpoints: &'a dyn CheckpointStore,
    pub deliverer: &'a dyn Deliverer,
    pub progress: &'a dyn SliceProgress,
    pub signers: &'a dyn WebhookSigners,
    pub delivery_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceOutcome {
    /// The whole slice was read; counters (and a dry run's tally) are final.
    Done { counters: Counters, tally: Tally, lease_token: u64 },
    /// Stopped before the deadline; the checkpoint is saved and the lease released.
    Continue(Counters),
    /// The receiver looks down: resume from the checkpoint after `delay`.
    Paused { delay: Duration, lease_token: u64 },
    /// The job was cancelled; the checkpoint is saved.
    Cancelled { counters: Counters, lease_token: u64 },
    /// The job was paused (or `receiver` asks for it to be, with its
    /// reason if it gave one); the checkpoint is saved and the lease
    /// released: the slice waits for the resume.
    JobPaused { counters: Counters, lease_token: u64, receiver: Option<Option<String>> },
    /// Another worker holds the slice (a duplicate message): nothing was done.
    Busy,
    /// The lease was taken over while running: this worker stopped writing.
    LeaseLost,
}
