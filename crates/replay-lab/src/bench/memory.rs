//! 6. Memory: the worker process's peak RSS on one slice of the whole log.

use super::*;

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Lab {
    pub(super) async fn measure_memory(&self, bench: &BenchStack) -> Result<Value> {
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
