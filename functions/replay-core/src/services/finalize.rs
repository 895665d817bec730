//! Ending a job: final state, then exactly one signed status event (retried by
//! the sweeper if its sender died).

use crate::adapters::mysql::MySqlStore;
use crate::domain::ids::JobId;
use crate::domain::job::{status_event_body, JobState};
use crate::domain::signing::SigningKey;
use crate::error::{Error, Result};
use crate::ports::{Deliverer, Delivery, DeliveryOutcome};
use bytes::Bytes;
use tracing::{info, instrument, warn};

/// If every slice of the job has ended, sets the final state and sends the
/// status event. Safe to call from any number of workers at once.
#[instrument(skip(store, deliverer))]
pub async fn finalize_if_done(
    store: &MySqlStore,
    deliverer: &dyn Deliverer,
    job_id: &JobId,
) -> Result<Option<JobState>> {
    let Some(state) = store.try_finalize(job_id).await? else {
        return Ok(None);
    };
    send_status_event(store, deliverer, job_id).await?;
    Ok(Some(state))
}

/// Sends the job's status event unless another process holds the claim or it
/// was already sent.
pub async fn send_status_event(store: &MySqlStore, deliverer: &dyn Deliverer, job_id: &JobId) -> Result<()> {
    if !store.claim_status_event(job_id).await? {
        return Ok(());
    }
    let view = store.job_view(None, job_id).await?.ok_or(Error::NotFound)?;
    let (webhook_id, url, secret) = store.job_target(job_id).await?;
    let key = SigningKey::from_secret(&secret)
        .ok_or_else(|| Error::Internal(format!("webhook {webhook_id} has an invalid secret")))?;
    let description = view.state_reason.clone().unwrap_or_default();
    let body = status_event_body(job_id, &webhook_id, view.state, &description, &view.progress);
    let delivery = Delivery {
        url,
        message_id: format!("replay-job-{job_id}"),
        body: Bytes::from(body.to_string()),
        job_id: job_id.clone(),
        key,
    };
    match deliverer.deliver(&delivery).await {
        DeliveryOutcome::Delivered { .. } => {
            info!(state = view.state.as_str(), "status event sent")
        }
        // The receiver refused it for good; the job's state in the API is the record.
        DeliveryOutcome::Failed { error, attempts, .. } => {
            warn!(%error, attempts, "status event could not be delivered")
        }
    }
    store.mark_status_sent(job_id).await
}
