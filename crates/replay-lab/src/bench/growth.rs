//! Figure 10, growth: the bench's five days at 1M, 3M and 10M records (the
//! bench's own log, then denser ones of the same webhooks), and at each size
//! the time to the first delivery of the last hour and a full scan, both in
//! this process, and the worker's peak memory on that scan through the stack.
//! A replay seeks by time, so the first should stay flat; a full scan reads
//! every record, so it should grow linearly; the worker holds a batch, not
//! the log, so its memory should stay flat.
//!
//! A size whose log would not fit on the broker's disk (with room to spare)
//! is skipped, and the figure says so.

use super::*;
use std::path::Path;

/// Most records planned at once: a plan holds its records in memory.
const CHUNK: usize = 1_000_000;

/// Room left on the broker's disk beyond the log's raw size.
const DISK_MARGIN_BYTES: u64 = 2 << 30;

/// A log of the bench's webhooks over its five days, and what replays of it
/// deliver.
struct SizedLog {
    kafka: KafkaConfig,
    records: usize,
    hot_in_hour: usize,
    rare_in_log: usize,
}

/// The broker's data directory (`infra/local/env.sh`), when the broker is local.
fn kafka_data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("KAFKA_HOME")?).join("data");
    dir.is_dir().then_some(dir)
}

/// Free bytes on the file system holding `dir`, from `df`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let kb: u64 = String::from_utf8_lossy(&out.stdout).lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kb * 1_024)
}

/// Bytes of a topic's partition 0 on the broker's disk.
fn bytes_on_disk(data_dir: &Path, topic: &str) -> Option<u64> {
    let files = std::fs::read_dir(data_dir.join(format!("{topic}-0"))).ok()?;
    Some(files.filter_map(|f| f.ok()?.metadata().ok()).map(|m| m.len()).sum())
}

impl Lab {
    /// Seeds `records` records over the bench's five days into `kafka`, in
    /// chunks of consecutive time, each planned and produced on its own.
    async fn seed_sized(&self, kafka: KafkaConfig, records: usize) -> Result<SizedLog> {
        let Self { opts, data, .. } = self;
        setup::create_topic(&kafka, 1).await?;
        let chunks = records.div_ceil(CHUNK).max(1);
        let span = data.log_to - data.log_from;
        let boundary = |i: usize| data.log_from + span * i as i64 / chunks as i64;
        let mut log = SizedLog { kafka, records: 0, hot_in_hour: 0, rare_in_log: 0 };
        for i in 0..chunks {
            // A copy stays inside its chunk (the plan bounds it by its end),
            // so each chunk's expected events add up.
            let plan = SeedPlan {
                events: records / chunks,
                webhooks: data.webhooks.clone(),
                start_ms: boundary(i),
                end_ms: boundary(i + 1),
                duplicate_rate: 0.01,
                malformed_rate: 0.001,
                payload_bytes: opts.payload_bytes,
                seed: 2026 + 1_000 * (records / CHUNK) as u64 + i as u64,
            };
            let manifest = plan_records(&plan)?;
            produce(&log.kafka, &manifest.records).await?;
            log.records += manifest.records.len();
            log.hot_in_hour += manifest.expected(data.hot.as_str(), data.hour_from, data.hour_to).len();
            log.rare_in_log += manifest.expected(data.rare.as_str(), data.log_from, data.log_to + 1).len();
        }
        Ok(log)
    }

    pub(super) async fn measure_growth(&self, bench: &BenchStack, big: &KafkaConfig) -> Result<Value> {
        let Self { opts, base, aws, data, .. } = self;
        println!("==> 10. growth: the same {} days at {:?} records", opts.days, opts.growth_records);
        let data_dir = kafka_data_dir();
        let mut points = Vec::new();
        let mut skipped = Vec::new();
        for &records in &opts.growth_records {
            let log = if records == opts.records {
                SizedLog {
                    kafka: big.clone(),
                    records: data.records,
                    hot_in_hour: data.hot_in_hour,
                    rare_in_log: data.rare_in_log,
                }
            } else {
                let needed = (records as f64 * data.mean_record_bytes) as u64 + DISK_MARGIN_BYTES;
                let free = data_dir.as_deref().and_then(free_bytes);
                if let Some(free) = free.filter(|&free| free < needed) {
                    println!("    {records} records: skipped, {needed} bytes needed and {free} free");
                    skipped.push(json!({"records": records, "bytes_needed": needed, "bytes_free": free}));
                    continue;
                }
                let topic = KafkaConfig { topic: format!("{}-sized-{records}", big.topic), ..big.clone() };
                let seeding = Instant::now();
                let log = self.seed_sized(topic, records).await?;
                println!("    seeded {} records in {:.1} s", log.records, seeding.elapsed().as_secs_f64());
                log
            };
            let env = base.with("DELIVERY_LOG_TOPIC", &log.kafka.topic);
            let one_slice = env.with("SLICE_SECONDS", (opts.days + 1) * 86_400);
            let (api, worker) = (self.api(&env).await?, WorkerContext::connect(&env.settings()?, aws).await?);
            let mut first = Vec::new();
            for _ in 0..opts.rounds {
                first.push(self.first_delivery_in_process(&api, &worker, log.hot_in_hour).await?.1);
            }
            let (api, worker) =
                (self.api(&one_slice).await?, WorkerContext::connect(&one_slice.settings()?, aws).await?);
            let end = scan::high_watermark(&log.kafka).await?;
            let (counters, scan) = self.whole_log_in_process(&api, &worker, end, log.rare_in_log).await?;
            let stacked = self.whole_log_through_stack(bench, &log.kafka.topic, log.rare_in_log).await?;
            let on_disk = data_dir.as_deref().and_then(|dir| bytes_on_disk(dir, &log.kafka.topic));
            println!(
                "    {records:>9} records: first delivery {:>6.1} ms, full scan {:>6.2} s in process, {:>6.2} s \
                 through the stack, worker peak {:.1} MB",
                median(&first),
                scan.as_secs_f64(),
                stacked.seconds,
                stacked.peak_mb
            );
            points.push(json!({
                "records": counters.events_scanned,
                "log_bytes_on_disk": on_disk,
                "first_delivery_ms": round2(median(&first)),
                "full_scan_seconds": round2(scan.as_secs_f64()),
                "full_scan_records_per_s": whole(counters.events_scanned as f64 / scan.as_secs_f64()),
                "through_the_stack_seconds": round2(stacked.seconds),
                "worker_peak_rss_mb": round2(stacked.peak_mb),
                "rounds": {"first_delivery_ms": first},
            }));
            if log.kafka.topic != big.topic {
                // Ten million records are gigabytes of disk: gone once measured.
                setup::delete_topics_with_prefix(&log.kafka, &log.kafka.topic).await?;
            }
        }
        Ok(json!({"points": points, "skipped": skipped, "growth": growth_ratios(&points)}))
    }
}

/// Largest against smallest size: first delivery and memory should stay
/// near 1; scan time per record too, when the scan grows linearly.
fn growth_ratios(points: &[Value]) -> Value {
    let (Some(small), Some(large)) = (points.first(), points.last()) else { return Value::Null };
    let f = |p: &Value, k: &str| p[k].as_f64().unwrap_or(0.0);
    let ratio = |k: &str| round2(f(large, k) / f(small, k).max(1e-9));
    let per_record = |p: &Value| f(p, "full_scan_seconds") / f(p, "records").max(1.0);
    json!({
        "records": ratio("records"),
        "first_delivery": ratio("first_delivery_ms"),
        "full_scan": ratio("full_scan_seconds"),
        "full_scan_per_record": round2(per_record(large) / per_record(small).max(1e-12)),
        "worker_peak_rss": ratio("worker_peak_rss_mb"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_compares_the_largest_log_with_the_smallest() {
        let point = |records: u64, first: f64, scan: f64, rss: f64| json!({"records": records, "first_delivery_ms": first, "full_scan_seconds": scan, "worker_peak_rss_mb": rss});
        let g = growth_ratios(&[point(1_000_000, 60.0, 1.0, 60.0), point(10_000_000, 66.0, 12.0, 63.0)]);
        assert_eq!(g["records"], 10.0);
        assert_eq!(g["first_delivery"], 1.1);
        assert_eq!(g["full_scan"], 12.0);
        assert_eq!(g["full_scan_per_record"], 1.2);
        assert_eq!(g["worker_peak_rss"], 1.05);
        assert_eq!(growth_ratios(&[]), Value::Null);
    }

    #[test]
    fn a_log_is_measured_on_disk_from_its_partition_directory() {
        let dir = std::env::temp_dir().join(format!("bench-growth-{}", std::process::id()));
        let partition = dir.join("t-0");
        std::fs::create_dir_all(&partition).unwrap();
        std::fs::write(partition.join("00.log"), [0u8; 1_000]).unwrap();
        std::fs::write(partition.join("00.index"), [0u8; 24]).unwrap();
        assert_eq!(bytes_on_disk(&dir, "t"), Some(1_024));
        assert_eq!(bytes_on_disk(&dir, "missing"), None);
        assert!(free_bytes(&dir).is_some_and(|b| b > 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
