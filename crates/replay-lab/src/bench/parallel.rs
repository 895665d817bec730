//! Figure 4, parallel slices: one 24-hour replay with 1, 2, 4, 8 slices at
//! once, and the cores each kind of process used meanwhile.

use super::cpu::CpuSnapshot;
use super::*;

impl Lab {
    pub(super) async fn measure_parallel(&self, bench: &mut BenchStack) -> Result<Value> {
        let Self { opts, env, store, receiver, data, .. } = self;
        println!("==> 4. parallel slices: one 24-hour replay, {:?} slices at once", opts.parallel);
        let mut points = Vec::new();
        let mut first_seconds = None;
        for &k in &opts.parallel {
            bench.spec.parameter("MaxParallelSlices", k);
            bench.deployed = stack::deploy(env, &bench.spec).await?;
            let cpu_before = CpuSnapshot::take()?;
            let started = Instant::now();
            let job = self.create_job_http(&bench.deployed, &data.hot, data.hour_to - 24 * HOUR, data.hour_to).await?;
            let counters = wait_for_end(store, &job, Duration::from_secs(1_800)).await?;
            let seconds = started.elapsed().as_secs_f64();
            let cores = CpuSnapshot::take()?.cores_since(&cpu_before);
            check_delivered(receiver, "hot", "24-hour job", &job, &counters, data.hot_in_day)?;
            let t1 = *first_seconds.get_or_insert(seconds);
            println!(
                "    {k} at once: {seconds:>6.2} s, {:>7.0} events/s, speed-up {:.2}; cores used {cores}",
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
                "cores": cores,
            }));
        }
        Ok(Value::Array(points))
    }
}
