//! Replay worker: SQS batch in, one slice per message, partial batch failures out.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use replay_core::adapters::aws_config;
use replay_core::adapters::sqs::HANDBACKS_ATTRIBUTE;
use replay_core::config::Settings;
use replay_core::services::worker::{handle_message, Inbound, WorkerContext};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{error, warn};

/// The invocation's deadline (epoch ms from the Runtime API) as an Instant.
fn deadline_of(deadline_epoch_ms: u64) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
}

async fn handler(ctx: &WorkerContext, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let deadline = deadline_of(event.context.deadline);
    let mut response = SqsBatchResponse::default();
    for message in event.payload.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let handbacks = message
            .message_attributes
            .get(HANDBACKS_ATTRIBUTE)
            .and_then(|a| a.string_value.as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // The owner is unique per attempt so a redelivered message competes for the lease.
        let owner = format!("{}:{}", event.context.request_id, message_id);
        if let Err(e) = handle_message(ctx, &Inbound { body, handbacks }, &owner, deadline).await {
            if e.is_retryable() {
                warn!(%message_id, error = %e, "slice failed; the queue will retry it");
            } else {
                // Poison: it fails every receive until the queue moves it to the DLQ.
                error!(%message_id, error = %e, "message cannot be processed");
            }
            response.add_failure(message_id);
        }
    }
    Ok(response)
}

/// One thread: a worker runs one slice at a time, and on the default
/// multi-threaded runtime each request's future (here) and its connection's
/// task (a runtime thread) woke each other across threads for every delivery
/// (a sixth of the worker's CPU in the profile, docs/performance.md "Where
/// the CPU goes"). Kafka reads and lookups keep their own blocking threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    replay_core::telemetry::init();
    let settings = Settings::from_env()?;
    replay_core::services::lifecycle::arm_crash_points(settings.failpoints.as_deref());
    let aws = aws_config().await;
    let ctx = WorkerContext::connect(&settings, &aws).await?;
    let ctx = &ctx;
    run(service_fn(move |event| handler(ctx, event))).await
}
