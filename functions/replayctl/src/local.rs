//! The functions on this machine: `cargo lambda watch --only-lambda-apis`
//! emulates the Lambda runtime API and invoke endpoints; the function
//! binaries run against it as Lambda would run them (restarted if they die);
//! and this module plays the AWS event sources: an SQS event-source mapping
//! for the worker (long-poll, invoke with a batch, delete what succeeded,
//! leave failures to the visibility timeout and DLQ) and the sweeper's schedule.

use anyhow::{bail, Context, Result};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

pub const API: &str = "replay-api";
pub const WORKER: &str = "replay-worker";
pub const SWEEPER: &str = "replay-sweeper";

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where `cargo lambda watch` runs (the workspace root).
    pub repo_root: PathBuf,
    /// Where the built function binaries are (`target/debug` or `target/release`).
    pub bin_dir: PathBuf,
    pub port: u16,
    /// Worker instances, and concurrent SQS pollers feeding them.
    pub workers: usize,
    pub batch_size: i32,
    pub sweep_every: Duration,
    pub queue_url: String,
    /// Environment of the function processes (their configuration).
    pub env: Vec<(String, String)>,
    /// How long an invoke may take before the mapping gives up on it (a
    /// killed function never answers).
    pub invoke_timeout: Duration,
    pub log_dir: PathBuf,
}

/// Counters of the event-source mapping.
#[derive(Debug, Default, Clone)]
pub struct PumpStats {
    pub invocations: u64,
    /// Wall time of the worker invocations, summed (Lambda bills GB-s on it).
    pub worker_millis: u64,
    pub messages_deleted: u64,
    pub messages_failed: u64,
    pub invoke_errors: u64,
    pub sweeps: u64,
}

pub struct LocalRuntime {
    pub api_url: String,
    opts: RuntimeOptions,
    stop: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
    pids: Arc<Mutex<HashMap<String, Vec<Option<u32>>>>>,
    pub stats: Arc<Mutex<PumpStats>>,
    watch_child: tokio::process::Child,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn log_file(dir: &std::path::Path, name: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    Ok(std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{name}.log")))?)
}

impl LocalRuntime {
    pub async fn start(opts: RuntimeOptions, sqs: aws_sdk_sqs::Client) -> Result<Self> {
        for name in [API, WORKER, SWEEPER] {
            let bin = opts.bin_dir.join(name);
            if !bin.exists() {
                bail!("{} is missing: build the functions first (cargo build --workspace --bins)", bin.display());
            }
        }
        // A leftover emulator on the port (from a killed run) would take our invocations.
        if std::net::TcpListener::bind(("127.0.0.1", opts.port)).is_err() {
            bail!("port {} is in use: is another `cargo lambda watch` (or replayctl run) still running?", opts.port);
        }
        let out = log_file(&opts.log_dir, "cargo-lambda-watch")?;
        let watch_child = Command::new("cargo")
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &opts.port.to_string()])
            .current_dir(&opts.repo_root)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("starting `cargo lambda watch` (is cargo-lambda installed? run infra/local/up.sh)")?;
        wait_for_port(opts.port, Duration::from_secs(60)).await.context("cargo lambda watch did not start")?;

        let (stop, stop_rx) = watch::channel(false);
        let pids = Arc::new(Mutex::new(HashMap::new()));
        let stats = Arc::new(Mutex::new(PumpStats::default()));
        let mut tasks = Vec::new();
        for (name, count) in [(API, 1), (WORKER, opts.workers), (SWEEPER, 1)] {
            lock(&pids).insert(name.to_owned(), vec![None; count]);
            for slot in 0..count {
                tasks.push(tokio::spawn(supervise(opts.clone(), name, slot, pids.clone(), stop_rx.clone())));
            }
        }
        let http = reqwest::Client::new();
        for _ in 0..opts.workers {
            tasks.push(tokio::spawn(pump(opts.clone(), sqs.clone(), http.clone(), stats.clone(), stop_rx.clone())));
        }
        tasks.push(tokio::spawn(schedule(opts.clone(), http, stats.clone(), stop_rx.clone())));
        let api_url = format!("http://127.0.0.1:{}/lambda-url/{API}", opts.port);
        Ok(Self { api_url, opts, stop, stop_rx, tasks, pids, stats, watch_child })
    }

    /// Starts one more instance of a function (Lambda scaling out).
    pub fn add_instance(&mut self, function: &'static str) {
        let slot = {
            let mut pids = lock(&self.pids);
            let slots = pids.entry(function.to_owned()).or_default();
            slots.push(None);
            slots.len() - 1
        };
        let task = supervise(self.opts.clone(), function, slot, self.pids.clone(), self.stop_rx.clone());
        self.tasks.push(tokio::spawn(task));
    }

    /// PIDs of a function's running instances.
    pub fn pids(&self, function: &str) -> Vec<u32> {
        lock(&self.pids).get(function).map(|v| v.iter().flatten().copied().collect()).unwrap_or_default()
    }

    /// Sends a signal (`KILL`, `STOP`, `CONT`) to one instance of a function.
    pub async fn signal(&self, pid: u32, signal: &str) -> Result<()> {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().await?;
        if !status.success() {
            bail!("kill -{signal} {pid} failed");
        }
        Ok(())
    }

    pub fn invoke_url(&self, function: &str) -> String {
        invoke_url(self.opts.port, function)
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let _ = self.watch_child.kill().await;
    }
}

fn invoke_url(port: u16, function: &str) -> String {
    format!("http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations")
}

async fn wait_for_port(port: u16, timeout: Duration) -> Result<()> {
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}")
}

/// Runs one instance of a function, restarting it whenever it exits.
async fn supervise(
    opts: RuntimeOptions,
    name: &'static str,
    slot: usize,
    pids: Arc<Mutex<HashMap<String, Vec<Option<u32>>>>>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let spawned = log_file(&opts.log_dir, &format!("{name}-{slot}")).and_then(|out| {
            Ok(Command::new(opts.bin_dir.join(name))
                .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{}/.rt/{name}", opts.port))
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .kill_on_drop(true)
                .spawn()?)
        });
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                warn!(function = name, error = %e, "could not start function");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Some(v) = lock(&pids).get_mut(name) {
            v[slot] = child.id();
        }
        tokio::select! {
            status = child.wait() => {
                info!(function = name, slot, ?status, "function process exited; restarting");
            }
            _ = stop.changed() => {
                let _ = child.kill().await;
                break;
            }
        }
        if let Some(v) = lock(&pids).get_mut(name) {
            v[slot] = None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The SQS event-source mapping for the worker.
async fn pump(
    opts: RuntimeOptions,
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    stats: Arc<Mutex<PumpStats>>,
    stop: watch::Receiver<bool>,
) {
    let url = invoke_url(opts.port, WORKER);
    while !*stop.borrow() {
        let received = sqs
            .receive_message()
            .queue_url(&opts.queue_url)
            .max_number_of_messages(opts.batch_size)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                debug!(error = ?e, "receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: HashMap<String, String> = m
                    .attributes
                    .as_ref()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                    "md5OfBody": m.md5_of_body, "attributes": attributes, "messageAttributes": {},
                    "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:local",
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        lock(&stats).invocations += 1;
        let invoked = std::time::Instant::now();
        let reply = http.post(&url).timeout(opts.invoke_timeout).json(&json!({ "Records": records })).send().await;
        lock(&stats).worker_millis += invoked.elapsed().as_millis() as u64;
        let failed: HashSet<String> = match reply {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(body) => body["batchItemFailures"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                Err(_) => all_ids(&messages),
            },
            Ok(r) => {
                warn!(status = %r.status(), "worker invocation failed");
                lock(&stats).invoke_errors += 1;
                all_ids(&messages)
            }
            Err(e) => {
                warn!(error = %e, "worker invocation did not answer");
                lock(&stats).invoke_errors += 1;
                all_ids(&messages)
            }
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id.as_deref().unwrap_or_default()))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        {
            let mut s = lock(&stats);
            s.messages_failed += failed.len() as u64;
            s.messages_deleted += entries.len() as u64;
        }
        if !entries.is_empty() {
            if let Err(e) =
                sqs.delete_message_batch().queue_url(&opts.queue_url).set_entries(Some(entries)).send().await
            {
                warn!(error = ?e, "delete failed; messages will be redelivered");
            }
        }
    }
}

fn all_ids(messages: &[aws_sdk_sqs::types::Message]) -> HashSet<String> {
    messages.iter().filter_map(|m| m.message_id.clone()).collect()
}

/// The sweeper's EventBridge schedule.
async fn schedule(
    opts: RuntimeOptions,
    http: reqwest::Client,
    stats: Arc<Mutex<PumpStats>>,
    mut stop: watch::Receiver<bool>,
) {
    let url = invoke_url(opts.port, SWEEPER);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(opts.sweep_every) => {}
            _ = stop.changed() => return,
        }
        let event = json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "000000000000", "time": chrono::Utc::now().to_rfc3339(),
            "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:000000000000:rule/replay-sweeper"], "detail": {}
        });
        match http.post(&url).timeout(Duration::from_secs(60)).json(&event).send().await {
            Ok(r) => debug!(status = %r.status(), "sweep"),
            Err(e) => warn!(error = %e, "sweeper invocation failed"),
        }
        lock(&stats).sweeps += 1;
    }
}
