//! Figure 7, slow receivers: answers after a fixed 50 or 200 ms. One slice runs at
//! a time, so the job's in-flight bound is `DELIVERY_CONCURRENCY` requests
//! (its rate at most that many per answer time), and every gap between one
//! slice's last delivery and the next one's first is a handoff: the slice's
//! end in MySQL, the next one's message through SQS and the event source
//! mapping, a worker's start, the seek and the first read.

use super::*;
use crate::receiver::Faults;
use std::collections::{HashMap, HashSet};

/// Whole hours ending at `to` (one slice each, SLICE_SECONDS being an
/// hour): at least 3, so two handoffs, and more until the window holds
/// `wanted` events or `max_hours` is reached.
fn window_for(data: &Dataset, to: i64, wanted: usize, max_hours: i64) -> (i64, i64) {
    let mut hours = 3;
    while hours < max_hours && data.hot_between(to - hours * HOUR, to).len() < wanted {
        hours += 1;
    }
    (to - hours * HOUR, to)
}

/// The job's slices, as `from_ms` in time order.
async fn slice_starts(store: &MySqlStore, job: &JobId) -> Result<Vec<i64>> {
    let starts: Vec<i64> = sqlx::query_scalar("SELECT from_ms FROM replay_slices WHERE job_id = ? ORDER BY from_ms")
        .bind(job.as_str())
        .fetch_all(store.pool())
        .await?;
    Ok(starts)
}

/// What the receiver saw of one job, slice by slice. A slice is busy from
/// its first request's arrival to its last one's answer (`answer` after it).
#[derive(Debug, PartialEq)]
struct Handoffs {
    /// Events per second from the job's first arrival to its last answer.
    job_rate: f64,
    /// Events per second while a slice was busy (handoffs left out).
    in_slice_rate: f64,
    /// Milliseconds the receiver had nothing of the job in flight between a
    /// slice's last answer and the next slice's first arrival.
    idle_ms: Vec<f64>,
    /// The longest wait between two arrivals of one slice (a continuation,
    /// a stall), in milliseconds.
    longest_in_slice_ms: f64,
}

/// `arrivals` (instant, event id) split by the slice each event's first
/// record falls in (`first_seen`: id -> timestamp; `starts`: slices' starts).
/// A slice without events has no span: the handoff across it counts as one,
/// its run included (the bench's windows have events in every hour).
fn handoffs(
    arrivals: &[(Instant, String)],
    first_seen: &HashMap<&str, i64>,
    starts: &[i64],
    answer: Duration,
) -> Handoffs {
    let mut by_slice: BTreeMap<usize, Vec<Instant>> = BTreeMap::new();
    for (at, id) in arrivals {
        let ts = first_seen.get(id.as_str()).copied().unwrap_or_default();
        let slice = starts.partition_point(|&s| s <= ts).saturating_sub(1);
        by_slice.entry(slice).or_default().push(*at);
    }
    let mut spans: Vec<(Instant, Instant, usize)> = Vec::new();
    let mut longest = Duration::ZERO;
    for times in by_slice.values_mut() {
        times.sort();
        longest = times.windows(2).map(|w| w[1] - w[0]).fold(longest, Duration::max);
        spans.push((times[0], times[times.len() - 1] + answer, times.len()));
    }
    // In the order they ran (one at a time).
    spans.sort();
    let secs = |d: Duration| d.as_secs_f64();
    let idle_ms = spans.windows(2).map(|w| secs(w[1].0.saturating_duration_since(w[0].1)) * 1_000.0).collect();
    let in_slice: f64 = spans.iter().map(|(first, last, _)| secs(*last - *first)).sum();
    let job_span = match (spans.first(), spans.iter().map(|s| s.1).max()) {
        (Some(first), Some(end)) => secs(end - first.0),
        _ => 0.0,
    };
    Handoffs {
        job_rate: arrivals.len() as f64 / job_span.max(1e-9),
        in_slice_rate: arrivals.len() as f64 / in_slice.max(1e-9),
        idle_ms,
        longest_in_slice_ms: secs(longest) * 1_000.0,
    }
}

impl Lab {
    pub(super) async fn measure_slow_receivers(&self, bench: &mut BenchStack) -> Result<Value> {
        let Self { opts, env, base, store, receiver, data, .. } = self;
        let in_flight = base.settings()?.delivery.concurrency;
        println!(
            "==> 7. slow receivers: answers after {:?} ms, one slice at a time, {in_flight} requests in flight",
            opts.slow_receivers_ms
        );
        bench.spec.parameter("MaxParallelSlices", 1);
        bench.deployed = stack::deploy(env, &bench.spec).await?;
        let mut points = Vec::new();
        for &answer_ms in &opts.slow_receivers_ms {
            let bound = in_flight as f64 * 1_000.0 / answer_ms as f64;
            let wanted = (bound * opts.slow_seconds) as usize;
            let (from, to) = window_for(data, data.hour_to, wanted, opts.slow_max_hours);
            let expected = data.hot_between(from, to);
            receiver.set_faults(Faults { delay: Duration::from_millis(answer_ms), ..Faults::default() });
            let run = async {
                let job = self.create_job_http(&bench.deployed, &data.hot, from, to).await?;
                let counters = wait_for_end(store, &job, Duration::from_secs(1_800)).await?;
                anyhow::Ok((job, counters))
            }
            .await;
            receiver.set_faults(Faults::default());
            let (job, counters) = run?;
            let arrivals = receiver.timeline("hot", job.as_str());
            let got: HashSet<&str> = arrivals.iter().map(|(_, id)| id.as_str()).collect();
            let missing = expected.iter().filter(|(_, id)| !got.contains(id.as_str())).count();
            if counters.events_delivered as usize != expected.len() || arrivals.len() != expected.len() || missing > 0 {
                bail!(
                    "slow receiver ({answer_ms} ms): {} delivered, {} arrived, {} expected, {missing} missing",
                    counters.events_delivered,
                    arrivals.len(),
                    expected.len()
                );
            }
            let first_seen: HashMap<&str, i64> = expected.iter().map(|(ts, id)| (id.as_str(), *ts)).collect();
            let answer = Duration::from_millis(answer_ms);
            let starts = slice_starts(store, &job).await?;
            let h = handoffs(&arrivals, &first_seen, &starts, answer);
            let (p50, max) = (median(&h.idle_ms), h.idle_ms.iter().copied().fold(0.0, f64::max));
            println!(
                "    {answer_ms} ms: {} events in {} slices, {:.0} events/s ({:.2} of the bound {bound:.0}); \
                 {:.0}/s within slices; handoffs idle p50 {p50:.0} ms, max {max:.0} ms",
                expected.len(),
                starts.len(),
                h.job_rate,
                h.job_rate / bound,
                h.in_slice_rate,
            );
            points.push(json!({
                "answer_ms": answer_ms,
                "in_flight": in_flight,
                "bound_events_per_s": whole(bound),
                "events": expected.len(),
                "hours": (to - from) / HOUR,
                "events_per_s": whole(h.job_rate),
                "vs_bound": round2(h.job_rate / bound),
                "in_slice_events_per_s": whole(h.in_slice_rate),
                "in_slice_vs_bound": round2(h.in_slice_rate / bound),
                "handoffs": h.idle_ms.len(),
                "handoff_idle_ms_p50": whole(p50),
                "handoff_idle_ms_max": whole(max),
                "longest_gap_in_a_slice_ms": whole(h.longest_in_slice_ms),
                "target_vs_bound": 0.9,
                "met": h.job_rate / bound >= 0.9,
            }));
        }
        Ok(Value::Array(points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_split_by_slice_give_the_handoffs_and_both_rates() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Two slices starting at 0 and 100 (event time); each delivers 3
        // events 10 ms apart, answered after 100 ms: the first is busy from
        // 0 to 120 ms, the second from 520 to 640 ms.
        let arrivals: Vec<(Instant, String)> = [(0, "a"), (10, "b"), (20, "c"), (520, "d"), (530, "e"), (540, "f")]
            .iter()
            .map(|(at, id)| (ms(*at), id.to_string()))
            .collect();
        let first_seen: HashMap<&str, i64> =
            [("a", 5), ("b", 50), ("c", 99), ("d", 100), ("e", 150), ("f", 199)].into_iter().collect();
        let h = handoffs(&arrivals, &first_seen, &[0, 100], Duration::from_millis(100));
        assert_eq!(h.idle_ms.len(), 1);
        assert!((h.idle_ms[0] - 400.0).abs() < 1e-6, "{h:?}");
        assert!((h.in_slice_rate - 25.0).abs() < 1e-6, "6 events in 240 ms busy: {h:?}");
        assert!((h.job_rate - 6.0 / 0.64).abs() < 1e-6, "6 events in 640 ms: {h:?}");
        assert!((h.longest_in_slice_ms - 10.0).abs() < 1e-6, "{h:?}");
    }
}
