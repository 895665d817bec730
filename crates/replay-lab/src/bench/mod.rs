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
//! 4. parallel slices: one 24-hour replay with 1, 2, 4, 8 slices at once;
//! 5. cost: DynamoDB, SQS and MySQL writes, counted on the wire per 1,000
//!    records scanned, and the worker's invocations and billed seconds from
//!    its REPORT lines;
//! 6. the worker process's peak RSS on a single slice of the whole log.
//!
//! 1 and 3 measure the worker's code in this process (the slice engine, not
//! the queue's latency); 2, 4, 5 and 6 go through the stack.

pub mod proxy;

use crate::receiver::Receiver;
use crate::seed::{plan_records, produce, SeedKind, SeedPlan};
use crate::setup;
use crate::stack::{self, Deployed, LocalEnv, StackSpec};
use anyhow::{bail, Context, Result};
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
    pub bin_dir: PathBuf,
    pub out_dir: PathBuf,
    /// Extra function settings (NAME=VALUE), on top of the bench's own.
    pub settings: Vec<(String, String)>,
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
            bin_dir: PathBuf::from("target/release"),
            out_dir: PathBuf::from("bench"),
            settings: Vec::new(),
        }
    }

    pub fn tiny() -> Self {
        Self {
            name: "tiny".into(),
            records: 20_000,
            rounds: 1,
            parallel: vec![1, 2],
            wrk_seconds: 2,
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
    hot_in_day: usize,
    hot_in_hour: usize,
    /// Distinct `hot` events in the 1-hour log: a copy whose original is
    /// before the hour is a new event there.
    hot_in_hour_log: usize,
    /// Bodies of `hot` events, for the load generator.
    sample_bodies: Vec<Vec<u8>>,
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
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
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
    let scan = lab.measure_scan(&big).await?;
    let seek = lab.measure_seek(&hour).await?;

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
    let end_to_end = async {
        let delivery = lab.measure_delivery(&bench_stack).await?;
        let parallel = lab.measure_parallel(&mut bench_stack).await?;
        let memory = lab.measure_memory(&bench_stack).await?;
        anyhow::Ok((delivery, parallel, memory))
    }
    .await;
    let _ = stack::delete(&lab.env, BENCH_STACK, false).await;
    let _ = lab.sqs.delete_queue().queue_url(&lab.queue_url).send().await;
    let _ = setup::delete_table(&ddb, &table).await;
    let (delivery, parallel, memory) = end_to_end?;
    let Lab { opts, data, .. } = &lab;

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
        "cost": delivery["cost"],
        "memory": memory,
    });
    write_results(opts, &results)?;
    Ok(results)
}

/// Where seeding writes: the bench's settings and clients, the receiver the
/// webhooks point at, the whole log and its last-hour copy.
struct SeedTargets<'a> {
    base: &'a VecEnv,
    aws: &'a aws_config::SdkConfig,
    store: &'a MySqlStore,
    pepper: &'a str,
    receiver: &'a Receiver,
    big: &'a KafkaConfig,
    hour: &'a KafkaConfig,
}

async fn seed(opts: &BenchOptions, targets: SeedTargets<'_>) -> Result<Dataset> {
    let SeedTargets { base, aws, store, pepper, receiver, big, hour } = targets;
    let api = ApiContext::connect(base.settings()?, aws).await?;
    let tenant = create_tenant(store, pepper, "bench").await?;
    let operator = Caller::operator(tenant.tenant_id.clone());
    let register = async |name: &str| -> Result<WebhookId> {
        let hook = api.create_webhook(&operator, CreateWebhookRequest { url: receiver.url(name) }).await?;
        receiver.register(name, &hook.secret);
        Ok(hook.id)
    };
    let hot = register("hot").await?;
    let rare = register("rare").await?;

    // Webhook ranks set the Zipf-like volume: `hot` first, `rare` last.
    let mut webhooks = vec![hot.as_str().to_owned()];
    webhooks.extend((2..opts.webhooks).map(|_| format!("wh_{}", uuid::Uuid::new_v4().simple())));
    webhooks.push(rare.as_str().to_owned());
    let now = chrono::Utc::now().timestamp_millis();
    let log_to = now - 60_000;
    let log_from = log_to - opts.days * 24 * HOUR;
    let hour_to = log_to / HOUR * HOUR;
    let hour_from = hour_to - HOUR;
    let plan = SeedPlan {
        events: opts.records,
        webhooks,
        start_ms: log_from,
        end_ms: log_to,
        duplicate_rate: 0.01,
        malformed_rate: 0.001,
        payload_bytes: opts.payload_bytes,
        seed: 2026,
    };
    let manifest = plan_records(&plan)?;
    produce(big, &manifest.records).await?;
    let last_hour: Vec<_> =
        manifest.records.iter().filter(|r| r.timestamp >= hour_from && r.timestamp < hour_to).cloned().collect();
    produce(hour, &last_hour).await?;
    let bytes: usize = manifest.records.iter().map(|r| r.value.len() + r.webhook_id.len()).sum();
    let hot_id = hot.as_str();
    let sample_bodies = manifest
        .records
        .iter()
        .filter(|r| r.webhook_id == hot_id && r.kind == SeedKind::Event)
        .take(2_000)
        .map(|r| r.value.clone())
        .collect();
    Ok(Dataset {
        tenant: tenant.tenant_id,
        api_key: tenant.api_key,
        records: manifest.records.len(),
        hour_records: last_hour.len(),
        mean_record_bytes: bytes as f64 / manifest.records.len().max(1) as f64,
        hot_in_log: manifest.expected(hot_id, log_from, log_to + 1).len(),
        hot_in_day: manifest.expected(hot_id, hour_to - 24 * HOUR, hour_to).len(),
        hot_in_hour: manifest.expected(hot_id, hour_from, hour_to).len(),
        hot_in_hour_log: last_hour
            .iter()
            .filter(|r| r.webhook_id == hot_id && r.kind != SeedKind::Malformed)
            .map(|r| r.event_id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len(),
        sample_bodies,
        hot,
        rare,
        log_from,
        log_to,
        hour_from,
        hour_to,
    })
}

// ------------------------------------------------------------------ jobs

impl Lab {
    /// The API function's context with `env`'s settings, built once per measurement.
    async fn api(&self, env: &VecEnv) -> Result<ApiContext> {
        Ok(ApiContext::connect(env.settings()?, &self.aws).await?)
    }

    /// Creates a job in-process (the API function's code path).
    async fn create_job(&self, api: &ApiContext, webhook: &WebhookId, from: i64, to: i64) -> Result<JobId> {
        let to = to.min(chrono::Utc::now().timestamp_millis() - 1_000);
        let everything = replay_client::Selection::default();
        let ask = NewReplay::window(webhook, EventTime(from), EventTime(to), &everything);
        Ok(api.create_replay(&self.data.tenant, ask).await?.job_id)
    }
}

impl Lab {
    fn client(&self, deployed: &Deployed) -> Client {
        Client::new(&deployed.api_url, &self.data.api_key)
    }

    /// Creates a job through the stack's API.
    async fn create_job_http(&self, deployed: &Deployed, webhook: &WebhookId, from: i64, to: i64) -> Result<JobId> {
        let to = to.min(chrono::Utc::now().timestamp_millis() - 1_000);
        let fmt = |ms: i64| EventTime(ms).to_rfc3339();
        let job = self.client(deployed).start_replay(webhook, &CreateReplayRequest::window(fmt(from), fmt(to))).await?;
        Ok(job.job_id)
    }
}

async fn wait_for_end(store: &MySqlStore, job: &JobId, timeout: Duration) -> Result<Counters> {
    let started = Instant::now();
    loop {
        if let Some(view) = store.job_view(None, job).await? {
            if view.state.is_terminal() {
                if view.state != JobState::Completed {
                    bail!("job {job} ended {:?}: {:?}", view.state, view.state_reason);
                }
                return Ok(view.progress.counters);
            }
        }
        if started.elapsed() > timeout {
            bail!("job {job} did not end within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Time inside the worker's handler, and when it picked up the first message.
struct Handled {
    handling: Duration,
    first_pickup: Option<Instant>,
}

/// Plays the event-source mapping in-process until the job ends.
async fn drain_in_process(lab: &Lab, worker: &WorkerContext, job: &JobId) -> Result<Handled> {
    let Lab { sqs, queue_url, store, .. } = lab;
    let mut handled = Handled { handling: Duration::ZERO, first_pickup: None };
    let started = Instant::now();
    loop {
        if let Some(view) = store.job_view(None, job).await? {
            if view.state.is_terminal() {
                return Ok(handled);
            }
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("job {job} did not end in-process");
        }
        let out =
            sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).wait_time_seconds(1).send().await?;
        for m in out.messages.unwrap_or_default() {
            let t = Instant::now();
            handled.first_pickup.get_or_insert(t);
            let deadline = t + Duration::from_secs(600);
            let message = Inbound { body: m.body.as_deref().unwrap_or_default(), handbacks: 0 };
            let result = handle_message(worker, &message, "bench", deadline).await;
            handled.handling += t.elapsed();
            result?;
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await?;
        }
    }
}

// ------------------------------------------------------------------ 1. scan

/// A bare rdkafka consumer (the worker's consumer settings) reading the
/// partition from the start to `end`: the ceiling for the worker's scan.
fn bare_consumer_scan(kafka: &KafkaConfig, end: i64) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let consumer: BaseConsumer = consumer_config(kafka).create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&kafka.topic, 0, Offset::Offset(0))?;
    consumer.assign(&tpl)?;
    let (mut records, mut bytes) = (0u64, 0usize);
    loop {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len);
                if m.offset() + 1 >= end {
                    break;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("bare consumer: nothing for 10 s after {records} records"),
        }
    }
    std::hint::black_box(bytes);
    Ok((records, started.elapsed()))
}

/// `kcat -C -e` over the same partition, if kcat (or kafkacat) is installed.
async fn kcat_scan(kafka: &KafkaConfig) -> Result<Option<(u64, Duration)>> {
    let Some(kcat) = ["kcat", "kafkacat"].into_iter().find(|b| which(b)) else { return Ok(None) };
    let started = Instant::now();
    let out = tokio::process::Command::new(kcat)
        .kill_on_drop(true)
        .args(["-C", "-b", &kafka.brokers, "-t", &kafka.topic, "-p", "0", "-o", "beginning", "-e", "-q"])
        .args(["-f", "%o\n"])
        .output()
        .await?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        bail!("{kcat} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(Some((out.stdout.iter().filter(|&&b| b == b'\n').count() as u64, elapsed)))
}

fn which(binary: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(binary).is_file()))
}

async fn high_watermark(kafka: &KafkaConfig) -> Result<i64> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || -> Result<i64> {
        let consumer: BaseConsumer = consumer_config(&kafka).create()?;
        Ok(consumer.fetch_watermarks(&kafka.topic, 0, Duration::from_secs(10))?.1)
    })
    .await?
}

impl Lab {
    async fn measure_scan(&self, big: &KafkaConfig) -> Result<Value> {
        let Self { opts, base, data, store, .. } = self;
        println!(
            "==> 1. scan rate: the worker's slice loop vs a bare rdkafka consumer vs kcat ({} rounds)",
            opts.rounds
        );
        let end = high_watermark(big).await?;
        // One slice covering the whole log; the rare webhook has few events to deliver.
        let one_slice = base.with("SLICE_SECONDS", (opts.days + 1) * 86_400);
        let worker = WorkerContext::connect(&one_slice.settings()?, &self.aws).await?;
        let api = self.api(&one_slice).await?;
        let (mut bare, mut kcat, mut ours) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=opts.rounds {
            let reader = big.clone();
            let (n, t) = tokio::task::spawn_blocking(move || bare_consumer_scan(&reader, end)).await??;
            bare.push(n as f64 / t.as_secs_f64());
            if let Some((n, t)) = kcat_scan(big).await? {
                kcat.push(n as f64 / t.as_secs_f64());
            }
            let job = self.create_job(&api, &data.rare, data.log_from - 60_000, data.log_to + 1_000).await?;
            let handling = drain_in_process(self, &worker, &job).await?.handling;
            let counters = wait_for_end(store, &job, Duration::from_secs(60)).await?;
            if counters.events_scanned != end as u64 {
                bail!("the worker scanned {} records of {end}", counters.events_scanned);
            }
            ours.push(counters.events_scanned as f64 / handling.as_secs_f64());
            println!(
                "    round {round}: bare {:>9.0} rec/s   kcat {:>9}   worker {:>9.0} rec/s ({} delivered)",
                bare[round - 1],
                kcat.last().map(|r| format!("{r:.0}")).unwrap_or_else(|| "-".into()),
                ours[round - 1],
                counters.events_delivered
            );
        }
        let ratio = median(&ours) / median(&bare).max(1.0);
        Ok(json!({
            "records": end,
            "worker_records_per_s": whole(median(&ours)),
            "bare_rdkafka_records_per_s": whole(median(&bare)),
            "kcat_records_per_s": (!kcat.is_empty()).then(|| whole(median(&kcat))),
            "worker_vs_bare": round2(ratio),
            "target": 0.9,
            "met": ratio >= 0.9,
            "rounds": {"worker": ours, "bare_rdkafka": bare, "kcat": kcat},
        }))
    }
}

// ------------------------------------------------------------------ 3. seek

impl Lab {
    async fn measure_seek(&self, hour: &KafkaConfig) -> Result<Value> {
        let Self { opts, base, aws, store, receiver, data, .. } = self;
        println!("==> 3. seek independence: time to first delivery of the last hour ({} rounds)", opts.rounds.max(5));
        let long = base.clone();
        let short = base.with("DELIVERY_LOG_TOPIC", &hour.topic);
        let (long_worker, short_worker) = (
            WorkerContext::connect(&long.settings()?, aws).await?,
            WorkerContext::connect(&short.settings()?, aws).await?,
        );
        let (long_api, short_api) = (self.api(&long).await?, self.api(&short).await?);
        // From the request, and from the worker picking up the slice (without the
        // queue's delivery latency and the API's work).
        let (mut in_long, mut in_short, mut worker_long, mut worker_short) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 1..=opts.rounds.max(5) {
            let runs = [
                (&long_api, &long_worker, &mut in_long, &mut worker_long, data.hot_in_hour),
                (&short_api, &short_worker, &mut in_short, &mut worker_short, data.hot_in_hour_log),
            ];
            for (api, worker, out, out_worker, expected) in runs {
                let started = Instant::now();
                let job = self.create_job(api, &data.hot, data.hour_from, data.hour_to).await?;
                let handled = drain_in_process(self, worker, &job).await?;
                let counters = wait_for_end(store, &job, Duration::from_secs(60)).await?;
                if counters.events_delivered as usize != expected {
                    bail!("seek job delivered {} of {expected} events", counters.events_delivered);
                }
                let first = receiver.arrivals("hot", job.as_str()).context("no delivery arrived")?.first;
                out.push(first.duration_since(started).as_secs_f64() * 1_000.0);
                let pickup = handled.first_pickup.context("no message was handled")?;
                out_worker.push(first.duration_since(pickup).as_secs_f64() * 1_000.0);
            }
            println!(
                "    round {round}: 5-day log {:>6.1} ms ({:>5.1} ms in the worker)   1-hour log {:>6.1} ms ({:>5.1} ms)",
                in_long[round - 1],
                worker_long[round - 1],
                in_short[round - 1],
                worker_short[round - 1]
            );
        }
        let ratio = median(&worker_long) / median(&worker_short).max(0.001);
        let ratio_from_request = median(&in_long) / median(&in_short).max(0.001);
        Ok(json!({
            "window": "the last full hour",
            "events": data.hot_in_hour,
            "first_delivery_ms_5_day_log": round2(median(&worker_long)),
            "first_delivery_ms_1_hour_log": round2(median(&worker_short)),
            "ratio": round2(ratio),
            "from_request_ms_5_day_log": round2(median(&in_long)),
            "from_request_ms_1_hour_log": round2(median(&in_short)),
            "ratio_from_request": round2(ratio_from_request),
            "target": 1.5,
            "met": ratio <= 1.5,
            "rounds": {
                "worker_5_day_log": worker_long, "worker_1_hour_log": worker_short,
                "request_5_day_log": in_long, "request_1_hour_log": in_short,
            },
        }))
    }
}

// -------------------------------------------------------- 2 + 5. delivery

struct Proxies {
    ddb: CountingProxy,
    sqs: CountingProxy,
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
struct CostMeter {
    mysql_writes: u64,
    invocations: u64,
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
    async fn start(lab: &Lab, stack: &BenchStack) -> Result<Self> {
        for p in [&stack.proxies.ddb, &stack.proxies.sqs] {
            p.reset();
        }
        let (invocations, billed_ms) = worker_usage(&lab.env, &stack.deployed).await?;
        Ok(Self { mysql_writes: mysql_writes(&lab.store).await?, invocations, billed_ms })
    }

    async fn finish(self, lab: &Lab, stack: &BenchStack, c: &Counters) -> Result<Value> {
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
    async fn measure_delivery(&self, bench: &BenchStack) -> Result<Value> {
        let Self { opts, base, store, receiver, data, .. } = self;
        println!("==> 2. delivery rate: one job of every `hot` event in the log, end to end through the stack");
        let settings = base.settings()?;
        // Warm-up: every process has started and connected once.
        let warm = self.create_job_http(&bench.deployed, &data.hot, data.hour_from, data.hour_to).await?;
        wait_for_end(store, &warm, Duration::from_secs(120)).await?;

        let meter = CostMeter::start(self, bench).await?;
        let started = Instant::now();
        let job = self.create_job_http(&bench.deployed, &data.hot, data.log_from - 60_000, data.log_to + 1_000).await?;
        let counters = wait_for_end(store, &job, Duration::from_secs(1_800)).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let cost = meter.finish(self, bench, &counters).await?;
        let arrivals = receiver.arrivals("hot", job.as_str()).context("no delivery arrived")?;
        if counters.events_delivered as usize != data.hot_in_log || arrivals.count != counters.events_delivered {
            bail!(
                "delivery job: {} delivered, {} arrived, {} expected",
                counters.events_delivered,
                arrivals.count,
                data.hot_in_log
            );
        }
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

// ---------------------------------------------------------- 4. parallel

impl Lab {
    async fn measure_parallel(&self, bench: &mut BenchStack) -> Result<Value> {
        let Self { opts, env, store, receiver, data, .. } = self;
        println!("==> 4. parallel slices: one 24-hour replay, {:?} slices at once", opts.parallel);
        let mut points = Vec::new();
        let mut first_seconds = None;
        for &k in &opts.parallel {
            bench.spec.parameter("MaxParallelSlices", k);
            bench.deployed = stack::deploy(env, &bench.spec).await?;
            let started = Instant::now();
            let job = self.create_job_http(&bench.deployed, &data.hot, data.hour_to - 24 * HOUR, data.hour_to).await?;
            let counters = wait_for_end(store, &job, Duration::from_secs(1_800)).await?;
            let seconds = started.elapsed().as_secs_f64();
            let arrived = receiver.arrivals("hot", job.as_str()).map_or(0, |a| a.count);
            if counters.events_delivered as usize != data.hot_in_day || arrived != counters.events_delivered {
                bail!(
                    "24-hour job: {} delivered, {arrived} arrived, {} expected",
                    counters.events_delivered,
                    data.hot_in_day
                );
            }
            let t1 = *first_seconds.get_or_insert(seconds);
            println!(
                "    {k} at once: {seconds:>6.2} s, {:>7.0} events/s, speed-up {:.2}",
                counters.events_delivered as f64 / seconds,
                t1 / seconds
            );
            points.push(json!({
                "slices_at_once": k,
                "seconds": round2(seconds),
                "events": counters.events_delivered,
                "records_scanned": counters.events_scanned,
                "events_per_s": whole(counters.events_delivered as f64 / seconds),
                "speedup": round2(t1 / seconds),
            }));
        }
        Ok(Value::Array(points))
    }
}

// ------------------------------------------------------------ 6. memory

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Lab {
    async fn measure_memory(&self, bench: &BenchStack) -> Result<Value> {
        let Self { env, store, data, .. } = self;
        println!("==> 6. worker peak RSS: fresh worker processes, one slice over the whole log");
        let worker = &bench.deployed.worker_function_name;
        // Fresh processes, so the peak is this slice's: the executor starts new
        // ones for the next invocations.
        for pid in stack::pids(env, worker).await? {
            stack::signal(pid, "KILL").await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut spec = bench.spec.clone();
        spec.setting("SLICE_SECONDS", (data.log_to - data.log_from) / 1_000 + 86_400);
        let deployed = stack::deploy(env, &spec).await?;
        let meter = CostMeter::start(self, bench).await?;
        let started = Instant::now();
        let job = self.create_job_http(&deployed, &data.rare, data.log_from - 60_000, data.log_to + 1_000).await?;
        let counters = wait_for_end(store, &job, Duration::from_secs(900)).await?;
        let seconds = started.elapsed().as_secs_f64();
        let cost = meter.finish(self, bench, &counters).await?;
        let processes = stack::processes(env, worker).await?;
        let peak_kb = processes.iter().filter_map(|p| p.pid).filter_map(peak_rss_kb).max().context("no worker pid")?;
        let mb = peak_kb as f64 / 1_024.0;
        println!(
            "    {} records in one slice: peak RSS {mb:.1} MB, {:.0} records/s through the stack",
            counters.events_scanned,
            counters.events_scanned as f64 / seconds
        );
        Ok(json!({
            "records_in_slice": counters.events_scanned,
            "worker_peak_rss_mb": round2(mb),
            "end_to_end_records_per_s": whole(counters.events_scanned as f64 / seconds),
            "target_mb": 128,
            "met": mb < 128.0,
            "cost_of_this_job": cost,
        }))
    }
}

// ----------------------------------------------------------------- output

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines().find_map(|l| l.strip_prefix("model name")).map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
    });
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu": cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

fn yes_no(met: &Value) -> &'static str {
    if met.as_bool().unwrap_or(false) {
        "yes"
    } else {
        "**no**"
    }
}

fn markdown(r: &Value) -> String {
    let (s, d, k, c, m) = (&r["scan"], &r["delivery"], &r["seek"], &r["cost"], &r["memory"]);
    let mut md = format!(
        "# Benchmark results (`{}`, {})\n\n{} records of ~{} B, {} webhooks, {} days, {} CPUs.\n\n\
         | figure | ours | reference | ratio | target | met |\n|---|---|---|---|---|---|\n",
        r["config"].as_str().unwrap_or_default(),
        r["generated_at"].as_str().unwrap_or_default(),
        r["dataset"]["records"],
        r["dataset"]["mean_record_bytes"],
        r["dataset"]["webhooks"],
        r["dataset"]["days"],
        r["machine"]["cpus"],
    );
    md += &format!(
        "| scan rate (records/s) | {} | bare rdkafka {} (kcat {}) | {} | ≥ 0.9 | {} |\n",
        s["worker_records_per_s"],
        s["bare_rdkafka_records_per_s"],
        s["kcat_records_per_s"],
        s["worker_vs_bare"],
        yes_no(&s["met"])
    );
    md += &format!(
        "| delivery rate (events/s) | {} | receiver via wrk {} | {} | ≥ 10,000/s and ≥ 0.5 | {} |\n",
        d["events_per_s"],
        d["receiver_capacity_per_s"],
        d["vs_receiver"],
        yes_no(&d["met"])
    );
    md += &format!(
        "| time to first delivery, from slice pickup (ms) | {} (5-day log) | {} (1-hour log) | {} | ≤ 1.5 | {} |\n\
         | time to first delivery, from the request (ms) | {} (5-day log) | {} (1-hour log) | {} | | |\n",
        k["first_delivery_ms_5_day_log"],
        k["first_delivery_ms_1_hour_log"],
        k["ratio"],
        yes_no(&k["met"]),
        k["from_request_ms_5_day_log"],
        k["from_request_ms_1_hour_log"],
        k["ratio_from_request"]
    );
    md += &format!(
        "| DynamoDB writes per 1,000 records scanned | {} | | | ≤ 2 | {} |\n",
        c["dynamodb_writes_per_1000_scanned"],
        yes_no(&c["met"])
    );
    md += &format!(
        "| SQS requests / MySQL writes per 1,000 records scanned | {} / {} | | | | |\n",
        c["sqs_requests_per_1000_scanned"], c["mysql_writes_per_1000_scanned"]
    );
    md += &format!(
        "| worker peak RSS, {} records in one slice (MB) | {} | | | < 128 | {} |\n",
        m["records_in_slice"],
        m["worker_peak_rss_mb"],
        yes_no(&m["met"])
    );
    md += "\n| slices at once | seconds | events/s | speed-up |\n|---|---|---|---|\n";
    for p in r["parallel_slices"].as_array().into_iter().flatten() {
        md += &format!("| {} | {} | {} | {} |\n", p["slices_at_once"], p["seconds"], p["events_per_s"], p["speedup"]);
    }
    md
}

fn write_results(opts: &BenchOptions, results: &Value) -> Result<()> {
    std::fs::create_dir_all(&opts.out_dir)?;
    std::fs::write(opts.out_dir.join("results.json"), serde_json::to_string_pretty(results)? + "\n")?;
    let md = markdown(results);
    std::fs::write(opts.out_dir.join("results.md"), &md)?;
    println!("\n{md}\n==> wrote {0}/results.json and {0}/results.md", opts.out_dir.display());
    Ok(())
}
