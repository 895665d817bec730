//! Figure 11, the log's index: what the indexer costs per million records
//! (time, MySQL writes, stored bytes), and records read per event delivered
//! by a rare and a busy webhook's replay, with the index and without it, in
//! this process (docs/scale.md, "The log's index").

use super::*;
use replay_core::adapters::mysql::MySqlLogIndex;
use replay_core::ports::LogIndex;
use replay_core::services::indexer::{index_log, IndexBudget};

impl Lab {
    pub(super) async fn measure_index(&self, big: &KafkaConfig) -> Result<Value> {
        let Self { base, store, receiver, data, .. } = self;
        println!("==> 11. the log's index: the indexer's cost, and records read per event with and without it");
        let index = MySqlLogIndex::new(store.clone(), big.topic.clone());
        index.drop_partition(0).await?;
        let log = replay_core::adapters::kafka::KafkaLog::new(big.clone())?;
        let started = Instant::now();
        let (mut records, mut segments) = (0u64, 0u64);
        loop {
            let pass =
                index_log(&log, &index, IndexBudget::for_duration(u64::MAX / 4, Duration::from_secs(600))).await?;
            records += pass.records_indexed;
            segments += pass.segments_written;
            if pass.lag_records == 0 || pass.records_indexed == 0 {
                break;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let (rows, stored_bytes) = index.size().await?;
        let per_million = |x: f64| whole(x * 1_000_000.0 / (records.max(1) as f64));
        println!(
            "    indexed {records} records in {seconds:.2} s ({:.0}/s): {rows} rows, {stored_bytes} B",
            records as f64 / seconds
        );

        // One slice over each window: the whole log for `rare`, its last day for `hot`.
        let one_slice = base.with("SLICE_SECONDS", (self.opts.days + 1) * 86_400);
        let day_from = data.log_to - 24 * HOUR;
        let cases = [
            ("rare", &data.rare, data.log_from - 60_000, data.log_to + 1_000, data.rare_in_log),
            ("hot", &data.hot, day_from, data.log_to + 1_000, data.hot_between(day_from, data.log_to + 1_000).len()),
        ];
        let mut replays = Vec::new();
        for (hook, webhook, from, to, expected) in cases {
            for indexed in [false, true] {
                let env = one_slice.with("LOG_INDEX", indexed);
                let worker = WorkerContext::connect(&env.settings()?, &self.aws).await?;
                let api = self.api(&env).await?;
                let job = self.create_job(&api, webhook, from, to).await?;
                let handling = drain_in_process(self, &worker, &job).await?.handling;
                let c = wait_for_end(store, &job, Duration::from_secs(300)).await?;
                check_delivered(receiver, hook, "the index figure's job", &job, &c, expected)?;
                // Every record of these windows is in them: what was not skipped was read.
                let read = c.events_scanned - c.records_skipped;
                let per_event = read as f64 / c.events_delivered.max(1) as f64;
                println!(
                    "    {hook:<4} {}: {read:>9} records read for {:>7} events ({per_event:.1} per event), {} skipped, {} unindexed, {:.2} s",
                    if indexed { "indexed" } else { "full   " },
                    c.events_delivered,
                    c.records_skipped,
                    c.records_unindexed,
                    handling.as_secs_f64()
                );
                replays.push(json!({
                    "webhook": hook,
                    "index": indexed,
                    "events_delivered": c.events_delivered,
                    "records_in_window": c.events_scanned,
                    "records_read": read,
                    "records_skipped": c.records_skipped,
                    "records_unindexed": c.records_unindexed,
                    "records_read_per_event": round2(per_event),
                    "seconds": round2(handling.as_secs_f64()),
                }));
            }
        }
        // The figures after this one read the whole log, as they always have.
        index.drop_partition(0).await?;
        let factor = |hook: &str, indexed: bool| {
            replays
                .iter()
                .find(|r| r["webhook"] == hook && r["index"] == indexed)
                .map_or(Value::Null, |r| r["records_read_per_event"].clone())
        };
        Ok(json!({
            "indexer": {
                "records": records,
                "seconds": round2(seconds),
                "records_per_s": whole(records as f64 / seconds.max(1e-9)),
                "seconds_per_million": round2(seconds * 1_000_000.0 / records.max(1) as f64),
                "segments_written": segments,
                "mysql_writes_per_million": per_million(segments as f64),
                "rows": rows,
                "stored_bytes": stored_bytes,
                "stored_bytes_per_million": per_million(stored_bytes as f64),
                "block_records": replay_core::domain::log_index::BLOCK_RECORDS,
            },
            "replays": replays,
            "rare_records_per_event": {"full": factor("rare", false), "indexed": factor("rare", true)},
            "hot_records_per_event": {"full": factor("hot", false), "indexed": factor("hot", true)},
        }))
    }
}
