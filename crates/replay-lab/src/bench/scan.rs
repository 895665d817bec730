//! 1. Scan rate: the worker's slice loop vs a bare rdkafka consumer vs kcat.

use super::*;

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

pub(super) fn which(binary: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(binary).is_file()))
}

pub(super) async fn high_watermark(kafka: &KafkaConfig) -> Result<i64> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || -> Result<i64> {
        let consumer: BaseConsumer = consumer_config(&kafka).create()?;
        Ok(consumer.fetch_watermarks(&kafka.topic, 0, Duration::from_secs(10))?.1)
    })
    .await?
}

impl Lab {
    pub(super) async fn measure_scan(&self, big: &KafkaConfig) -> Result<Value> {
        let Self { opts, base, .. } = self;
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
            let (counters, handling) = self.whole_log_in_process(&api, &worker, end, self.data.rare_in_log).await?;
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

    /// `rare` over the whole log in one slice, in this process: it must scan
    /// all `end` records and deliver `rare_expected` events. Its counters and
    /// the time inside the worker's handler.
    pub(super) async fn whole_log_in_process(
        &self,
        api: &ApiContext,
        worker: &WorkerContext,
        end: i64,
        rare_expected: usize,
    ) -> Result<(Counters, Duration)> {
        let Self { store, receiver, data, .. } = self;
        let job = self.create_job(api, &data.rare, data.log_from - 60_000, data.log_to + 1_000).await?;
        let handling = drain_in_process(self, worker, &job).await?.handling;
        let counters = wait_for_end(store, &job, Duration::from_secs(60)).await?;
        if counters.events_scanned != end as u64 {
            bail!("the worker scanned {} records of {end}", counters.events_scanned);
        }
        check_delivered(receiver, "rare", "whole-log job in process", &job, &counters, rare_expected)?;
        Ok((counters, handling))
    }
}
