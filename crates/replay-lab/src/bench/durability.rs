//! Figure 8, what durability costs: the worker on one slice against a bare
//! replayer of the same window, both in this process, and the worker again
//! through the stack.
//!
//! The bare replayer is the worker without its promises: the worker's own
//! reader (offsets for times, the Kafka adapter's scan, the record filter)
//! and HTTP client (signing, one POST per record) at the slice's
//! concurrency, and nothing else: no lease, checkpoint, dedup, retry,
//! heartbeat or MySQL. It posts every record of the webhook in the window,
//! copies included. Each run is timed from its first read to its last
//! answer: the bare one from opening the log, the worker from picking up its
//! message to its handler's return, the stack's from the create request to
//! the job's end.

use super::*;
use replay_core::adapters::http::HttpDeliverer;
use replay_core::adapters::kafka::KafkaLog;
use replay_core::domain::selection::{Bounds, RecordReader, ScanItem, Zone};
use replay_core::domain::signing::Signer;
use replay_core::ports::{Attempt, Deliverer, Delivery, DeliveryLog, ScanRequest};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The receiver's hook the bare replayer posts to (verified with `hot`'s secret).
const BARE_HOOK: &str = "bare";

/// What one bare replay did.
struct BareRun {
    posted: u64,
    elapsed: Duration,
}

/// Reads `[from, to)` of partition 0 and posts each of `webhook`'s events,
/// `concurrency` at a time; any answer but a success is an error.
async fn bare_replay(
    kafka: &KafkaConfig,
    settings: &Settings,
    webhook: &WebhookId,
    signer: &Signer,
    (from, to): (i64, i64),
    label: &str,
    url: &str,
) -> Result<BareRun> {
    let started = Instant::now();
    let log = KafkaLog::new(kafka.clone())?;
    let w = &settings.worker;
    let bounds = Bounds { from, to, lookback_ms: 0, skew_ms: w.skew_ms };
    let start = log.offset_for_time(0, bounds.scan_from_ts()).await?;
    let (_, end) = log.watermarks(0).await?;
    let mut batches = log.scan(ScanRequest {
        partition: 0,
        from: start,
        end,
        reader: RecordReader::new(webhook.as_str(), bounds, w.anomaly_ms),
        max_batch: 5_000,
        max_batch_bytes: w.max_batch_bytes,
    })?;
    let deliverer = Arc::new(HttpDeliverer::new(settings.delivery.clone())?);
    let slots = Arc::new(Semaphore::new(settings.delivery.concurrency.max(1)));
    let timeout = settings.delivery.request_timeout;
    let job = JobId::from(label);
    let mut requests = JoinSet::new();
    let mut posted = 0u64;
    let settle = |answer: Result<Attempt, tokio::task::JoinError>| -> Result<()> {
        match answer? {
            Attempt::Success => Ok(()),
            other => bail!("bare replay: a POST was answered {other:?}"),
        }
    };
    'read: while let Some(batch) = batches.recv().await {
        for item in batch?.items {
            match item {
                ScanItem::Event { zone: Zone::Window, event_id, event_type, payload, .. } => {
                    let slot = slots.clone().acquire_owned().await?;
                    let delivery = Delivery {
                        url: url.to_owned(),
                        message_id: event_id,
                        event_type,
                        body: payload,
                        job_id: job.clone(),
                        key: signer.clone(),
                        source_webhook_id: None,
                    };
                    let deliverer = deliverer.clone();
                    requests.spawn(async move {
                        let answer = deliverer.attempt(&delivery, timeout).await;
                        drop(slot);
                        answer
                    });
                    posted += 1;
                    while let Some(answer) = requests.try_join_next() {
                        settle(answer)?;
                    }
                }
                ScanItem::Done { .. } => break 'read,
                _ => {}
            }
        }
    }
    while let Some(answer) = requests.join_next().await {
        settle(answer)?;
    }
    Ok(BareRun { posted, elapsed: started.elapsed() })
}

impl Lab {
    pub(super) async fn measure_durability(&self, bench: &BenchStack, big: &KafkaConfig) -> Result<Value> {
        let Self { opts, env, base, store, receiver, data, .. } = self;
        let (from, to) = (data.hour_to - 24 * HOUR, data.hour_to);
        let expected: HashSet<&str> = data.hot_between(from, to).iter().map(|(_, id)| id.as_str()).collect();
        // One slice of the whole window, in process and through the stack.
        let one_slice = base.with("SLICE_SECONDS", 2 * 86_400);
        let settings = one_slice.settings()?;
        println!(
            "==> 8. durability's cost: `hot`'s last 24 hours in one slice, {} in flight: a bare replayer, the worker in process, the worker through the stack ({} rounds)",
            settings.delivery.concurrency, opts.rounds
        );
        let signer = Signer::from(SigningKey::from_secret(&data.hot_secret).context("hot's signing key")?);
        receiver.register(BARE_HOOK, &data.hot_secret);
        let worker = WorkerContext::connect(&settings, &self.aws).await?;
        let api = self.api(&one_slice).await?;
        let mut spec = bench.spec.clone();
        spec.setting("SLICE_SECONDS", 2 * 86_400).parameter("MaxParallelSlices", 1);
        let deployed = stack::deploy(env, &spec).await?;

        let (mut bare, mut ours, mut stacked) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=opts.rounds {
            let label = format!("bare-{round}");
            let url = receiver.url(BARE_HOOK);
            let run = bare_replay(big, &settings, &data.hot, &signer, (from, to), &label, &url).await?;
            let arrived = receiver.timeline(BARE_HOOK, &label);
            let ids: HashSet<&str> = arrived.iter().map(|(_, id)| id.as_str()).collect();
            let (_, bad_signatures) = receiver.request_counts(BARE_HOOK);
            if arrived.len() as u64 != run.posted || bad_signatures > 0 || !expected.is_subset(&ids) {
                bail!(
                    "bare replay: {} posted, {} arrived, {bad_signatures} bad signatures, {} of {} expected events missing",
                    run.posted,
                    arrived.len(),
                    expected.difference(&ids).count(),
                    expected.len()
                );
            }
            bare.push(run.posted as f64 / run.elapsed.as_secs_f64());

            let job = self.create_job(&api, &data.hot, from, to).await?;
            let handling = drain_in_process(self, &worker, &job).await?.handling;
            let counters = wait_for_end(store, &job, Duration::from_secs(60)).await?;
            check_delivered(receiver, "hot", "24-hour job in process", &job, &counters, expected.len())?;
            ours.push(counters.events_delivered as f64 / handling.as_secs_f64());

            let started = Instant::now();
            let job = self.create_job_http(&deployed, &data.hot, from, to).await?;
            let counters = wait_for_end(store, &job, Duration::from_secs(900)).await?;
            let seconds = started.elapsed().as_secs_f64();
            check_delivered(receiver, "hot", "24-hour job through the stack", &job, &counters, expected.len())?;
            stacked.push(counters.events_delivered as f64 / seconds);
            println!(
                "    round {round}: bare {:>7.0} posts/s ({} posts)   worker {:>7.0} events/s   through the stack {:>7.0} events/s ({} events)",
                bare[round - 1],
                run.posted,
                ours[round - 1],
                stacked[round - 1],
                counters.events_delivered
            );
        }
        let (bare_rate, ours_rate, stack_rate) = (median(&bare), median(&ours), median(&stacked));
        let ratio = ours_rate / bare_rate.max(1.0);
        Ok(json!({
            "events": expected.len(),
            "concurrency": settings.delivery.concurrency,
            "bare_posts_per_s": whole(bare_rate),
            "worker_events_per_s": whole(ours_rate),
            "stack_events_per_s": whole(stack_rate),
            "worker_vs_bare": round2(ratio),
            "stack_vs_bare": round2(stack_rate / bare_rate.max(1.0)),
            "target": 0.8,
            "met": ratio >= 0.8,
            "rounds": {"bare": bare, "worker": ours, "stack": stacked},
        }))
    }
}
