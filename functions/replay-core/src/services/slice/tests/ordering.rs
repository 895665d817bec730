//! Ordered delivery per key (docs/guarantees.md, "Ordering per key").

use super::*;

/// An event whose payload names its account, the ordered job's key.
fn keyed(ts: i64, event_id: &str, account: &str) -> LogRecord {
    let value = serde_json::json!({
        "event_id": event_id, "webhook_id": WH, "event_type": "t",
        "created_at": "2026-11-20T10:00:00Z", "payload": {"account": account, "n": event_id}
    });
    LogRecord { timestamp: ts, key: Some(WH.as_bytes().to_vec()), value: Some(value.to_string().into_bytes()) }
}

fn ordered(from: i64, to: i64) -> SliceSpec {
    SliceSpec { ordering_key: Some("/account".into()), ..spec(from, to) }
}

/// Where each attempt of an event started, in the order attempts started.
fn starts(f: &Fakes, id: &str) -> Vec<usize> {
    let started = f.del.started.lock().unwrap();
    started.iter().enumerate().filter(|(_, (e, _))| e == id).map(|(i, _)| i).collect()
}

#[tokio::test(start_paused = true)]
async fn a_keys_events_wait_for_the_earlier_ones_while_other_keys_go_on() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = ["a", "b", "a", "b", "a", "b"]
        .iter()
        .enumerate()
        .map(|(i, account)| keyed(1000 + i as i64, &format!("e{i}"), account))
        .collect();
    let mut f = Fakes::new(log);
    f.concurrency = 4;
    // e0 (a) is refused twice before it is taken; e2 (a) fails for good.
    f.del.flaky.lock().unwrap().insert("e0".into(), 2);
    f.del.fail.lock().unwrap().push("e2".into());
    let mut cfg = cfg();
    cfg.retry.max_attempts = 3;
    cfg.retry.budget = Duration::from_secs(60);
    cfg.circuit_break_after = 10;
    let c = done(f.run(&cfg, &ordered(1000, 2000), "w").await.unwrap());
    assert_eq!((c.events_delivered, c.delivery_failures), (5, 1), "{c:?}");
    let (e0, e2, e4) = (starts(&f, "e0"), starts(&f, "e2"), starts(&f, "e4"));
    assert_eq!(e0.len(), 3, "e0 taken at its third attempt");
    assert!(e2[0] > e0[2], "e2 started only once e0 was delivered: {e0:?} {e2:?}");
    assert!(e4[0] > e2[0], "a failed event does not hold its key: {e2:?} {e4:?}");
    // Key b did not wait for a's retries.
    for id in ["e1", "e3", "e5"] {
        assert!(starts(&f, id)[0] < e0[1], "{id} waited for key a");
    }
}

/// An ordered slice whose window is full of one key's events behind one
/// that failed while the receiver looked down: nothing may start and
/// nothing more can be read. The slice pauses as an open circuit does and
/// tries the failure again after; a receiver back by then takes it and the
/// key goes on in order. One still refusing it after the circuit's pauses
/// fails it, and the key goes on without it.
#[tokio::test(start_paused = true)]
async fn a_key_held_behind_a_provisional_failure_pauses_then_goes_on() {
    for (refusals, delivered) in [(2, 6), (9, 5)] {
        let mut log = MemoryLog::new(1);
        // Another webhook's records first, so the watermark is known and the
        // events are not held for the skew margin; then read a record at a
        // time: the window fills before the scan ends.
        let others = (0..20).map(|i| event(1000, "wh_other", &format!("o{i}")));
        log.partitions[0] = others.chain((0..6).map(|i| keyed(1001 + i, &format!("e{i}"), "a"))).collect();
        log.batch_size = 1;
        let mut f = Fakes::new(log);
        f.concurrency = 4;
        // Each of e0's attempts gets a 503 until it has had `refusals`: a
        // provisional failure at once (no retry budget).
        f.del.flaky.lock().unwrap().insert("e0".into(), refusals);
        let mut cfg = cfg();
        cfg.delivery_window = 2;
        cfg.circuit_break_after = 10;
        let mut runs = Vec::new();
        let counters = loop {
            match f.run(&cfg, &ordered(1000, 2000), "w").await.unwrap() {
                SliceOutcome::Done { counters, .. } => break counters,
                other => runs.push(format!("{other:?}")),
            }
            assert!(runs.len() < 5, "{runs:?}");
        };
        assert_eq!(runs.len(), 2, "paused twice (CIRCUIT_MAX_PAUSES), then went on: {runs:?}");
        assert!(runs.iter().all(|r| r.starts_with("Paused")), "{runs:?}");
        assert_eq!(counters.events_delivered, delivered, "{counters:?}");
        assert_eq!(counters.delivery_failures, 6 - delivered, "{counters:?}");
        let expected: Vec<String> = (0..6).map(|i| format!("e{i}")).filter(|id| delivered == 6 || id != "e0").collect();
        assert_eq!(f.ids(), expected, "in log order");
        assert!(counters.adds_up());
    }
}

#[tokio::test(start_paused = true)]
async fn one_keys_events_go_one_at_a_time_only_when_ordered() {
    for (spec, most_at_once) in [(spec(1000, 2000), 4), (ordered(1000, 2000), 1)] {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..8).map(|i| keyed(1000 + i, &format!("e{i}"), "a")).collect();
        let mut f = Fakes::new(log);
        f.concurrency = 4;
        *f.del.delay.lock().unwrap() = Duration::from_millis(300);
        done(f.run(&cfg(), &spec, "w").await.unwrap());
        assert_eq!(*f.del.max_in_flight.lock().unwrap(), most_at_once, "{:?}", spec.ordering_key);
        if spec.ordering_key.is_some() {
            assert_eq!(f.ids(), (0..8).map(|i| format!("e{i}")).collect::<Vec<_>>());
        }
    }
}
