//! `replay-lab bench`: how fast a replay is, against the raw limits, measured
//! side by side in one run on the local stack (docs/performance.md).
//!
//! One delivery log of N records (~400 B, 200 webhooks, 5 days, Snappy) and a
//! second log holding only its last hour, then:
//! 1. scan rate: the worker's slice loop over the whole partition versus a bare
//!    rdkafka consumer and kcat over the same range;
//! 2. delivery rate: one job end to end through the deployed stack (API
//!    Gateway, SQS and LocalStack's event source mapping, the worker
//!    processes), versus the receiver's capacity measured by wrk with the same
//!    signed payloads and concurrency;
//! 3. seek independence: time to first delivery, last hour of the 5-day log
//!    versus the 1-hour log;
//! 4. parallel slices: one 24-hour replay with 1, 2, 4, 8 slices at once,
//!    and the cores each kind of process used meanwhile (`cpu`, from /proc);
//! 5. cost: DynamoDB, SQS and MySQL writes, counted on the wire per 1,000
//!    records scanned, and the worker's invocations and billed seconds from
//!    its REPORT lines;
//! 6. the worker process's peak RSS on a single slice of the whole log;
//! 7. slow receivers: answers after a fixed 50 or 200 ms, one slice at a
//!    time; the job's rate against its in-flight bound, and the receiver's
//!    idle time at each handoff from one slice to the next;
//! 8. durability's cost: one slice of `hot`'s last 24 hours by the worker
//!    against a bare replayer (the worker's reader and HTTP client, no lease,
//!    checkpoint, dedup or MySQL), both in this process, and the worker
//!    again through the stack;
//! 9. the API where it runs: create-replay and get-job open-loop at a fixed
//!    rate through the gateway, beside the function's own REPORT durations;
//!    the highest rate the gateway keeps; cold starts; binary sizes;
//! 10. growth: the same five days at 1M, 3M and 10M records; time to first
//!     delivery and a full scan in this process, the worker's peak memory on
//!     that scan through the stack;
//! 11. the log's index: the indexer's time, MySQL writes and stored bytes per
//!     million records, and records read per event delivered for a rare and
//!     a busy webhook, with and without the index, in this process
//!     (`--only index` runs it alone, into OUT/index.json; `--only slow`
//!     runs figure 7 alone, into OUT/slow.json).
//!
//! 1, 3 and 11 measure the worker's code in this process (the slice engine, not
//! the queue's latency); 2, 4, 5, 6, 7 and 9 go through the stack; 8 and 10 do both.
//!
//! One file per measurement (`scan`, `delivery` with the cost, `seek`,
//! `parallel`, `slow`, `memory`, `durability`, `api`, `growth`); `dataset` seeds the logs, `jobs` creates, drains
//! and awaits the measured jobs, `report` writes the figures, `cpu` reads
//! each process's CPU time from /proc, `profile` runs `perf` around the
//! delivery job (`make profile`). This file holds what they share and the
//! order they run in.

mod api;
mod cpu;
mod dataset;
mod delivery;
mod durability;
mod growth;
mod index;
mod jobs;
mod memory;
mod parallel;
mod profile;
pub mod proxy;
mod report;
mod scan;
mod seek;
mod slow;

use crate::receiver::Receiver;
use crate::seed::{plan_records, produce, SeedKind, SeedPlan};
use crate::setup;
use crate::stack::{self, Deployed, LocalEnv, StackSpec};
use anyhow::{bail, Context, Result};
use dataset::{seed, SeedTargets};
use delivery::{CostMeter, Proxies};
use jobs::{check_delivered, drain_in_process, wait_for_end};
use proxy::CountingProxy;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use replay_client::{Client, CreateReplayRequest, CreateWebhookRequest};
use replay_core::adapters::kafka::consumer_config;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::config::{Env, KafkaConfig, Settings};
use replay_core::domain::apikey::Caller;
use replay_core::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use replay_core::domain::job::{Counters, JobState};
use replay_core::domain::signing::{generate_secret, SigningKey};
use replay_core::services::api::{create_tenant, ApiContext, NewReplay};
use replay_core::services::worker::{handle_message, Inbound, WorkerContext};
use report::{machine, write_results};
use scan::which;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600_000;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// "full" or "tiny" (CI keeps the command working with the tiny one).
    pub name: String,
    pub records: usize,
    pub webhooks: usize,
    pub days: i64,
    pub payload_bytes: usize,
    /// Repetitions of the side-by-side measurements (medians are reported).
    pub rounds: usize,
    pub parallel: Vec<u32>,
    pub wrk_seconds: u32,
    /// Answer times of the slow receivers (figure 7).
    pub slow_receivers_ms: Vec<u64>,
    /// Their windows: about this long at the in-flight bound, whole hours
    /// (one slice each), at least 3 and at most `slow_max_hours`.
    pub slow_seconds: f64,
    pub slow_max_hours: i64,
    /// Figure 9: requests per second sent open-loop to the API, and for how long.
    pub api_rate: f64,
    pub api_seconds: f64,
    /// Figure 10: log sizes, in records over the same days; the size equal
    /// to `records` is the bench's own log.
    pub growth_records: Vec<usize>,
    pub bin_dir: PathBuf,
    pub out_dir: PathBuf,
    /// Extra function settings (NAME=VALUE), on top of the bench's own.
    pub settings: Vec<(String, String)>,
    /// `make profile`: only the delivery figure, its measured job under
    /// `perf record` writing into this directory (bench/profile).
    pub profile_dir: Option<PathBuf>,
    /// Only this figure (`index`, `slow`), into OUT/<figure>.json.
    pub only: Option<String>,
}

impl BenchOptions {
    pub fn full() -> Self {
        Self {
            name: "full".into(),
            records: 1_000_000,
            webhooks: 200,
            days: 5,
            payload_bytes: 400,
            rounds: 3,
            parallel: vec![1, 2, 4, 8],
            wrk_seconds: 10,
            slow_receivers_ms: vec![50, 200],
            slow_seconds: 30.0,
            slow_max_hours: 24,
            api_rate: 100.0,
            api_seconds: 60.0,
            growth_records: vec![1_000_000, 3_000_000, 10_000_000],
            bin_dir: PathBuf::from("target/release"),
            out_dir: PathBuf::from("bench"),
            settings: Vec::new(),
            profile_dir: None,
            only: None,
        }
    }

    pub fn tiny() -> Self {
        Self {
            name: "tiny".into(),
            records: 10_000,
            rounds: 1,
            parallel: vec![1, 2],
            wrk_seconds: 2,
            slow_receivers_ms: vec![200],
            slow_seconds: 1.0,
            slow_max_hours: 3,
            api_rate: 10.0,
            api_seconds: 2.0,
            growth_records: vec![10_000, 30_000],
            bin_dir: PathBuf::from("target/debug"),
            out_dir: PathBuf::from("bench/out/tiny"),
            ..Self::full()
        }
    }
}

/// The functions' environment as (name, value) pairs, also read in-process.
#[derive(Clone)]
struct VecEnv(Vec<(String, String)>);

impl Env for VecEnv {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

impl VecEnv {
    fn with(&self, name: &str, value: impl ToString) -> Self {
        let mut env = self.clone();
        env.0.push((name.into(), value.to_string()));
        env
    }

    fn settings(&self) -> Result<Settings> {
        Ok(Settings::from(self)?)
    }
}

/// What the bench seeded, and what each measured replay must deliver.
struct Dataset {
    tenant: TenantId,
    api_key: String,
    hot: WebhookId,
    /// `hot`'s signing secret, for the bare replayer (figure 8).
    hot_secret: String,
    rare: WebhookId,
    log_from: i64,
    log_to: i64,
    hour_from: i64,
    hour_to: i64,
    records: usize,
    hour_records: usize,
    mean_record_bytes: f64,
    /// Events of `hot` per window, from the seed manifest.
    hot_in_log: usize,
    rare_in_log: usize,
    hot_in_day: usize,
    hot_in_hour: usize,
    /// Distinct `hot` events in the 1-hour log: a copy whose original is
    /// before the hour is a new event there.
    hot_in_hour_log: usize,
    /// Bodies of `hot` events, for the load generator.
    sample_bodies: Vec<Vec<u8>>,
    /// Every `hot` event as a replay sees it: the timestamp of its first
    /// record, and its id; in time order.
    hot_first_seen: Vec<(i64, String)>,
    /// Every webhook id of the log, by volume (`hot` first, `rare` last).
    webhooks: Vec<String>,
}

impl Dataset {
    /// `hot`'s events in `[from, to)`: what a replay of that window delivers.
    fn hot_between(&self, from: i64, to: i64) -> &[(i64, String)] {
        let start = self.hot_first_seen.partition_point(|(ts, _)| *ts < from);
        let end = self.hot_first_seen.partition_point(|(ts, _)| *ts < to);
        &self.hot_first_seen[start..end]
    }
}

/// What every measurement uses: the options, the functions' environment, the
/// clients, the receiver and the seeded data.
struct Lab {
    opts: BenchOptions,
    env: LocalEnv,
    base: VecEnv,
    aws: aws_config::SdkConfig,
    sqs: aws_sdk_sqs::Client,
    /// The in-process measurements' queue.
    queue_url: String,
    store: MySqlStore,
    receiver: Receiver,
    data: Dataset,
}

/// The bench's stack: what the end-to-end measurements deploy, with the
/// counting proxies in front of DynamoDB and SQS.
struct BenchStack {
    spec: StackSpec,
    deployed: Deployed,
    proxies: Proxies,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 0 => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        n => v[n / 2],
    }
}

fn whole(x: f64) -> u64 {
    x.round().max(0.0) as u64
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub const BENCH_STACK: &str = "activity-replay-bench";

pub async fn run(opts: BenchOptions) -> Result<Value> {
    let env = LocalEnv::from_env()?;
    let stamp = chrono::Utc::now().timestamp();
    let big = KafkaConfig { topic: format!("bench-{stamp}"), ..env.kafka.clone() };
    let hour = KafkaConfig { topic: format!("bench-{stamp}-hour"), ..env.kafka.clone() };
    setup::delete_topics_with_prefix(&env.kafka, "bench-").await?;
    let aws = env.aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    // A database of its own each run: a job left by an earlier run (figure 9
    // leaves thousands no worker ran) would be claimed by this run's workers,
    // its webhook's secret sealed under that run's key.
    setup::drop_database(&env.database_url, "replay_bench").await?;
    let database_url = setup::create_database(&env.database_url, "replay_bench").await?;
    setup::create_topic(&big, 1).await?;
    setup::create_topic(&hour, 1).await?;
    let queue_url =
        sqs.create_queue().queue_name(format!("bench-{stamp}")).send().await?.queue_url.context("no queue url")?;
    let table = format!("bench_{stamp}");
    setup::create_table(&ddb, &table).await?;
    let store = MySqlStore::connect(&database_url).await?;
    // Webhooks are registered before the stack exists (seeding), so their
    // secrets are sealed under a key of the bench's own, handed to the stack.
    let secrets_key = aws_sdk_kms::Client::new(&aws)
        .create_key()
        .description("activity-replay bench: webhook secrets")
        .send()
        .await?
        .key_metadata
        .map(|k| k.arn.unwrap_or_default())
        .context("no key arn")?;

    let base = VecEnv(vec![
        ("DATABASE_URL".into(), database_url.clone()),
        ("KAFKA_BROKERS".into(), big.brokers.clone()),
        ("DELIVERY_LOG_TOPIC".into(), big.topic.clone()),
        ("SLICE_QUEUE_URL".into(), queue_url.clone()),
        ("CHECKPOINT_TABLE".into(), table.clone()),
        ("API_KEY_PEPPER".into(), env.pepper.clone()),
        ("WEBHOOK_SECRETS_KEY_ID".into(), secrets_key.clone()),
        ("WEBHOOK_ALLOW_LIST".into(), crate::receiver::RECEIVER_ALLOW_LIST.into()),
        ("REPLAY_RETENTION_HOURS".into(), (opts.days * 24 + 24).to_string()),
        ("RATE_LIMIT_REPLAYS".into(), "100000".into()),
        // The local receiver takes all it gets; the default (1,000/s per slice) protects small ones.
        ("DELIVERY_RATE_PER_SECOND".into(), "0".into()),
        // The seeded log ends a minute before seeding: windows up to it are settled.
        ("SETTLE_SECONDS".into(), "30".into()),
    ]);
    let base = VecEnv(base.0.into_iter().chain(opts.settings.iter().cloned()).collect());
    let receiver = Receiver::start(0).await?;
    println!("==> bench `{}`: seeding {} records into `{}`", opts.name, opts.records, big.topic);
    let targets = SeedTargets {
        base: &base,
        aws: &aws,
        store: &store,
        pepper: &env.pepper,
        receiver: &receiver,
        big: &big,
        hour: &hour,
    };
    let data = seed(&opts, targets).await?;
    println!(
        "    {} records (mean {:.0} B) over {} days, {} in the last-hour log",
        data.records, data.mean_record_bytes, opts.days, data.hour_records
    );

    let lab = Lab { opts, env, base, aws, sqs, queue_url, store, receiver, data };
    if lab.opts.only.as_deref() == Some("index") {
        let index = lab.measure_index(&big).await?;
        let _ = lab.sqs.delete_queue().queue_url(&lab.queue_url).send().await;
        let _ = setup::delete_table(&ddb, &table).await;
        std::fs::create_dir_all(&lab.opts.out_dir)?;
        let path = lab.opts.out_dir.join("index.json");
        std::fs::write(&path, serde_json::to_string_pretty(&index)? + "\n")?;
        println!("==> wrote {}", path.display());
        return Ok(index);
    }
    let profiling = lab.opts.profile_dir.is_some();
    let only_slow = lab.opts.only.as_deref() == Some("slow");
    let (scan, seek, index) = if profiling || only_slow {
        (Value::Null, Value::Null, Value::Null)
    } else {
        (lab.measure_scan(&big).await?, Box::pin(lab.measure_seek(&hour)).await?, lab.measure_index(&big).await?)
    };

    // Cost is counted on the wire: the functions reach DynamoDB and SQS
    // through counting proxies (template parameters DynamoDbEndpointUrl and
    // SqsEndpointUrl); the event source mapping's own SQS calls are counted
    // from the worker's invocations (one receive and one delete each).
    let upstream_sqs = lab.env.endpoint.clone();
    let upstream_ddb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let proxies =
        Proxies { ddb: CountingProxy::start(&upstream_ddb).await?, sqs: CountingProxy::start(&upstream_sqs).await? };
    let mut spec = StackSpec {
        name: BENCH_STACK.into(),
        bin_dir: std::fs::canonicalize(&lab.opts.bin_dir)?,
        database_url,
        ..StackSpec::default()
    };
    spec.parameter("DeliveryLogTopic", &big.topic)
        .parameter("ExistingCheckpointTable", &table)
        .parameter("WebhookSecretsKeyArn", &secrets_key)
        .parameter("DynamoDbEndpointUrl", &proxies.ddb.url)
        .parameter("SqsEndpointUrl", &proxies.sqs.url)
        .parameter("WorkerTimeoutSeconds", 600)
        .parameter("SliceQueueVisibilityTimeoutSeconds", 900)
        // 16 workers at most (the budget's row): room for the 8 slices at once of the largest run.
        .parameter("DatabaseConnectionBudget", 100)
        .parameter("SweeperScheduleEnabled", "false");
    for (k, v) in &lab.base.0 {
        if ![
            "DATABASE_URL",
            "KAFKA_BROKERS",
            "DELIVERY_LOG_TOPIC",
            "SLICE_QUEUE_URL",
            "CHECKPOINT_TABLE",
            "API_KEY_PEPPER",
            "WEBHOOK_SECRETS_KEY_ID",
        ]
        .contains(&k.as_str())
        {
            spec.setting(k, v);
        }
    }
    println!("==> deploying template.yaml as `{BENCH_STACK}` ({})", lab.opts.bin_dir.display());
    let deployed = stack::deploy(&lab.env, &spec).await?;
    let mut bench_stack = BenchStack { spec, deployed, proxies };
    if only_slow {
        let slow = lab.measure_slow_receivers(&mut bench_stack).await;
        let _ = stack::delete(&lab.env, BENCH_STACK, false).await;
        let _ = lab.sqs.delete_queue().queue_url(&lab.queue_url).send().await;
        let _ = setup::delete_table(&ddb, &table).await;
        let slow = slow?;
        std::fs::create_dir_all(&lab.opts.out_dir)?;
        let path = lab.opts.out_dir.join("slow.json");
        std::fs::write(&path, serde_json::to_string_pretty(&slow)? + "\n")?;
        println!("==> wrote {}", path.display());
        return Ok(slow);
    }
    let end_to_end = async {
        let delivery = lab.measure_delivery(&bench_stack).await?;
        if profiling {
            return anyhow::Ok((
                delivery,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ));
        }
        let parallel = lab.measure_parallel(&mut bench_stack).await?;
        let slow = lab.measure_slow_receivers(&mut bench_stack).await?;
        let memory = lab.measure_memory(&bench_stack, &big).await?;
        let growth = lab.measure_growth(&bench_stack, &big).await?;
        let durability = lab.measure_durability(&bench_stack, &big).await?;
        // Last: it leaves thousands of jobs that no worker runs.
        let api = lab.measure_api(&bench_stack).await?;
        anyhow::Ok((delivery, parallel, slow, memory, growth, durability, api))
    }
    .await;
    let _ = stack::delete(&lab.env, BENCH_STACK, false).await;
    let _ = lab.sqs.delete_queue().queue_url(&lab.queue_url).send().await;
    let _ = setup::delete_table(&ddb, &table).await;
    let (delivery, parallel, slow, memory, growth, durability, api) = end_to_end?;
    let Lab { opts, data, .. } = &lab;
    if let Some(dir) = &opts.profile_dir {
        // A profiled run is slower than a measured one: its figures stay out of results.json.
        std::fs::write(dir.join("delivery.json"), serde_json::to_string_pretty(&delivery)? + "\n")?;
        return Ok(delivery);
    }

    let results = json!({
        "config": opts.name,
        "settings": opts.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "machine": machine(),
        "dataset": {
            "records": data.records,
            "mean_record_bytes": whole(data.mean_record_bytes),
            "webhooks": opts.webhooks,
            "days": opts.days,
            "compression": "snappy",
            "partitions": 1,
            "hour_log_records": data.hour_records,
        },
        "scan": scan,
        "delivery": delivery["delivery"],
        "seek": seek,
        "parallel_slices": parallel,
        "slow_receivers": slow,
        "cost": delivery["cost"],
        "memory": memory,
        "growth": growth,
        "durability": durability,
        "api": api,
        "index": index,
    });
    write_results(opts, &results)?;
    Ok(results)
}
