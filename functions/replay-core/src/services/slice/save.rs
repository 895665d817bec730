//! The driver's writes of progress: the committed prefix shared with the
//! keeper's heartbeats, checkpoint saves under the lease, and the failure
//! list once a saved checkpoint counts its events.

use super::decider::Decider;
use super::keeper::{lock, Stop};
use super::now;
use super::run::Driver;
use super::SliceOutcome;
use crate::error::{Error, Result};
use crate::ports::FailedEvent;
use tracing::warn;

impl<'a> Driver<'a> {
    /// Commits the settled prefix; saves when due, or always with `force`.
    pub(super) async fn commit(&self, d: &mut Decider<'a>, force: bool) -> Result<Option<SliceOutcome>> {
        let ((counters, position), due) = d.commit(now(), force);
        {
            let mut shared = lock(self.shared);
            shared.counters = counters;
            shared.position = position;
        }
        if due {
            return self.save(d).await;
        }
        Ok(None)
    }

    pub(super) async fn save(&self, d: &mut Decider<'a>) -> Result<Option<SliceOutcome>> {
        let (found, cp) = d.take_save();
        if !found.is_empty() {
            self.ports.progress.record_found(&self.spec.job_id, &found).await?;
        }
        // A save renews the lease in DynamoDB, but not the budget: only the
        // keeper's renewal with its heartbeat does (keeper.rs).
        match self.ports.checkpoints.save(self.key, self.lease, cp, self.cfg.lease_ttl.as_millis() as u64).await {
            Ok(()) => {
                if let Some(outcome) = self.list_failures(d, &d.checkpoint().unlisted).await? {
                    return Ok(Some(outcome));
                }
                d.saved(now());
                Ok(None)
            }
            Err(Error::LeaseLost) => {
                warn!("lease lost to another worker; stopping");
                self.stop(Stop::LeaseLost);
                Ok(Some(SliceOutcome::LeaseLost))
            }
            Err(e) => Err(e),
        }
    }

    /// Lists failures a saved checkpoint counts. Only once it is saved under
    /// the lease: a worker frozen past its lease lists nothing, and one that
    /// stopped before listing has its next run list them. The ledger's
    /// counters go first (a heartbeat), so a slice the sweeper ends from its
    /// last beat never counts fewer failures than it listed (docs/guarantees.md).
    pub(super) async fn list_failures(
        &self,
        d: &Decider<'a>,
        failures: &[FailedEvent],
    ) -> Result<Option<SliceOutcome>> {
        if failures.is_empty() {
            return Ok(None);
        }
        let (job, index, token) = (&self.spec.job_id, self.spec.slice_index, self.lease.token);
        let pace = lock(self.shared).pace;
        match self.ports.progress.heartbeat(job, index, token, &d.progress_counters(), false, pace).await {
            Err(Error::LeaseLost) => {
                self.stop(Stop::LeaseLost);
                return Ok(Some(SliceOutcome::LeaseLost));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        self.ports.progress.record_failures(job, failures).await?;
        Ok(None)
    }
}
