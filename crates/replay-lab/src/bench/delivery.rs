//! 2 + 5. Delivery rate through the deployed stack vs the receiver's capacity (wrk), and its cost on the wire.

use super::profile::Profiler;
use super::*;

pub(super) struct Proxies {
    pub(super) ddb: CountingProxy,
    pub(super) sqs: CountingProxy,
}

async fn mysql_writes(store: &MySqlStore) -> Result<u64> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SHOW GLOBAL STATUS WHERE Variable_name IN \
         ('Com_insert','Com_insert_select','Com_update','Com_update_multi','Com_delete','Com_delete_multi','Com_replace')",
    )
    .fetch_all(store.pool())
    .await?;
    Ok(rows.iter().filter_map(|(_, v)| v.parse::<u64>().ok()).sum())
}

fn sum_of(counts: &BTreeMap<String, u64>, actions: &[&str]) -> u64 {
    counts.iter().filter(|(k, _)| actions.contains(&k.as_str())).map(|(_, v)| v).sum()
}

/// Counts what one job costs: requests through the proxies, MySQL write
/// statements, worker invocations and their billed duration.
pub(super) struct CostMeter {
    mysql_writes: u64,
    pub(super) invocations: u64,
    billed_ms: u64,
}

/// Worker invocations and their billed milliseconds so far, from the REPORT
/// lines in the worker's log group (what Lambda bills).
async fn worker_usage(env: &LocalEnv, deployed: &Deployed) -> Result<(u64, u64)> {
    let reports = stack::log_lines(env, &deployed.worker_log_group_name, "REPORT").await?;
    let billed = reports
        .iter()
        .filter_map(|l| l.split("Billed Duration: ").nth(1))
        .filter_map(|v| v.split(' ').next()?.parse::<u64>().ok())
        .sum();
    Ok((reports.len() as u64, billed))
}

impl CostMeter {
    pub(super) async fn start(lab: &Lab, stack: &BenchStack) -> Result<Self> {
        for p in [&stack.proxies.ddb, &stack.proxies.sqs] {
            p.reset();
        }
        let (invocations, billed_ms) = worker_usage(&lab.env, &stack.deployed).await?;
        Ok(Self { mysql_writes: mysql_writes(&lab.store).await?, invocations, billed_ms })
    }

    pub(super) async fn finish(self, lab: &Lab, stack: &BenchStack, c: &Counters) -> Result<Value> {
        let mysql = mysql_writes(&lab.store).await? - self.mysql_writes;
        // REPORT lines reach the log group within a second of the invocation's end.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (invocations, billed_ms) = worker_usage(&lab.env, &stack.deployed).await?;
        let invocations = invocations - self.invocations;
        let (ddb, fn_sqs) = (stack.proxies.ddb.counts(), stack.proxies.sqs.counts());
        let ddb_writes = sum_of(&ddb, &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);
        // The event source mapping: a receive and a delete per invocation
        // (AWS's pollers also long-poll an idle queue: not counted here).
        let mapping_sqs = 2 * invocations;
        let sqs_requests = fn_sqs.values().sum::<u64>() + mapping_sqs;
        let per_k = |n: u64| round2(n as f64 * 1_000.0 / c.events_scanned.max(1) as f64);
        Ok(json!({
            "records_scanned": c.events_scanned,
            "events_delivered": c.events_delivered,
            "dynamodb_writes": ddb_writes,
            "dynamodb_writes_per_1000_scanned": per_k(ddb_writes),
            "dynamodb_requests": ddb,
            "sqs_requests": sqs_requests,
            "sqs_requests_functions": fn_sqs,
            "sqs_requests_event_source_mapping": mapping_sqs,
            "sqs_requests_per_1000_scanned": per_k(sqs_requests),
            "mysql_write_statements": mysql,
            "mysql_writes_per_1000_scanned": per_k(mysql),
            "worker_invocations": invocations,
            "worker_seconds": round2((billed_ms - self.billed_ms) as f64 / 1_000.0),
            "target_dynamodb_writes_per_1000_scanned": 2,
            "met": per_k(ddb_writes) <= 2.0,
        }))
    }
}

impl Lab {
    pub(super) async fn measure_delivery(&self, bench: &BenchStack) -> Result<Value> {
        let Self { opts, base, store, receiver, data, .. } = self;
        println!("==> 2. delivery rate: one job of every `hot` event in the log, end to end through the stack");
        let settings = base.settings()?;
        // Warm-up: every process has started and connected once.
        let warm = self.create_job_http(&bench.deployed, &data.hot, data.hour_from, data.hour_to).await?;
        wait_for_end(store, &warm, Duration::from_secs(120)).await?;

        let meter = CostMeter::start(self, bench).await?;
        let profiler = match &opts.profile_dir {
            Some(dir) => Some(Profiler::start(dir).await?),
            None => None,
        };
        let started = Instant::now();
        let job = self.create_job_http(&bench.deployed, &data.hot, data.log_from - 60_000, data.log_to + 1_000).await?;
        let counters = wait_for_end(store, &job, Duration::from_secs(1_800)).await?;
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(profiler) = profiler {
            println!("    profiled: {}", profiler.stop()?.display());
        }
        let cost = meter.finish(self, bench, &counters).await?;
        check_delivered(receiver, "hot", "delivery job", &job, &counters, data.hot_in_log)?;
        let rate = counters.events_delivered as f64 / elapsed;
        let concurrency = settings.max_parallel_slices as usize * settings.delivery.concurrency;
        let capacity = receiver_capacity(opts, receiver, data, concurrency).await?;
        println!(
            "    {} events in {elapsed:.2} s: {rate:.0} events/s; receiver capacity (wrk, {concurrency} connections) {:.0} req/s",
            counters.events_delivered, capacity
        );

        let ratio = rate / capacity.max(1.0);
        Ok(json!({
            "delivery": {
                "events": counters.events_delivered,
                "records_scanned": counters.events_scanned,
                "seconds": round2(elapsed),
                "events_per_s": whole(rate),
                "receiver_capacity_per_s": whole(capacity),
                "vs_receiver": round2(ratio),
                "concurrency": concurrency,
                "slices": settings.max_parallel_slices,
                "target_events_per_s": 10_000,
                "target_vs_receiver": 0.5,
                "met": rate >= 10_000.0 && ratio >= 0.5,
            },
            "cost": cost,
        }))
    }
}

/// Requests per second the receiver takes from wrk: the same signed payloads,
/// the same concurrency the job used.
async fn receiver_capacity(
    opts: &BenchOptions,
    receiver: &Receiver,
    data: &Dataset,
    connections: usize,
) -> Result<f64> {
    if !which("wrk") {
        bail!("wrk is not installed (bench/tools.sh installs it)");
    }
    let secret = generate_secret();
    receiver.register("wrk", &secret);
    let key = SigningKey::from_secret(&secret).context("signing key")?;
    let ts = chrono::Utc::now().timestamp();
    let mut script = String::from("local reqs = {}\n");
    for (i, body) in data.sample_bodies.iter().enumerate() {
        let id = format!("wrk_{i}");
        let body = String::from_utf8_lossy(body);
        script.push_str(&format!(
            "reqs[{n}] = wrk.format('POST', '/hooks/wrk', {{['content-type'] = 'application/json', \
             ['webhook-id'] = '{id}', ['webhook-timestamp'] = '{ts}', ['webhook-signature'] = '{sig}'}}, [==[{body}]==])\n",
            n = i + 1,
            sig = key.sign(&id, ts, body.as_bytes()),
        ));
    }
    script.push_str("local i = 0\nrequest = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n");
    let path = std::env::temp_dir().join(format!("replay-bench-{}.lua", std::process::id()));
    std::fs::write(&path, script)?;
    let url = receiver.url("wrk");
    let out = tokio::process::Command::new("wrk")
        .kill_on_drop(true)
        .args(["-t", "2", "-c", &connections.to_string(), "-d", &format!("{}s", opts.wrk_seconds)])
        .arg("-s")
        .arg(&path)
        .arg(&url)
        .output()
        .await?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let (requests, bad_signatures) = receiver.request_counts("wrk");
    if bad_signatures > 0 || requests == 0 || text.contains("Non-2xx") {
        bail!("wrk's requests were refused ({bad_signatures} bad signatures of {requests}):\n{text}");
    }
    Ok(rate)
}
