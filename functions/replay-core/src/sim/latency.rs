//! Ports that take time, as MySQL and DynamoDB do: each call waits half its
//! latency before it lands and half after, so a crash can fall between two
//! writes (a failure recorded, its checkpoint not saved) or after a write
//! whose answer never came back. The in-memory adapters alone answer at the
//! same virtual instant, where no crash can fall.
//!
//! Now and then a call freezes its worker (a stalled connection, a paused
//! process) for longer than a lease before its write lands: the slice is
//! taken over meanwhile, and the frozen worker's late writes must not undo
//! the new holder's work. The oracle counts each freeze as a crash.

use crate::adapters::memory::lock;
use crate::domain::checkpoint::{Checkpoint, Lease};
use crate::domain::ids::JobId;
use crate::domain::job::Counters;
use crate::error::Result;
use crate::ports::{Beat, CheckpointStore, FailedEvent, SlicePace, SliceProgress};
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::Rng;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Calls that freeze their worker: how often, and for how long at most.
pub struct Freezes {
    pub rate: f64,
    pub longest: Duration,
    pub rng: Mutex<StdRng>,
    /// Freezes so far, shared by every port of the run.
    pub count: Arc<AtomicU32>,
}

pub struct Latent<T: ?Sized> {
    pub inner: Arc<T>,
    pub latency: Duration,
    pub freezes: Option<Arc<Freezes>>,
}

impl<T: ?Sized> Latent<T> {
    async fn call<R>(&self, call: impl Future<Output = R>) -> R {
        tokio::time::sleep(self.latency / 2 + self.freeze()).await;
        let answer = call.await;
        tokio::time::sleep(self.latency / 2).await;
        answer
    }

    fn freeze(&self) -> Duration {
        let Some(f) = &self.freezes else { return Duration::ZERO };
        let mut rng = lock(&f.rng);
        if !rng.gen_bool(f.rate) {
            return Duration::ZERO;
        }
        f.count.fetch_add(1, Ordering::SeqCst);
        f.longest.mul_f64(rng.gen_range(0.5..=1.0))
    }
}

#[async_trait]
impl<T: CheckpointStore + ?Sized> CheckpointStore for Latent<T> {
    async fn acquire(&self, slice_key: &str, owner: &str, ttl_ms: u64) -> Result<Option<(Lease, Checkpoint)>> {
        self.call(self.inner.acquire(slice_key, owner, ttl_ms)).await
    }

    async fn save(&self, slice_key: &str, lease: &Lease, checkpoint: &Checkpoint, ttl_ms: u64) -> Result<()> {
        self.call(self.inner.save(slice_key, lease, checkpoint, ttl_ms)).await
    }

    async fn renew(&self, slice_key: &str, lease: &Lease, ttl_ms: u64) -> Result<()> {
        self.call(self.inner.renew(slice_key, lease, ttl_ms)).await
    }

    async fn release(&self, slice_key: &str, lease: &Lease) -> Result<()> {
        self.call(self.inner.release(slice_key, lease)).await
    }
}

#[async_trait]
impl<T: SliceProgress + ?Sized> SliceProgress for Latent<T> {
    async fn heartbeat(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: u64,
        counters: &Counters,
        progressed: bool,
        pace: SlicePace,
    ) -> Result<Beat> {
        self.call(self.inner.heartbeat(job_id, slice_index, token, counters, progressed, pace)).await
    }

    async fn record_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()> {
        self.call(self.inner.record_failures(job_id, failures)).await
    }

    async fn record_found(&self, job_id: &JobId, event_ids: &[String]) -> Result<()> {
        self.call(self.inner.record_found(job_id, event_ids)).await
    }
}
