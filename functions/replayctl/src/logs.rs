//! `replayctl logs JOB`: a job's lines from the three functions' log groups
//! (CloudWatch Logs in AWS, LocalStack's locally), merged in time order.
//! Every line of a job's work names it: the API's create, each slice's span
//! in the worker, the status event, the sweeper's restarts.

use anyhow::Result;
use aws_sdk_cloudwatchlogs::Client;
use replay_client::JobId;
use serde::Serialize;

#[derive(Debug, Serialize)]
struct Line {
    at_ms: i64,
    function: &'static str,
    message: String,
}

pub async fn print_job(json: bool, stack: &str, job_id: &JobId, hours: u64) -> Result<()> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let logs = Client::new(&aws);
    let since = chrono_now_ms() - (hours as i64) * 3_600_000;
    let mut lines = Vec::new();
    for function in ["api", "worker", "sweeper"] {
        let group = format!("/activity-replay/{stack}/{function}");
        let mut token: Option<String> = None;
        loop {
            let page = logs
                .filter_log_events()
                .log_group_name(&group)
                .filter_pattern(format!("\"{job_id}\""))
                .start_time(since)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("reading {group}: {}", aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e))
                })?;
            for event in page.events() {
                // LocalStack ignores quoted filter patterns: the same filter here.
                if let Some(message) = event.message().filter(|m| m.contains(job_id.as_str())) {
                    lines.push(Line {
                        at_ms: event.timestamp().unwrap_or(0),
                        function,
                        message: message.trim_end().to_owned(),
                    });
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() && Some(t) != token.as_deref() => token = Some(t.to_owned()),
                _ => break,
            }
        }
    }
    lines.sort_by_key(|l| l.at_ms);
    for line in &lines {
        if json {
            println!("{}", serde_json::to_string(line)?);
        } else {
            println!("{} {:<7} {}", line.at_ms, line.function, line.message);
        }
    }
    if lines.is_empty() {
        anyhow::bail!("no log lines name {job_id} in the last {hours} h of stack {stack}");
    }
    Ok(())
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
