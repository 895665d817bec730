//! Selections: event types, event ids, failed only, dry runs, unusable ids.

use super::*;

fn typed(ts: i64, event_id: &str, event_type: &str, outcome: Option<&str>) -> LogRecord {
    let mut value = serde_json::json!({
        "event_id": event_id, "webhook_id": WH, "event_type": event_type,
        "created_at": "2026-11-20T10:00:00Z", "payload": {"n": event_id}
    });
    if let Some(status) = outcome {
        value["delivery"] = serde_json::json!({"status": status, "http_status": 503});
    }
    LogRecord { timestamp: ts, key: Some(WH.as_bytes().to_vec()), value: Some(value.to_string().into_bytes()) }
}

fn filtered(f: impl FnOnce(&mut crate::domain::filter::EventFilter)) -> SliceSpec {
    let mut s = spec(1000, 2000);
    f(&mut s.filter);
    s
}

#[tokio::test]
async fn an_event_type_filter_delivers_only_those_types_and_counts_the_rest() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![
        typed(1000, "a", "like", None),
        typed(1100, "b", "tweet", None),
        typed(1150, "b", "tweet", None), // a copy of a filtered event: filtered too
        typed(1200, "c", "like", None),
        typed(1250, "c", "like", None), // a duplicate of a selected one
    ];
    let f = Fakes::new(log);
    let s = filtered(|f| f.event_types = Some(["like".to_owned()].into()));
    let c = done(f.run(&cfg(), &s, "w").await.unwrap());
    assert_eq!(f.ids(), vec!["a", "c"]);
    assert_eq!((c.events_matched, c.events_delivered, c.events_filtered, c.duplicates_skipped), (5, 2, 2, 1));
    assert!(c.adds_up(), "{c:?}");
}

#[tokio::test]
async fn an_event_id_selection_records_what_it_found() {
    let f = Fakes::new(sample_log());
    let s = filtered(|f| f.event_ids = Some(["b".to_owned(), "d".to_owned(), "nowhere".to_owned()].into()));
    let c = done(f.run(&cfg(), &s, "w").await.unwrap());
    assert_eq!(f.ids(), vec!["b", "d"]);
    assert_eq!(c.events_filtered, 4, "a, its copy, c and the straddling copy: {c:?}");
    assert!(c.adds_up());
    let found: Vec<String> = f.prog.found.lock().unwrap().iter().cloned().collect();
    assert_eq!(found, vec!["b", "d"]);
}

#[tokio::test]
async fn failed_only_needs_a_failed_copy_and_no_succeeded_one_even_after_the_window() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![
        typed(1000, "failed-twice", "t", Some("failed")),
        typed(1100, "no-outcome", "t", None),
        typed(1500, "failed-then-ok", "t", Some("failed")),
        typed(1600, "ok", "t", Some("succeeded")),
        typed(1950, "failed-twice", "t", Some("failed")),
        // After the window's end, within the look-back of its first copy.
        typed(1960, "ignored", "t", Some("failed")),
        typed(2050, "failed-then-ok", "t", Some("succeeded")),
    ];
    let mut config = cfg();
    config.dedup_lookback_ms = 1_000;
    let f = Fakes::new(log);
    let s = filtered(|f| f.only_failed = true);
    let c = done(f.run(&config, &s, "w").await.unwrap());
    assert_eq!(f.ids(), vec!["failed-twice", "ignored"], "{c:?}");
    assert_eq!(c.duplicates_skipped, 1, "the second copy of failed-twice");
    assert_eq!((c.events_filtered, c.events_without_outcome), (3, 1), "{c:?}");
    assert!(c.adds_up(), "{c:?}");
}

#[tokio::test]
async fn a_dry_run_delivers_nothing_and_counts_what_it_would() {
    let f = Fakes::new(sample_log());
    let s = filtered(|f| f.dry_run = true);
    let outcome = f.run(&cfg(), &s, "w").await.unwrap();
    let SliceOutcome::Done { counters: c, tally, .. } = outcome else { panic!("{outcome:?}") };
    assert!(f.ids().is_empty(), "nothing sent");
    let real = Fakes::new(sample_log());
    let r = done(real.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!(c.events_selected, r.events_delivered);
    assert_eq!(
        (c.events_matched, c.duplicates_skipped, c.malformed),
        (r.events_matched, r.duplicates_skipped, r.malformed)
    );
    assert!(c.adds_up(), "{c:?}");
    assert_eq!(tally.by_event_type.get("t"), Some(&4));
    assert!(tally.payload_bytes > 0);
}

#[tokio::test]
async fn an_unusable_id_is_a_lost_event_only_if_the_selection_would_have_chosen_it() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![event(1000, WH, "fine"), event(1001, WH, "bad\nid"), event(1002, WH, "fine-too")];
    let f = Fakes::new(log);
    let c = done(f.run(&cfg(), &spec(1000, 2000), "w1").await.unwrap());
    assert_eq!((c.malformed, c.unusable_ids, c.events_delivered), (1, 1, 2), "{c:?}");
    // A job of other types, or of listed ids, would not have replayed it.
    for (name, s) in [
        ("types", filtered(|f| f.event_types = Some(["other".to_owned()].into()))),
        ("ids", filtered(|f| f.event_ids = Some(["fine".to_owned()].into()))),
    ] {
        let f = Fakes::new({
            let mut log = MemoryLog::new(1);
            log.partitions[0] = vec![event(1000, WH, "fine"), event(1001, WH, "bad\nid")];
            log
        });
        let c = done(f.run(&cfg(), &s, "w1").await.unwrap());
        assert_eq!((c.malformed, c.unusable_ids), (1, 0), "{name}: {c:?}");
    }
}
