//! Sweeper: runs on an EventBridge schedule; see `services::sweeper`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use replay_core::adapters::aws_config;
use replay_core::config::Settings;
use replay_core::services::sweeper::{sweep, SweepReport, SweeperContext};
use serde_json::Value;

// The schedule's event carries nothing the sweep needs, so it is taken as raw JSON.
async fn handler(ctx: &SweeperContext, _event: LambdaEvent<Value>) -> Result<SweepReport, Error> {
    let report = sweep(ctx).await?;
    tracing::info!(?report, "sweep done");
    let stale = f64::from(report.slices_restarted + report.slices_failed);
    let mut metrics = vec![("StaleSlices", "Count", stale), ("JobsPurged", "Count", f64::from(report.jobs_purged))];
    // The index's lag: records the log holds past it (the largest of the
    // partitions'), and what this run indexed (docs/operations.md, "The log's index").
    if let Some(index) = &report.index {
        metrics.push(("IndexLagRecords", "Count", index.max_partition_lag as f64));
        metrics.push(("RecordsIndexed", "Count", index.records_indexed as f64));
    }
    replay_core::telemetry::emit_metrics(&metrics, serde_json::json!({}));
    Ok(report)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    replay_core::telemetry::init();
    let settings = Settings::from_env()?;
    replay_core::services::lifecycle::arm_crash_points(settings.failpoints.as_deref());
    let aws = aws_config().await;
    let ctx = SweeperContext::connect(&settings, &aws).await?;
    let ctx = &ctx;
    run(service_fn(move |event| handler(ctx, event))).await
}
