//! 3. Seek independence: time to first delivery of the last hour, 5-day log vs 1-hour log.

use super::*;

impl Lab {
    pub(super) async fn measure_seek(&self, hour: &KafkaConfig) -> Result<Value> {
        let Self { opts, base, aws, data, .. } = self;
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
                let (from_request, from_pickup) = self.first_delivery_in_process(api, worker, expected).await?;
                out.push(from_request);
                out_worker.push(from_pickup);
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

    /// Replays `hot`'s last hour in this process; it must deliver `expected`
    /// events. Milliseconds to its first delivery from the create request,
    /// and from the worker's pickup of its first message.
    pub(super) async fn first_delivery_in_process(
        &self,
        api: &ApiContext,
        worker: &WorkerContext,
        expected: usize,
    ) -> Result<(f64, f64)> {
        let Self { store, receiver, data, .. } = self;
        let started = Instant::now();
        let job = self.create_job(api, &data.hot, data.hour_from, data.hour_to).await?;
        let handled = drain_in_process(self, worker, &job).await?;
        let counters = wait_for_end(store, &job, Duration::from_secs(60)).await?;
        check_delivered(receiver, "hot", "last-hour job", &job, &counters, expected)?;
        let first = receiver.arrivals("hot", job.as_str()).context("no delivery arrived")?.first;
        let pickup = handled.first_pickup.context("no message was handled")?;
        Ok((
            first.duration_since(started).as_secs_f64() * 1_000.0,
            first.duration_since(pickup).as_secs_f64() * 1_000.0,
        ))
    }
}
