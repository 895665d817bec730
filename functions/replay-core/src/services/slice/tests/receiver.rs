//! Failures, retries, `Retry-After`, the circuit and its pauses.

use super::*;

#[tokio::test]
async fn failed_deliveries_are_counted_and_recorded() {
    let f = Fakes::new(sample_log());
    f.del.fail.lock().unwrap().push("c".into());
    let c = done(f.run(&cfg(), &spec(1000, 2000), "w1").await.unwrap());
    assert_eq!((c.events_delivered, c.delivery_failures), (3, 1));
    assert!(c.adds_up());
    let failures = f.prog.failures.lock().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].event_id, "c");
    assert_eq!(failures[0].last_status, Some(400));
}

#[tokio::test(start_paused = true)]
async fn retries_wait_their_retry_after_without_holding_up_other_events() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..6).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    // e0 is refused twice then taken; e1 three times: failing for 2 s by its
    // third attempt, past its budget of 1.5 s, it fails. Each refusal says
    // `Retry-After: 1`.
    f.del.flaky.lock().unwrap().extend([("e0".to_string(), 2), ("e1".to_string(), 3)]);
    let mut cfg = cfg();
    cfg.retry.max_attempts = 3;
    cfg.retry.budget = Duration::from_millis(1_500);
    cfg.circuit_break_after = 10;
    let counters = done(f.run(&cfg, &spec(1000, 2000), "w").await.unwrap());
    assert_eq!((counters.events_delivered, counters.delivery_failures), (5, 1), "{counters:?}");
    assert_eq!(*f.del.attempts.lock().unwrap(), 6 + 2 + 2, "e0 twice more, e1 twice more");
    let failures = f.prog.failures.lock().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].event_id.as_str(), failures[0].attempts, failures[0].last_status), ("e1", 3, Some(503)));
    // The others went out while e0 and e1 waited (their attempts held no slot).
    let ids = f.ids();
    let e0 = ids.iter().position(|id| id == "e0").unwrap();
    assert!(e0 >= 2, "e0 was delivered after later events: {ids:?}");
}

/// Issue 21: a `Retry-After` beyond `DELIVERY_RETRY_AFTER_MAX_MS` pauses the
/// slice instead of failing the event; the wait counts against the event's
/// retry budget, which the checkpoint carries into the next run.
#[tokio::test(start_paused = true)]
async fn a_long_retry_after_pauses_the_slice_and_the_budget_goes_on_across_runs() {
    for refusals in [2, 3] {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..6).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        let f = Fakes::new(log);
        f.del.flaky.lock().unwrap().insert("e2".to_string(), refusals);
        *f.del.flaky_retry_after.lock().unwrap() = Some(Duration::from_secs(600));
        let mut cfg = cfg();
        cfg.retry.budget = Duration::from_secs(900);
        cfg.retry.max_attempts = 3;
        let pause = f.run(&cfg, &spec(1000, 2000), "w").await.unwrap();
        assert!(matches!(pause, SliceOutcome::Paused { delay, .. } if delay == Duration::from_secs(600)), "{pause:?}");
        let key = spec(1000, 2000).checkpoint_key();
        let carried = f.cps.items.lock().unwrap()[&key].1.retries.clone();
        assert_eq!(carried.len(), 1, "e2's budget is in the checkpoint: {carried:?}");
        assert_eq!((carried[0].1.attempts, carried[0].1.failing_ms), (1, 600_000));
        // Failing for 600 s of a 900 s budget: asked to wait again, it pauses again.
        let pause = f.run(&cfg, &spec(1000, 2000), "w").await.unwrap();
        assert!(matches!(pause, SliceOutcome::Paused { .. }), "{pause:?}");
        let counters = done(f.run(&cfg, &spec(1000, 2000), "w").await.unwrap());
        let failures = f.prog.failures.lock().unwrap().clone();
        if refusals == 2 {
            // The third attempt is taken: nothing failed, nothing sent twice.
            assert_eq!((counters.events_delivered, counters.delivery_failures), (6, 0), "{counters:?}");
            assert_eq!(f.ids().iter().filter(|id| *id == "e2").count(), 1);
            assert!(failures.is_empty(), "{failures:?}");
        } else {
            // Failing for 1,200 s by its third attempt: past the budget.
            assert_eq!((counters.events_delivered, counters.delivery_failures), (5, 1), "{counters:?}");
            assert_eq!((failures[0].event_id.as_str(), failures[0].attempts), ("e2", 3));
            assert!(failures[0].error.contains("retry budget"), "{}", failures[0].error);
        }
        assert_eq!(f.ids().len(), 5 + usize::from(refusals == 2), "each other event once: {:?}", f.ids());
    }
}

#[tokio::test]
async fn a_down_receiver_pauses_the_slice_then_fails_the_rest_unsent() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..40).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 10;
    let f = Fakes::new(log);
    *f.del.down.lock().unwrap() = true;
    for pause in 1..=2 {
        let outcome = f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap();
        assert!(
            matches!(outcome, SliceOutcome::Paused { delay, .. } if delay == Duration::from_secs(5)),
            "pause {pause}: {outcome:?}"
        );
        assert_eq!(*f.del.attempts.lock().unwrap(), 3 * pause, "stops trying after 3 consecutive failures");
    }
    // After the last pause the receiver is tried once more (it may be back);
    // still down, the slice gives up: no attempt after that.
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!(*f.del.attempts.lock().unwrap(), 9, "no attempt after giving up");
    assert_eq!((counters.delivery_failures, counters.events_delivered, counters.events_matched), (40, 0, 40));
    assert_eq!(f.prog.failures.lock().unwrap().len(), 40, "every event accounted for");
}

#[tokio::test]
async fn a_slow_success_sent_before_the_outage_does_not_turn_it_into_failures() {
    // e0 was taken in before the receiver went down and answers 2xx after
    // e1 was refused: it says nothing about the receiver now, so e1 is not
    // failed by it and the circuit still opens on e1-e3.
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..10).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    *f.del.delay.lock().unwrap() = Duration::from_millis(40);
    f.del.taken_before_down.lock().unwrap().insert("e0".into(), Duration::from_millis(20));
    *f.del.down.lock().unwrap() = true;
    let outcome = f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Paused { .. }), "{outcome:?}");
    assert!(f.prog.failures.lock().unwrap().is_empty(), "{:?}", f.prog.failures.lock().unwrap());
    *f.del.down.lock().unwrap() = false;
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!((counters.events_delivered, counters.delivery_failures), (10, 0));
    assert!(counters.adds_up());
}

#[tokio::test]
async fn a_receiver_that_recovers_during_a_pause_gets_everything_once() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..40).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 10;
    let mut f = Fakes::new(log);
    f.concurrency = 4;
    let (c, s) = (cfg(), spec(1000, 2000));
    let first = f.run(&c, &s, "w");
    let outage = async {
        // Up for the first deliveries, then down until the pause.
        while f.ids().len() < 12 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        *f.del.down.lock().unwrap() = true;
    };
    let (outcome, ()) = tokio::join!(first, outage);
    assert!(matches!(outcome.unwrap(), SliceOutcome::Paused { .. }));
    *f.del.down.lock().unwrap() = false;
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!((counters.events_delivered, counters.delivery_failures), (40, 0));
    let all = f.ids();
    assert_eq!(all.len(), 40, "the circuit's pause repeats nothing: {}", all.len());
}

#[tokio::test]
async fn pauses_hours_apart_do_not_add_up_to_giving_up() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..90).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 5;
    let f = Fakes::new(log);
    let mut outages = 0;
    loop {
        let (c, s) = (cfg(), spec(1000, 2000));
        let run = f.run(&c, &s, "w");
        let outage = async {
            // A short outage after every 20 deliveries.
            let at = f.ids().len() + 20;
            while f.ids().len() < at.min(90) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if f.ids().len() < 90 {
                *f.del.down.lock().unwrap() = true;
            }
        };
        let (outcome, ()) = tokio::join!(run, outage);
        *f.del.down.lock().unwrap() = false;
        match outcome.unwrap() {
            SliceOutcome::Paused { .. } => outages += 1,
            SliceOutcome::Done { counters, .. } => {
                assert!(outages >= 3, "{outages} outages");
                assert_eq!((counters.events_delivered, counters.delivery_failures), (90, 0), "never gave up");
                return;
            }
            other => panic!("{other:?}"),
        }
    }
}

/// One request in flight against a receiver that is down and slow to say
/// so, with a backoff shorter than an answer: an event past its quick
/// attempts waits behind the others, so the circuit sees enough events to
/// open within seconds instead of the slice retrying its first event for
/// its whole retry budget.
#[tokio::test(start_paused = true)]
async fn a_struggling_event_lets_the_others_go_first_so_the_circuit_can_open() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..10).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let f = Fakes::new(log);
    *f.del.down.lock().unwrap() = true;
    *f.del.delay.lock().unwrap() = Duration::from_millis(200);
    let mut cfg = cfg();
    cfg.retry.max_attempts = 2;
    cfg.retry.budget = Duration::from_secs(600);
    cfg.circuit_break_after = 3;
    let started = tokio::time::Instant::now();
    let outcome = f.run(&cfg, &spec(1000, 2000), "w").await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Paused { .. }), "the circuit opened: {outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let started = f.del.started.lock().unwrap();
    let first: std::collections::BTreeSet<&str> = started.iter().take(6).map(|(id, _)| id.as_str()).collect();
    assert_eq!(first, ["e0", "e1", "e2"].into(), "three events tried in the first six attempts");
}
