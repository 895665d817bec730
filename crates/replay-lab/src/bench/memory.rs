//! 6. Memory: the worker process's peak RSS on one slice of the whole log.

use super::*;

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One slice over a whole log, through the stack (figures 6 and 10).
pub(super) struct WholeLogRun {
    pub(super) counters: Counters,
    /// From the create request to the job's end.
    pub(super) seconds: f64,
    /// The worker processes' peak RSS: they were started for this job.
    pub(super) peak_mb: f64,
}

impl Lab {
    /// Replays `rare` over the whole of `topic` in one slice on fresh worker
    /// processes, and checks it delivered `rare_expected` events.
    pub(super) async fn whole_log_through_stack(
        &self,
        bench: &BenchStack,
        topic: &str,
        rare_expected: usize,
    ) -> Result<WholeLogRun> {
        let Self { env, store, receiver, data, .. } = self;
        let worker = &bench.deployed.worker_function_name;
        // Fresh processes, so the peak is this slice's: the executor starts new
        // ones for the next invocations.
        for pid in stack::pids(env, worker).await? {
            stack::signal(pid, "KILL").await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut spec = bench.spec.clone();
        spec.parameter("DeliveryLogTopic", topic)
            .setting("SLICE_SECONDS", (data.log_to - data.log_from) / 1_000 + 86_400);
        let deployed = stack::deploy(env, &spec).await?;
        let started = Instant::now();
        let job = self.create_job_http(&deployed, &data.rare, data.log_from - 60_000, data.log_to + 1_000).await?;
        let counters = wait_for_end(store, &job, Duration::from_secs(1_800)).await?;
        let seconds = started.elapsed().as_secs_f64();
        check_delivered(receiver, "rare", "whole-log job", &job, &counters, rare_expected)?;
        let processes = stack::processes(env, worker).await?;
        let peak_kb = processes.iter().filter_map(|p| p.pid).filter_map(peak_rss_kb).max().context("no worker pid")?;
        Ok(WholeLogRun { counters, seconds, peak_mb: peak_kb as f64 / 1_024.0 })
    }

    pub(super) async fn measure_memory(&self, bench: &BenchStack, big: &KafkaConfig) -> Result<Value> {
        println!("==> 6. worker peak RSS: fresh worker processes, one slice over the whole log");
        let meter = CostMeter::start(self, bench).await?;
        let run = self.whole_log_through_stack(bench, &big.topic, self.data.rare_in_log).await?;
        let cost = meter.finish(self, bench, &run.counters).await?;
        let WholeLogRun { counters, seconds, peak_mb: mb } = run;
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
