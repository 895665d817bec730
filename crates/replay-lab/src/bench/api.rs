//! Figure 9, the API measured where it runs: create-replay, then get-job,
//! sent open-loop at a fixed rate through LocalStack's gateway, each request
//! timed from its scheduled send (so a gateway that falls behind shows as
//! latency, not as a lower rate); beside them the API function's own
//! durations from its REPORT lines. Short probes first: when the gateway
//! does not keep the asked rate in two tries, each next probe asks 0.7 of
//! the last rate or 0.9 of what the last one got answered, whichever is
//! lower, until one is kept; two halvings between it and the last rate not
//! kept follow, and the measured run goes at the highest rate kept. Then each function's cold start (the first answer after its
//! processes were killed, beside the next answers) and the binaries' sizes.
//!
//! Each create is a new job on a webhook of its own (a webhook holds one
//! active job); the bench's tenant gets no request, job or slice limits for
//! it, and the stack is redeployed with slice processing off
//! (`SliceProcessingEnabled=false`) so the workers stay out of the figure.

use super::*;
use futures::StreamExt;
use replay_client::RetryPolicy;
use replay_core::ports::directory::TenantLimits;
use std::future::Future;
use tokio::task::JoinSet;

/// What one open-loop run saw.
struct Run {
    rate: f64,
    sent: usize,
    /// Answers by status and error code (`200`, `202`, `429 tenant_rate_limited`, `transport`...).
    answers: BTreeMap<String, usize>,
    /// From each request's scheduled send to its answer.
    latencies_ms: Vec<f64>,
    /// From the first scheduled send to the last answer.
    seconds: f64,
}

impl Run {
    fn ok(&self) -> usize {
        self.answers.iter().filter(|(k, _)| k.starts_with('2')).map(|(_, n)| n).sum()
    }

    /// Every request answered 2xx, at ≥ 95% of the asked rate.
    fn kept_up(&self) -> bool {
        self.ok() == self.sent && self.sent as f64 / self.seconds >= 0.95 * self.rate
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Requests in flight at most: the API's reserved concurrency at the bench's
/// connection budget (template.yaml, `DatabaseConnectionBudget` 100). Lambda
/// throttles beyond it; LocalStack's host executor would start a process
/// for each (hundreds, each with its MySQL connections, until MariaDB
/// refuses more), so the bench does not send them and counts them instead.
const MAX_IN_FLIGHT: usize = 10;

/// Sends `count` requests at `rate` per second, on schedule whatever the
/// answers take; `request(i)` makes the i-th and says how it was answered.
/// One due while [`MAX_IN_FLIGHT`] are unanswered is not sent
/// (`not sent: in flight`): the gateway fell behind.
async fn open_loop<F, Fut>(rate: f64, count: usize, request: F) -> Run
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = String> + Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut requests = JoinSet::new();
    let mut run = Run { rate, sent: count, answers: BTreeMap::new(), latencies_ms: Vec::new(), seconds: 0.0 };
    for i in 0..count {
        let scheduled = start + period * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            *run.answers.entry(format!("not sent: {MAX_IN_FLIGHT} in flight")).or_default() += 1;
            continue;
        };
        let answered = request(i);
        requests.spawn(async move {
            let answer = answered.await;
            drop(slot);
            (answer, scheduled.elapsed())
        });
    }
    while let Some(done) = requests.join_next().await {
        let (answer, took) = done.unwrap_or_else(|e| (format!("panicked: {e}"), Duration::ZERO));
        *run.answers.entry(answer).or_default() += 1;
        run.latencies_ms.push(took.as_secs_f64() * 1_000.0);
    }
    run.seconds = start.elapsed().as_secs_f64();
    run
}

/// How a client call was answered, as a key of [`Run::answers`].
fn answer_of<T>(result: replay_client::Result<T>, ok: &str) -> String {
    match result {
        Ok(_) => ok.to_owned(),
        Err(e) => match (e.status(), e.code()) {
            (Some(status), Some(code)) => format!("{status} {code:?}"),
            (Some(status), None) => status.to_string(),
            _ => "transport".to_owned(),
        },
    }
}

/// The API function's REPORT durations (ms) logged in `[from, to)` (Unix ms).
async fn report_durations(env: &LocalEnv, deployed: &Deployed, (from, to): (i64, i64)) -> Result<Vec<f64>> {
    let lines = stack::log_events(env, &deployed.api_log_group_name, "REPORT").await?;
    Ok(lines
        .iter()
        .filter(|(at, _)| (from..to).contains(at))
        .filter_map(|(_, l)| l.split("\tDuration: ").nth(1))
        .filter_map(|v| v.split(' ').next()?.parse::<f64>().ok())
        .collect())
}

fn unix_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn phase_json(run: &Run, function_ms: Vec<f64>) -> Value {
    let gateway = sorted(run.latencies_ms.clone());
    let function = sorted(function_ms);
    json!({
        "rate_per_s": run.rate,
        "seconds": round2(run.seconds),
        "requests": run.sent,
        "answers": run.answers,
        "answered_per_s": round2(run.ok() as f64 / run.seconds),
        "kept_up": run.kept_up(),
        "gateway_ms_p50": round2(percentile(&gateway, 0.5)),
        "gateway_ms_p99": round2(percentile(&gateway, 0.99)),
        "function_reports": function.len(),
        "function_ms_p50": round2(percentile(&function, 0.5)),
        "function_ms_p99": round2(percentile(&function, 0.99)),
    })
}

/// What every run of a call shares.
struct CallContext<'a> {
    api: &'a ApiContext,
    client: &'a Client,
    deployed: &'a Deployed,
    window: CreateReplayRequest,
    /// The job get-job asks for.
    job: JobId,
}

/// The two calls measured.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    CreateReplay,
    GetJob,
}

impl Lab {
    /// `count` new webhooks of the bench's tenant, registered in process.
    async fn new_webhooks(&self, api: &ApiContext, count: usize) -> Result<Vec<WebhookId>> {
        let operator = Caller::operator(self.data.tenant.clone());
        let url = self.receiver.url("api");
        futures::stream::iter(0..count)
            .map(|_| api.create_webhook(&operator, CreateWebhookRequest::new(url.clone())))
            .buffer_unordered(8)
            .map(|created| created.map(|hook| hook.id).map_err(anyhow::Error::from))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// One open-loop run of `call` at `rate` for `seconds`.
    async fn run_call(&self, ctx: &CallContext<'_>, call: Call, rate: f64, seconds: f64) -> Result<Run> {
        let count = (rate * seconds).round().max(1.0) as usize;
        let webhooks = match call {
            Call::CreateReplay => self.new_webhooks(ctx.api, count).await?,
            Call::GetJob => Vec::new(),
        };
        let run = open_loop(rate, count, |i| {
            let client = ctx.client.clone();
            let (webhook, window, job) = (webhooks.get(i).cloned(), ctx.window.clone(), ctx.job.clone());
            async move {
                match webhook {
                    Some(webhook) => answer_of(client.start_replay(&webhook, &window).await, "202"),
                    None => answer_of(client.job(&job).await, "200"),
                }
            }
        })
        .await;
        if !run.kept_up() {
            // What the gateway still holds drains before the next run.
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        Ok(run)
    }

    /// `call` at the asked rate if the gateway keeps it, else at the highest
    /// rate short probes (each 0.7 of the last) find it keeps, for the
    /// figure's whole time; the function's REPORT durations of that run.
    async fn measure_call(&self, ctx: &CallContext<'_>, call: Call) -> Result<Value> {
        let (asked, seconds) = (self.opts.api_rate, self.opts.api_seconds);
        let mut rate = asked;
        let mut probes = Vec::new();
        let mut probe = async |rate: f64| -> Result<(bool, f64)> {
            let run = self.run_call(ctx, call, rate, seconds.min(5.0)).await?;
            let answered = run.ok() as f64 / run.seconds;
            probes.push(json!({"rate_per_s": rate, "answered_per_s": round2(answered), "answers": run.answers}));
            Ok((run.kept_up(), answered))
        };
        // The asked rate gets a second try: the first can pay for the API
        // processes the executor starts as concurrency grows (cold starts).
        let (mut kept, mut answered) = probe(rate).await?;
        if !kept {
            (kept, answered) = probe(rate).await?;
        }
        let mut failed = None;
        while !kept && rate > 1.0 {
            failed = Some(rate);
            // Below what was answered: a gateway far behind the asked rate is
            // found in a few probes, not in many steps of 0.7.
            rate = (rate * 0.7).min(answered * 0.9).floor().max(1.0);
            (kept, answered) = probe(rate).await?;
        }
        // Two halvings between the rate kept and the one that was not.
        if let Some(mut high) = failed {
            for _ in 0..2 {
                let mid = ((rate + high) / 2.0).floor();
                if mid <= rate {
                    break;
                }
                if probe(mid).await?.0 {
                    rate = mid;
                } else {
                    high = mid;
                }
            }
        }
        let from = unix_ms();
        let run = self.run_call(ctx, call, rate, seconds).await?;
        // REPORT lines reach the log group within a second of the
        // invocation's end; nothing else calls the API meanwhile.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let function_ms = report_durations(&self.env, ctx.deployed, (from, unix_ms())).await?;
        let gateway = sorted(run.latencies_ms.clone());
        println!(
            "    {}: asked {asked}/s, kept {rate}/s: {:.1}/s answered 2xx, gateway p50 {:.0} ms p99 {:.0} ms, answers {:?}",
            if call == Call::CreateReplay { "create-replay" } else { "get-job" },
            run.ok() as f64 / run.seconds,
            percentile(&gateway, 0.5),
            percentile(&gateway, 0.99),
            run.answers
        );
        let mut out = phase_json(&run, function_ms);
        out["asked_rate_per_s"] = json!(asked);
        out["probes"] = Value::Array(probes);
        Ok(out)
    }

    pub(super) async fn measure_api(&self, bench: &BenchStack) -> Result<Value> {
        let Self { opts, env, store, data, .. } = self;
        println!(
            "==> 9. the API where it runs: create-replay, then get-job, {}/s for {} s open-loop (or the highest rate kept)",
            opts.api_rate, opts.api_seconds
        );
        store
            .set_tenant_limits(
                &data.tenant,
                &TenantLimits { requests_per_minute: Some(0), max_active_jobs: Some(0), max_running_slices: Some(0) },
            )
            .await?;
        let mut spec = bench.spec.clone();
        spec.parameter("SliceProcessingEnabled", "false");
        let deployed = stack::deploy(env, &spec).await?;
        let api = self.api(&self.base).await?;
        let no_retry = RetryPolicy { max_attempts: 1, max_wait: Duration::ZERO, backoff: Duration::ZERO };
        let client = self.client(&deployed).with_retry(no_retry).with_timeout(Duration::from_secs(10));
        let fmt = |ms: i64| EventTime(ms).to_rfc3339();
        let window = CreateReplayRequest::window(fmt(data.hour_from), fmt(data.hour_to));
        // One warm call of each kind, so the first measured ones find a process.
        let job = client.start_replay(&data.rare, &window).await?.job_id;
        client.job(&job).await?;
        let ctx = CallContext { api: &api, client: &client, deployed: &deployed, window, job };
        let create = self.measure_call(&ctx, Call::CreateReplay).await?;
        let get = self.measure_call(&ctx, Call::GetJob).await?;

        let cold = self.cold_starts(&deployed, &client, &ctx.job).await?;
        let sizes: BTreeMap<&str, u64> = ["replay-api", "replay-worker", "replay-sweeper"]
            .into_iter()
            .map(|b| Ok((b, std::fs::metadata(opts.bin_dir.join(b))?.len())))
            .collect::<Result<_>>()?;
        Ok(json!({
            "create_replay": create,
            "get_job": get,
            "cold_start": cold,
            "binary_bytes": sizes,
            "tenant_limits": "none (requests per minute, active jobs and running slices lifted for the bench's tenant)",
        }))
    }

    /// Each function's first answer after its processes were killed, beside
    /// the median of the next five (ms): API through the gateway, the
    /// worker (an empty batch) and the sweeper through Lambda's Invoke.
    async fn cold_starts(&self, deployed: &Deployed, client: &Client, job: &JobId) -> Result<Value> {
        let env = &self.env;
        let mut out = serde_json::Map::new();
        let functions = [
            ("api", deployed.api_function_name.as_str()),
            ("worker", deployed.worker_function_name.as_str()),
            ("sweeper", deployed.sweeper_function_name.as_str()),
        ];
        for (name, function) in functions {
            for pid in stack::pids(env, function).await? {
                stack::signal(pid, "KILL").await?;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut times = Vec::new();
            for _ in 0..6 {
                let started = Instant::now();
                match name {
                    "api" => {
                        client.job(job).await?;
                    }
                    "worker" => {
                        stack::invoke(env, function, &json!({"Records": []})).await?;
                    }
                    _ => {
                        stack::invoke(env, function, &json!({})).await?;
                    }
                }
                times.push(started.elapsed().as_secs_f64() * 1_000.0);
            }
            let warm = median(&times[1..]);
            println!("    {name}: first answer {:.0} ms after a kill, then {warm:.0} ms", times[0]);
            out.insert(name.into(), json!({"first_ms": round2(times[0]), "warm_ms": round2(warm)}));
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_values() {
        let values = sorted((1..=100).rev().map(f64::from).collect());
        assert_eq!(percentile(&values, 0.5), 51.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    /// In virtual time: requests due while ten are unanswered are counted,
    /// not sent, and such a run did not keep up.
    #[tokio::test(start_paused = true)]
    async fn a_run_that_falls_behind_counts_what_it_did_not_send() {
        let slow = open_loop(1_000.0, 30, |_| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "200".to_owned()
        })
        .await;
        assert_eq!(slow.ok(), MAX_IN_FLIGHT, "{:?}", slow.answers);
        assert_eq!(slow.answers[&format!("not sent: {MAX_IN_FLIGHT} in flight")], 30 - MAX_IN_FLIGHT);
        assert!(!slow.kept_up());

        let quick = open_loop(10.0, 5, |_| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            "202".to_owned()
        })
        .await;
        assert_eq!(quick.ok(), 5, "{:?}", quick.answers);
        assert!(quick.kept_up(), "{} s", quick.seconds);
        assert!(quick.latencies_ms.iter().all(|&ms| (10.0..11.0).contains(&ms)), "{:?}", quick.latencies_ms);
    }
}
