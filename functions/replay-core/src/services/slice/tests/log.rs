//! The log's shapes: skew, broken clocks, retention, partitions, old checkpoints, duplicates.

use super::*;

#[tokio::test]
async fn skewed_producers_at_the_edges_give_exactly_the_windows_events() {
    // Three producers 0, 2 and 5 s behind, interleaved; the window is [100 s, 200 s).
    let mut log = MemoryLog::new(1);
    let mut expected = HashSet::new();
    for i in 0..600i64 {
        let lag = [0, 2_000, 5_000][(i % 3) as usize];
        let ts = 90_000 + i * 200 - lag;
        let id = format!("e{i}");
        if (100_000..200_000).contains(&ts) {
            expected.insert(id.clone());
        }
        log.partitions[0].push(event(ts, WH, &id));
    }
    // One event logged by two data centres 3 s apart, on both sides of `from`:
    // the later copy sits earlier in the log.
    let pos = log.partitions[0].iter().position(|r| r.timestamp >= 100_500).unwrap();
    log.partitions[0].insert(pos, event(100_500, WH, "both-sides"));
    log.partitions[0].insert(pos + 20, event(99_800, WH, "both-sides"));
    let mut f = Fakes::new(log);
    f.concurrency = 8;
    let mut c = cfg();
    c.skew_ms = 6_000;
    c.dedup_lookback_ms = 30_000;
    let counters = done(f.run(&c, &spec(100_000, 200_000), "w").await.unwrap());
    let got: HashSet<String> = f.ids().into_iter().collect();
    assert_eq!(got, expected, "the copy from before `from` makes both-sides the previous slice's");
    assert_eq!(counters.events_delivered as usize, expected.len());
    assert_eq!(counters.duplicates_skipped, 1);
    assert!(counters.adds_up());
}

#[tokio::test]
async fn a_record_two_hours_in_the_future_neither_ends_the_window_nor_evicts_the_dedup_set() {
    let mut log = MemoryLog::new(1);
    let mut expected = HashSet::new();
    for i in 0..300i64 {
        let id = format!("e{i}");
        log.partitions[0].push(event(100_000 + i * 100, WH, &id));
        if (100_000..120_000).contains(&(100_000 + i * 100)) {
            expected.insert(id);
        }
        if i == 50 {
            // A broken clock: 2 hours ahead.
            log.partitions[0].push(event(100_000 + 50 * 100 + 7_200_000, WH, "future"));
        }
        if i == 120 {
            // A copy of e60 a few seconds later: still a duplicate.
            log.partitions[0].push(event(112_100, WH, "e60"));
        }
    }
    let f = Fakes::new(log);
    let mut c = cfg();
    c.dedup_lookback_ms = 60_000;
    c.anomaly_ms = 600_000;
    let counters = done(f.run(&c, &spec(100_000, 120_000), "w").await.unwrap());
    let got: HashSet<String> = f.ids().into_iter().collect();
    assert_eq!(got, expected, "every event of the window, the future one not among them");
    assert_eq!(counters.duplicates_skipped, 1, "the copy of e60 was caught");
    assert_eq!(counters.clock_anomalies, 1, "the broken clock was noticed");
}

#[tokio::test]
async fn records_deleted_by_retention_are_counted_never_skipped_silently() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.delete_before(0, 20);
    let f = Fakes::new(log);
    let mut s = spec(1000, 2000);
    // When the job was created the window started at offset 0.
    s.planned = vec![(0, 0, 50)];
    let counters = done(f.run(&cfg(), &s, "w").await.unwrap());
    assert_eq!(counters.records_expired, 20);
    assert_eq!(counters.events_delivered, 30);
    assert_eq!(f.ids().first().map(String::as_str), Some("e20"));
}

/// Issue 21 item 6: out of range above the log's end reopened the scan at
/// the same offset, without backoff, forever.
#[tokio::test]
async fn a_log_cut_below_the_range_counts_the_rest_as_deleted_and_ends() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    *f.del.delay.lock().unwrap() = Duration::from_millis(50);
    let mut c = cfg();
    c.deadline_margin = Duration::from_millis(100);
    c.retry.request_timeout = Duration::from_millis(100);
    let soon = Instant::now() + Duration::from_millis(400);
    let outcome = run_slice(&f.ports(), &c, &spec(1000, 2000), "w1", soon).await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
    let first = f.ids().len() as u64;
    assert!(first > 0 && first < 50, "{first}");
    // Then the topic is recreated: its log ends below where the slice stands.
    f.log.cut_at.store(0, std::sync::atomic::Ordering::SeqCst);
    *f.del.delay.lock().unwrap() = Duration::ZERO;
    let s = spec(1000, 2000);
    let run = f.run(&c, &s, "w2");
    let counters = done(tokio::time::timeout(Duration::from_secs(20), run).await.expect("the slice ends").unwrap());
    assert_eq!((counters.events_delivered, counters.records_expired), (first, 50 - first), "{counters:?}");
    assert!(counters.adds_up(), "{counters:?}");
}

/// Issue 21 item 4: a resumed slice rebuilding its dedup set from records
/// retention had deleted counted records it had delivered as deleted.
#[tokio::test]
async fn retention_under_a_resumed_slices_look_back_loses_nothing() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    *f.del.delay.lock().unwrap() = Duration::from_millis(50);
    let mut c = cfg();
    c.deadline_margin = Duration::from_millis(100);
    c.retry.request_timeout = Duration::from_millis(100);
    let soon = Instant::now() + Duration::from_millis(400);
    let outcome = run_slice(&f.ports(), &c, &spec(1000, 2000), "w1", soon).await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
    let first = f.ids().len() as i64;
    // Retention deletes what the first run delivered, which the next reads to rebuild its set.
    f.log.delete_before(0, first);
    *f.del.delay.lock().unwrap() = Duration::ZERO;
    let counters = done(f.run(&c, &spec(1000, 2000), "w2").await.unwrap());
    assert_eq!((counters.events_delivered, counters.records_expired), (50, 0), "{counters:?}");
}

#[tokio::test]
async fn a_slice_over_two_partitions_delivers_each_event_once() {
    let mut log = MemoryLog::new(2);
    log.partitions[0] = (0..20).map(|i| event(1000 + i * 10, WH, &format!("old{i}"))).collect();
    log.partitions[1] = (0..20).map(|i| event(1200 + i * 10, WH, &format!("new{i}"))).collect();
    // A retry logged after the change, on the new partition.
    log.partitions[1].insert(0, event(1195, WH, "old19"));
    let f = Fakes::new(log);
    let mut s = spec(1000, 2000);
    s.partitions = vec![0, 1];
    let counters = done(f.run(&cfg(), &s, "w").await.unwrap());
    let all = f.ids();
    assert_eq!(all.len(), 40);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 40);
    assert_eq!(counters.duplicates_skipped, 1);
}

#[tokio::test]
async fn a_version_1_checkpoint_resumes_with_nothing_lost_or_repeated() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..30).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.partitions[0].push(event(1040, WH, "e5"));
    let f = Fakes::new(log);
    // What a previous release saved after delivering e0..e9: position 10, its dedup set.
    let mut legacy = Vec::new();
    for i in 0..10 {
        legacy.extend_from_slice(&event_hash(&format!("e{i}")).to_le_bytes());
        legacy.extend_from_slice(&(1000i64 + i).to_le_bytes());
    }
    let v1 = Checkpoint {
        version: 1,
        ranges: vec![PartitionRange { partition: u32::MAX, scan_from: 0, end: -1 }],
        position: Position { partition: 0, offset: 10 },
        counters: Counters { events_scanned: 10, events_matched: 10, events_delivered: 10, ..Counters::default() },
        legacy_dedup: legacy,
        ..Checkpoint::default()
    };
    f.cps.items.lock().unwrap().insert(spec(1000, 2000).checkpoint_key(), (None, v1));
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    let all = f.ids();
    assert_eq!(all, (10..30).map(|i| format!("e{i}")).collect::<Vec<_>>(), "the rest, once");
    assert_eq!(counters.events_delivered, 30);
    assert_eq!(counters.duplicates_skipped, 1, "e5's copy, caught by the old format's set");
    let saved = f.cps.items.lock().unwrap()[&spec(1000, 2000).checkpoint_key()].1.clone();
    assert_eq!(saved.version, 2, "written back in the current format");
}

#[tokio::test]
async fn empty_and_past_the_end_windows_complete() {
    let f = Fakes::new(sample_log());
    assert_eq!(done(f.run(&cfg(), &spec(5000, 6000), "w1").await.unwrap()), Counters::default());
    let mut s = spec(1100, 1400);
    s.slice_index = 1;
    assert_eq!(done(f.run(&cfg(), &s, "w1").await.unwrap()), Counters::default());
    assert!(f.ids().is_empty());
}

#[tokio::test]
async fn the_window_holds_the_in_flight_cap() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..300).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 300;
    let mut f = Fakes::new(log);
    f.concurrency = 16;
    *f.del.delay.lock().unwrap() = Duration::from_millis(5);
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!(counters.events_delivered, 300);
    let max = *f.del.max_in_flight.lock().unwrap();
    assert!((8..=16).contains(&max), "{max} in flight at most");
}

#[tokio::test]
async fn a_copy_from_the_look_back_is_a_duplicate_with_a_real_skew_margin() {
    let m = 60_000;
    let from = 10 * 60 * m;
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![
        event(from - 20 * m, WH, "too-early"),
        event(from - 3 * m, WH, "straddles-from"),
        event(from - 1, WH, "edge-before-from"),
        event(from, WH, "at-from-1"),
        event(from, WH, "at-from-2"),
        event(from, "wh_other", "x"),
        event(from, WH, "at-from-3"),
        event(from + 2 * m, WH, "straddles-from"),
        event(from + 5 * m, WH, "in-slice"),
        event(from + 6 * m, WH, "in-slice"),
    ];
    // The log goes quiet, then moves on two hours later: the watermark jumps.
    for i in 0..20 {
        log.partitions[0].push(event(from + 120 * m + i, "wh_other", &format!("later{i}")));
    }
    // Read in one go: the other webhook's records arrive as one run.
    log.batch_size = 100;
    let f = Fakes::new(log);
    let mut c = cfg();
    c.dedup_lookback_ms = 10 * m;
    c.skew_ms = 10_000;
    let counters = done(f.run(&c, &spec(from, from + 60 * m), "w").await.unwrap());
    assert_eq!(f.ids(), vec!["at-from-1", "at-from-2", "at-from-3", "in-slice"]);
    assert_eq!(counters.duplicates_skipped, 2);
}
