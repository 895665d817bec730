use tracing_subscriber::{fmt, EnvFilter};

/// Installs the tracing subscriber once per process. JSON lines when running in
/// Lambda with `AWS_LAMBDA_LOG_FORMAT=JSON` (or `LOG_FORMAT=json`), text otherwise.
pub fn init() {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .or_else(|_| std::env::var("LOG_FORMAT"))
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    // Lambda reads stdout; a command line tool (replayctl, replay-lab) keeps
    // its stdout for its output, so logs go to stderr there.
    let writer = if std::env::var("AWS_LAMBDA_FUNCTION_NAME").is_ok() {
        fmt::writer::BoxMakeWriter::new(std::io::stdout)
    } else {
        fmt::writer::BoxMakeWriter::new(std::io::stderr)
    };
    let builder = fmt().with_env_filter(filter).with_target(false).with_writer(writer);
    let result = if json { builder.json().flatten_event(true).without_time().try_init() } else { builder.try_init() };
    // A second init in the same process (tests) is harmless.
    drop(result);
}

/// Writes one CloudWatch Embedded Metric Format line to stdout (Lambda sends
/// stdout to CloudWatch Logs, which extracts the metrics). Dimensions:
/// `FunctionName`, and `FunctionName` + `TenantId` when `properties` names a
/// tenant, so an operator sees who uses what (docs/security.md, "Fair
/// shares"); other `properties` are searchable in the log but not
/// dimensions. Only inside a Lambda function (the core also runs in
/// replayctl and tests).
pub fn emit_metrics(metrics: &[(&str, &str, f64)], properties: serde_json::Value) {
    let Ok(function) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") else { return };
    println!("{}", metrics_line(&function, chrono::Utc::now().timestamp_millis(), metrics, properties));
}

fn metrics_line(
    function: &str,
    timestamp_ms: i64,
    metrics: &[(&str, &str, f64)],
    properties: serde_json::Value,
) -> serde_json::Value {
    let mut dimensions = vec![serde_json::json!(["FunctionName"])];
    if properties.get("TenantId").is_some_and(|t| t.is_string()) {
        dimensions.push(serde_json::json!(["FunctionName", "TenantId"]));
    }
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "ActivityReplay",
                "Dimensions": dimensions,
                "Metrics": metrics.iter().map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        },
        "FunctionName": function,
    });
    for (name, _, value) in metrics {
        line[*name] = serde_json::json!(value);
    }
    if let (Some(target), Some(props)) = (line.as_object_mut(), properties.as_object()) {
        for (k, v) in props {
            target.entry(k.clone()).or_insert(v.clone());
        }
    }
    line
}

/// Waits for SIGINT or SIGTERM and returns its number: command-line tools
/// end the same way on either (their child processes are `kill_on_drop`, so
/// dropping the work stops them too). Exit with `128 + number`.
pub async fn stop_signal() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
        },
        // No signal handling on this platform: never.
        _ => std::future::pending().await,
    }
}

/// A finished slice's counts, by job, slice and tenant.
pub fn emit_slice_metrics(counters: &crate::domain::job::Counters, slice: &crate::ports::ledger::SliceRecord) {
    emit_metrics(
        &[
            ("EventsScanned", "Count", counters.events_scanned as f64),
            ("EventsDelivered", "Count", counters.events_delivered as f64),
            ("DeliveryFailures", "Count", counters.delivery_failures as f64),
            ("DuplicatesSkipped", "Count", counters.duplicates_skipped as f64),
            ("MalformedRecords", "Count", counters.malformed as f64),
            ("RecordsExpired", "Count", counters.records_expired as f64),
            ("ClockAnomalies", "Count", counters.clock_anomalies as f64),
        ],
        serde_json::json!({"JobId": slice.job_id, "Slice": slice.slice_index, "TenantId": slice.tenant_id}),
    );
}

#[cfg(test)]
mod tests {
    use super::metrics_line;
    use serde_json::json;

    #[test]
    fn a_tenant_is_a_dimension_only_when_named() {
        let with = metrics_line("worker", 1, &[("SlicesStarted", "Count", 1.0)], json!({"TenantId": "tn_1"}));
        assert_eq!(
            with["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"], ["FunctionName", "TenantId"]])
        );
        assert_eq!((with["TenantId"].clone(), with["SlicesStarted"].clone()), (json!("tn_1"), json!(1.0)));
        let without = metrics_line("worker", 1, &[("WakeUpsDeferred", "Count", 1.0)], json!({}));
        assert_eq!(without["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["FunctionName"]]));
    }
}
