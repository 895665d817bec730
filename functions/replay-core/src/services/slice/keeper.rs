//! Keeps a running slice's lease and heartbeat going while it delivers,
//! however long a batch of requests takes: every `HEARTBEAT_EVERY_MS` it
//! renews the lease in DynamoDB (the deliveries' budget follows the lease)
//! and records the progress in MySQL, which answers with the job's state (a
//! cancel or a pause stops the slice within a heartbeat) and the webhook's
//! secrets' version (a rotation reaches the slice's deliveries within a
//! heartbeat).

use super::now;
use super::{SlicePorts, SliceSpec};
use crate::domain::checkpoint::{Lease, Position};
use crate::domain::job::{Counters, JobState};
use crate::domain::pace::SlicePace;
use crate::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long deliveries may go on: the invocation's time (less its margin),
/// the lease's validity (renewed while deliveries run) and a stop signal
/// (cancel, lease lost, circuit open). Shared by the keeper and the driver.
/// A request starts only with its full timeout ahead of it in the
/// invocation: one cut short may have been processed, and would be sent again.
#[derive(Debug)]
pub struct Budget {
    base: Instant,
    invocation_until_ms: u64,
    lease_until_ms: AtomicU64,
    stopped: AtomicBool,
}

impl Budget {
    pub fn new(invocation_until: Instant, lease_until: Instant) -> Self {
        let base = now();
        let ms = |t: Instant| t.saturating_duration_since(base).as_millis() as u64;
        Self {
            base,
            invocation_until_ms: ms(invocation_until),
            lease_until_ms: AtomicU64::new(ms(lease_until)),
            stopped: AtomicBool::new(false),
        }
    }

    fn left(&self, until_ms: u64) -> Duration {
        if self.stopped.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        (self.base + Duration::from_millis(until_ms)).saturating_duration_since(now())
    }

    /// The invocation's time left for requests (none once stopped).
    pub fn invocation_left(&self) -> Duration {
        self.left(self.invocation_until_ms)
    }

    /// The lease's time left as last renewed (none once stopped).
    pub fn lease_left(&self) -> Duration {
        self.left(self.lease_until_ms.load(Ordering::Acquire))
    }

    pub fn extend_lease(&self, lease_until: Instant) {
        let ms = lease_until.saturating_duration_since(self.base).as_millis() as u64;
        self.lease_until_ms.fetch_max(ms, Ordering::AcqRel);
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}

/// Why a slice stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The job ended under it (cancelled, or its pause expired).
    Cancelled,
    /// The job was paused: the slice checkpoints and waits for the resume.
    JobPaused,
    /// The receiver asked for the job to pause (`webhook-delivery: pause`):
    /// the slice checkpoints and pauses the job.
    ReceiverPause,
    LeaseLost,
    /// The receiver looks down.
    Circuit,
    /// The receiver asked to wait this long (a long `Retry-After`).
    Wait(Duration),
    /// The invocation's deadline is near.
    Deadline,
}

/// What the engine and the keeper share.
#[derive(Debug, Default)]
pub struct Shared {
    /// The committed prefix's counters and position.
    pub counters: Counters,
    pub position: Position,
    pub stop: Option<Stop>,
    /// The slice's pace now, for its heartbeats.
    pub pace: SlicePace,
}

pub fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The part of a lease's life requests may use: they end this much before
/// it expires, so a worker that takes it over never overlaps them.
pub fn lease_guard(ttl: Duration) -> Duration {
    (ttl / 5).min(Duration::from_secs(2))
}

pub struct Keeper<'a> {
    pub ports: &'a SlicePorts<'a>,
    pub spec: &'a SliceSpec,
    pub key: &'a str,
    pub lease: &'a Lease,
    pub ttl: Duration,
    pub every: Duration,
    pub budget: &'a Budget,
    pub shared: &'a Mutex<Shared>,
}

impl Keeper<'_> {
    fn stop(&self, reason: Stop) {
        let mut shared = lock(self.shared);
        if shared.stop.is_none() || reason == Stop::LeaseLost {
            shared.stop = Some(reason);
        }
        drop(shared);
        self.budget.stop();
    }

    /// The webhook's keys changed (a rotation): every delivery of the slice
    /// signs with the new ones from its next attempt. Returns the version
    /// now held; on an error the old keys stay and the next beat tries again.
    async fn reload_signer(&self, held: &str) -> String {
        match self.ports.signers.signer(self.spec.signing_webhook()).await {
            Ok((signer, version)) => {
                self.spec.key.replace_with(&signer);
                info!(keys = signer.key_count(), "the webhook's secrets changed; signing with the new keys");
                version
            }
            Err(e) => {
                warn!(error = %e, "could not read the webhook's new secrets; retrying at the next heartbeat");
                held.to_owned()
            }
        }
    }

    /// Runs until the slice ends (the caller drops it).
    pub async fn run(self) {
        let ttl_ms = self.ttl.as_millis() as u64;
        let mut last_position = lock(self.shared).position;
        let mut secrets_version = self.spec.secrets_version.clone();
        loop {
            let started = now();
            let renewed = match self.ports.checkpoints.renew(self.key, self.lease, ttl_ms).await {
                Ok(()) => true,
                Err(Error::LeaseLost) => {
                    warn!("lease lost to another worker; stopping");
                    self.stop(Stop::LeaseLost);
                    return;
                }
                // The budget runs down with the lease: deliveries stop before it expires.
                Err(e) => {
                    warn!(error = %e, "could not renew the lease; retrying at the next heartbeat");
                    false
                }
            };
            let (counters, position, pace) = {
                let s = lock(self.shared);
                (s.counters, s.position, s.pace)
            };
            let progressed = position != last_position;
            let spec = self.spec;
            match self
                .ports
                .progress
                .heartbeat(&spec.job_id, spec.slice_index, self.lease.token, &counters, progressed, pace)
                .await
            {
                Ok(beat) if beat.job_state.is_terminal() => {
                    info!(job_state = beat.job_state.as_str(), "job ended; the slice stops starting requests");
                    self.stop(Stop::Cancelled);
                }
                Ok(beat) if beat.job_state == JobState::Paused => {
                    // The beat still counts: the slice is alive while it stops.
                    if renewed {
                        self.budget.extend_lease(started + self.ttl - lease_guard(self.ttl));
                    }
                    info!("job paused; the slice stops at its next commit");
                    self.stop(Stop::JobPaused);
                }
                Ok(beat) => {
                    // The budget grows only once both landed: a worker whose
                    // heartbeats stall looks dead to the sweeper, which may end
                    // or restart its slice, so it stops starting requests
                    // within a lease even while its checkpoints still save.
                    if renewed {
                        self.budget.extend_lease(started + self.ttl - lease_guard(self.ttl));
                    }
                    last_position = position;
                    if beat.secrets_version != secrets_version {
                        secrets_version = self.reload_signer(&secrets_version).await;
                    }
                }
                Err(Error::LeaseLost) => {
                    warn!("a newer lease holder wrote progress; stopping");
                    self.stop(Stop::LeaseLost);
                    return;
                }
                Err(e) => warn!(error = %e, "heartbeat failed; retrying at the next one"),
            }
            tokio::time::sleep_until((started + self.every).into()).await;
        }
    }
}
