//! Replay control through the deployed stack (docs/api.md, "Pause and
//! resume"): a job paused mid-run against a receiver taking hundreds of ms,
//! with several slices in parallel, stops delivering once its slices are
//! parked; resumed after every worker process was killed, it delivers each
//! event once. A pause left past its expiry ends the job INCOMPLETE, with a
//! status event that says so; an ended job can be neither paused nor resumed.

use replay_integration_tests::replay_client::{
    CreateReplayRequest, ErrorCode, JobState, PauseRequest, PausedBy, StatusWord,
};
use replay_integration_tests::replay_lab::receiver::Faults;
use replay_integration_tests::replay_lab::stack::signal;
use replay_integration_tests::scenario::{keyed_scenario, scenario};
use replay_integration_tests::*;
use std::time::Duration;

#[tokio::test]
async fn a_paused_job_resumes_after_every_worker_restarted_and_delivers_each_event_once() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("HEARTBEAT_EVERY_MS", "500"),
            ("CHECKPOINT_EVERY_EVENTS", "500"),
            ("CHECKPOINT_EVERY_MS", "60000"),
            ("DELIVERY_CONCURRENCY", "4"),
            ("MAX_PARALLEL_SLICES", "3"),
            ("SLICE_SECONDS", "1200"),
        ],
        1_200,
        1,
    )
    .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(400),
        ..Faults::default()
    });
    let job = s.start().await?;
    eventually(Duration::from_secs(90), "60 deliveries", async || s.receiver.unique("me") >= 60).await?;

    let request = PauseRequest { reason: Some("receiver maintenance".into()), expires_in_seconds: None };
    let paused = s.api.pause(&job, &request).await?;
    assert_eq!(paused.state, JobState::Paused, "{paused:?}");
    let pause = paused.pause.clone().expect("the pause is shown");
    assert_eq!(pause.reason.as_deref(), Some("receiver maintenance"));
    assert!(pause.resumed_at.is_none(), "{pause:?}");
    // Pausing twice changes nothing.
    assert_eq!(s.api.pause(&job, &PauseRequest::default()).await?.pause, Some(pause));

    // Running slices stop at their next commit and are parked; claims are
    // given back. From then on nothing reaches the receiver.
    eventually(Duration::from_secs(60), "every slice parked", async || s.busy_slices(&job).await.is_ok_and(|n| n == 0))
        .await?;
    let requests_when_parked = s.receiver.stats("me").requests;
    let delivered_when_parked = s.receiver.unique("me");
    assert!(delivered_when_parked < s.expected.len(), "the pause landed before the end");
    // Every worker process dies while the job is paused.
    for pid in s.stack.worker_pids().await? {
        signal(pid, "KILL").await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.receiver.stats("me").requests, requests_when_parked, "nothing is sent while paused");
    assert_eq!(s.job(&job).await?.state, JobState::Paused, "the sweeper neither restarts nor fails it");

    // Resumed with replayctl, as a user would.
    let args = ["replay", "resume", job.as_str(), "--api-url", &s.stack.deployed().api_url, "--api-key", &s.api_key];
    let resumed = s.stack.replayctl(&args).await?;
    assert_ne!(resumed["state"], "PAUSED", "{resumed}");
    let done = s.wait_for_end(&job, Duration::from_secs(180)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert!(done.pause.as_ref().is_some_and(|p| p.resumed_at.is_some()), "{done:?}");
    let stats = s.receiver.stats("me");
    assert_eq!(s.received(), s.expected, "nothing lost");
    // A pause commits exactly what was settled: nothing is sent twice.
    assert_eq!(stats.repeats(), 0, "repeats after a pause and resume");
    assert_eq!(done.progress.counters.events_delivered, s.expected.len() as u64, "{done:?}");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_pause_past_its_expiry_ends_the_job_incomplete() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("HEARTBEAT_EVERY_MS", "500"),
            ("DELIVERY_CONCURRENCY", "2"),
            ("MAX_PARALLEL_SLICES", "2"),
            ("SLICE_SECONDS", "1200"),
            ("MAX_PAUSE_SECONDS", "3600"),
        ],
        600,
        1,
    )
    .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(200),
        delay_max: Duration::from_millis(500),
        ..Faults::default()
    });
    let job = s.start().await?;
    // Bad requests are refused with a stable code, and change nothing.
    for bad in [0, 3_601] {
        let request = PauseRequest { reason: None, expires_in_seconds: Some(bad) };
        let refused = s.api.pause(&job, &request).await.expect_err("out of bounds");
        assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest), "{refused:?}");
    }
    eventually(Duration::from_secs(90), "20 deliveries", async || s.receiver.unique("me") >= 20).await?;
    let request = PauseRequest { reason: Some("moving servers".into()), expires_in_seconds: Some(2) };
    assert_eq!(s.api.pause(&job, &request).await?.state, JobState::Paused);

    let ended = s.wait_for_end(&job, Duration::from_secs(90)).await?;
    assert_eq!(ended.state, JobState::Incomplete, "{ended:?}");
    let reason = ended.state_reason.clone().unwrap_or_default();
    assert!(reason.contains("not resumed before the pause expired") && reason.contains("moving servers"), "{reason}");
    assert!(s.received().len() < s.expected.len(), "the rest was never sent");
    eventually(Duration::from_secs(30), "the status event", async || !s.receiver.stats("me").status_events.is_empty())
        .await?;
    let status = s.receiver.stats("me").status_events[0].replay_job_status.clone();
    assert_eq!(status.job_state, StatusWord::Incomplete);
    assert!(status.job_state_description.contains("pause expired"), "{status:?}");
    assert_eq!(status.pause.and_then(|p| p.reason).as_deref(), Some("moving servers"));

    for refused in [s.api.pause(&job, &PauseRequest::default()).await, s.api.resume(&job).await] {
        let e = refused.expect_err("an ended job");
        assert_eq!(e.code(), Some(ErrorCode::JobEnded), "{e:?}");
    }
    // The webhook was let go: a new job may start.
    s.start().await?;
    s.stack.cleanup().await;
    Ok(())
}

/// Delivery control (docs/api.md, "Delivery control"): a receiver stops an
/// event's retries with `webhook-delivery: abort-message` (it fails after
/// that one attempt, with the receiver's reason), and pauses the job with
/// `webhook-delivery: pause`; resumed, the job delivers the event it
/// paused on and every other, once.
#[tokio::test]
async fn a_receiver_aborts_events_and_pauses_the_job_with_its_answers() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("HEARTBEAT_EVERY_MS", "500"),
            ("DELIVERY_CONCURRENCY", "4"),
            ("MAX_PARALLEL_SLICES", "2"),
            ("SLICE_SECONDS", "1800"),
        ],
        600,
        1,
    )
    .await?;
    let ours: Vec<String> = {
        let mut ids: Vec<String> = s.expected.iter().cloned().collect();
        ids.sort_by_key(|id| id.trim_start_matches("ev-").parse::<u64>().unwrap_or_default());
        ids
    };
    let aborted: std::collections::HashSet<String> = ours.iter().step_by(37).cloned().collect();
    let pause_on = ours[ours.len() / 3].clone();
    s.receiver.set_faults(Faults {
        abort: aborted.clone(),
        pause_on: [pause_on.clone()].into(),
        status_500: 0.03,
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    let job = s.start().await?;
    eventually(Duration::from_secs(120), "the receiver's pause", async || {
        s.job(&job).await.is_ok_and(|j| j.state == JobState::Paused)
    })
    .await?;
    let paused = s.job(&job).await?;
    let pause = paused.pause.clone().expect("the pause is shown");
    assert_eq!(pause.paused_by, PausedBy::Receiver, "{pause:?}");
    assert_eq!(pause.reason.as_deref(), Some("deploying"), "{pause:?}");
    assert!(!s.received().contains(&pause_on), "the event it paused on waits for the resume");
    eventually(Duration::from_secs(60), "every slice parked", async || s.busy_slices(&job).await.is_ok_and(|n| n == 0))
        .await?;

    s.api.resume(&job).await?;
    let done = s.wait_for_end(&job, Duration::from_secs(180)).await?;
    assert_eq!(done.state, JobState::Incomplete, "the aborted events failed: {done:?}");
    assert_eq!(done.progress.counters.delivery_failures, aborted.len() as u64, "{done:?}");
    let expected_delivered: std::collections::HashSet<String> = s.expected.difference(&aborted).cloned().collect();
    assert_eq!(s.received(), expected_delivered, "the rest delivered, the paused one too");
    assert_eq!(s.receiver.stats("me").repeats(), 0, "nothing sent twice");
    let failures = s.api.all_failures(&job).await?;
    assert_eq!(failures.iter().map(|f| f.event_id.clone()).collect::<std::collections::HashSet<_>>(), aborted);
    for f in &failures {
        assert_eq!((f.attempts, f.last_status), (1, Some(503)), "{f:?}");
        assert!(f.last_error.contains("abort-message") && f.last_error.contains("unknown account"), "{f:?}");
    }
    s.stack.cleanup().await;
    Ok(())
}

/// Another target (docs/api.md, "Another target"): the replay of one
/// webhook's window goes to another webhook of the tenant, signed with the
/// target's secret (its receiver verifies with that key alone), each
/// request naming the source; the status event goes there too. Both
/// webhooks are held while it runs.
#[tokio::test]
async fn a_replay_to_another_target_is_signed_with_the_targets_secret() -> anyhow::Result<()> {
    let s = scenario(&[("DELIVERY_CONCURRENCY", "4"), ("MAX_PARALLEL_SLICES", "2"), ("SLICE_SECONDS", "1800")], 400, 1)
        .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    let staging = webhook_to(&s.api, &s.receiver, "staging").await?;
    let request = CreateReplayRequest { target_webhook_id: Some(staging.clone()), ..window(s.from, s.to) };
    let job = s.api.start_replay(&s.webhook, &request).await?.job_id;
    // Both are held: neither may start another job meanwhile.
    for (webhook, target) in [(&staging, None), (&s.webhook, None)] {
        let again = CreateReplayRequest { target_webhook_id: target, ..window(s.from, s.to) };
        let refused = s.api.start_replay(webhook, &again).await.expect_err("held");
        assert_eq!(refused.code(), Some(ErrorCode::JobAlreadyRunning), "{refused:?}");
    }
    let done = s.wait_for_end(&job, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(done.target_webhook_id.as_ref(), Some(&staging), "{done:?}");
    let (to_staging, to_source) = (s.receiver.stats("staging"), s.receiver.stats("me"));
    assert_eq!(to_staging.received(), s.expected, "every event went to the target");
    assert_eq!(to_staging.signature_failures, 0, "each verifies with the target's secret");
    assert_eq!(to_staging.repeats(), 0);
    assert_eq!(to_source.requests, 0, "nothing went to the source");
    eventually(Duration::from_secs(30), "the status event", async || {
        !s.receiver.stats("staging").status_events.is_empty()
    })
    .await?;
    let events_and_status = s.expected.len() as u64 + 1;
    let named = s.receiver.stats("staging").source_webhook_ids.get(s.webhook.as_str()).copied();
    assert_eq!(named, Some(events_and_status), "every request names its source");
    // A webhook of another tenant, or none, is no target.
    let missing = CreateReplayRequest { target_webhook_id: Some("wh_nowhere".into()), ..window(s.from, s.to) };
    let refused = s.api.start_replay(&s.webhook, &missing).await.expect_err("no such target");
    assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest), "{refused:?}");
    s.stack.cleanup().await;
    Ok(())
}

/// A receiver check (docs/api.md, "A receiver check"): with `crc_check`, a
/// job first GETs its URL with a `crc_token` and goes on only when the
/// answer is the token's HMAC-SHA256 under the signing secret. A wrong
/// answer ends the job FAILED with nothing sent, its reason free of the
/// URL's query (the receiver's token may live there); a right one delivers.
#[tokio::test]
async fn a_failed_receiver_check_sends_nothing_and_a_passed_one_delivers() -> anyhow::Result<()> {
    let s = scenario(&[("DELIVERY_CONCURRENCY", "4"), ("MAX_PARALLEL_SLICES", "2"), ("SLICE_SECONDS", "1800")], 300, 1)
        .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(300),
        crc_wrong: true,
        ..Faults::default()
    });
    // A target whose URL carries the receiver's token in its query.
    let guarded_url = format!("{}?token=s3cr3t-in-the-query", s.receiver.url("guarded"));
    let guarded = s.api.create_webhook(&guarded_url).await?;
    s.receiver.register("guarded", guarded.secret.as_deref().expect("a made secret"));
    let checked =
        CreateReplayRequest { crc_check: true, target_webhook_id: Some(guarded.id.clone()), ..window(s.from, s.to) };
    let job = s.api.start_replay(&s.webhook, &checked).await?.job_id;
    let failed = s.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(failed.state, JobState::Failed, "{failed:?}");
    let reason = failed.state_reason.clone().unwrap_or_default();
    assert!(reason.contains("receiver check (CRC) failed") && reason.contains("response_token"), "{reason}");
    assert!(!reason.contains("s3cr3t"), "the URL's query stays out of the reason: {reason}");
    let stats = s.receiver.stats("guarded");
    assert!(stats.crc_checks >= 1, "the receiver was asked");
    assert!(stats.received().is_empty(), "nothing was sent");
    assert!(failed.crc_check, "{failed:?}");

    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    let checked = CreateReplayRequest { crc_check: true, ..window(s.from, s.to) };
    let job = s.api.start_replay(&s.webhook, &checked).await?.job_id;
    let done = s.wait_for_end(&job, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(s.received(), s.expected);
    assert!(s.receiver.stats("me").crc_checks >= 1, "checked before delivering");
    s.stack.cleanup().await;
    Ok(())
}

/// A job's own limits (docs/api.md, "Limits") hold for the job as a whole,
/// across its parallel slices, as the receiver counts them; above the
/// deployment's ceiling a request is refused with a stable code.
#[tokio::test]
async fn a_jobs_own_limits_hold_across_its_parallel_slices() -> anyhow::Result<()> {
    let settings = [("DELIVERY_CONCURRENCY", "8"), ("MAX_PARALLEL_SLICES", "3"), ("SLICE_SECONDS", "1200")];
    let s = scenario(&settings, 300, 1).await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(150),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    // The ceiling for a job is MAX_PARALLEL_SLICES × DELIVERY_CONCURRENCY = 24.
    let above = CreateReplayRequest { max_in_flight: Some(25), ..window(s.from, s.to) };
    let refused = s.api.start_replay(&s.webhook, &above).await.expect_err("above the ceiling");
    assert_eq!(refused.code(), Some(ErrorCode::LimitAboveCeiling), "{refused:?}");

    let (in_flight, per_second) = (4, 12);
    let limited = CreateReplayRequest {
        max_in_flight: Some(in_flight),
        max_events_per_second: Some(per_second),
        ..window(s.from, s.to)
    };
    let job = s.api.start_replay(&s.webhook, &limited).await?.job_id;
    let done = s.wait_for_end(&job, Duration::from_secs(180)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(done.limits.max_in_flight, Some(in_flight), "{done:?}");
    assert_eq!(s.received(), s.expected);
    let stats = s.receiver.stats("me");
    assert!(stats.max_in_flight <= u64::from(in_flight), "{} in flight at once", stats.max_in_flight);
    // Starts per second, over any two seconds: a slice's slots may fall on
    // either edge of a window, and the network may bring two of its
    // requests closer than they were sent: two more per slice. (In flight
    // alone, 3 at 150 ms at least, would allow 40.)
    let mut arrivals = stats.accepted_arrivals.clone();
    arrivals.sort();
    let most = arrivals
        .iter()
        .enumerate()
        .map(|(i, &at)| arrivals[i..].iter().take_while(|&&t| t < at + Duration::from_secs(2)).count())
        .max()
        .unwrap_or(0);
    assert!(most <= 2 * per_second as usize + 6, "{most} requests in two seconds");
    s.stack.cleanup().await;
    Ok(())
}

/// Ordering per key (docs/api.md, "Ordering per key"): three accounts,
/// a receiver of hundreds of ms that answers 500, 429 and drops
/// connections now and then, and refuses one event for good. Each
/// account's events arrive in log order, a later one only after the earlier
/// one was taken or refused for good; the accounts go concurrently; the
/// job is one slice whatever SLICE_SECONDS says.
#[tokio::test]
async fn an_ordered_replay_delivers_each_keys_events_in_log_order() -> anyhow::Result<()> {
    let settings = [("DELIVERY_CONCURRENCY", "8"), ("MAX_PARALLEL_SLICES", "3"), ("SLICE_SECONDS", "1200")];
    let account = |i: i64| format!("acct-{}", i % 3);
    let s = keyed_scenario(&settings, 90, 1, account).await?;
    let refused = "ev-4"; // acct-1's second event
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(400),
        status_500: 0.08,
        status_429: 0.05,
        retry_after_s: 1,
        drop_connection: 0.03,
        reject: [refused.to_owned()].into(),
        ..Faults::default()
    });
    let bad = CreateReplayRequest { ordering_key: Some("tweet_create_events".into()), ..window(s.from, s.to) };
    let answer = s.api.start_replay(&s.webhook, &bad).await.expect_err("not a JSON Pointer");
    assert_eq!(answer.code(), Some(ErrorCode::InvalidRequest), "{answer:?}");

    let ordered =
        CreateReplayRequest { ordering_key: Some("/tweet_create_events/0/text".into()), ..window(s.from, s.to) };
    let job = s.api.start_replay(&s.webhook, &ordered).await?.job_id;
    let done = s.wait_for_end(&job, Duration::from_secs(240)).await?;
    assert_eq!(done.ordering_key.as_deref(), Some("/tweet_create_events/0/text"), "{done:?}");
    assert_eq!(done.progress.slices_total, 1, "an ordered job is one slice: {done:?}");
    assert_eq!(done.progress.counters.delivery_failures, 1, "{done:?}");
    let mut expected = s.expected.clone();
    expected.remove(refused);
    assert_eq!(s.received(), expected, "everything but the refused event");

    // Per account, in log order (ev-N is logged at N × step).
    let spans = s.receiver.spans("me");
    let number = |id: &str| id.trim_start_matches("ev-").parse::<i64>().ok();
    let mut events: Vec<i64> = s.expected.iter().filter_map(|id| number(id)).collect();
    events.sort_unstable();
    for key in 0..3 {
        let of_key: Vec<i64> = events.iter().copied().filter(|i| i % 3 == key).collect();
        for pair in of_key.windows(2) {
            let (earlier, later) = (format!("ev-{}", pair[0]), format!("ev-{}", pair[1]));
            let settled = spans.iter().filter(|s| s.webhook_id == earlier && s.settled).map(|s| s.answered).min();
            let first = spans.iter().filter(|s| s.webhook_id == later).map(|s| s.arrived).min();
            let (Some(settled), Some(first)) = (settled, first) else {
                anyhow::bail!("{earlier} or {later} never reached the receiver");
            };
            assert!(first >= settled, "{later} arrived before {earlier} was settled (acct-{key})");
        }
    }
    let stats = s.receiver.stats("me");
    assert!(stats.max_in_flight > 1, "the accounts went concurrently");
    assert!(stats.max_in_flight <= 3, "one request per account at most: {}", stats.max_in_flight);
    s.stack.cleanup().await;
    Ok(())
}

/// The adaptive pace against a receiver that slows down as it fills and
/// sheds load past a capacity below the job's ceiling (docs/api.md,
/// "Limits"): latency = 100 ms × (1 + in flight / 5), 503 past 20 in
/// flight, against a ceiling of 4 slices × 16 = 64 that a fixed pace would
/// fill. The job completes, at most 5% of the receiver's answers are
/// 503s, counted for the job as a whole, and its view shows the pace.
#[tokio::test]
async fn the_adaptive_pace_keeps_a_filling_receiver_under_its_capacity() -> anyhow::Result<()> {
    let settings = [
        ("ADAPTIVE_PACE", "true"),
        ("DELIVERY_CONCURRENCY", "16"),
        ("MAX_PARALLEL_SLICES", "4"),
        ("SLICE_SECONDS", "900"),
        ("HEARTBEAT_EVERY_MS", "500"),
    ];
    let s = scenario(&settings, 400, 1).await?;
    s.receiver.set_faults(Faults { delay: Duration::from_millis(100), knee: 5, capacity: 20, ..Faults::default() });
    let job = s.start().await?;
    let mut paces = Vec::new();
    let done = loop {
        let view = s.job(&job).await?;
        if view.state.is_terminal() {
            break view;
        }
        paces.extend(view.pace);
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(s.received(), s.expected);
    let stats = s.receiver.stats("me");
    let share = stats.overloaded as f64 / stats.requests as f64;
    assert!(share <= 0.05, "{} of {} answers were 503 (over capacity)", stats.overloaded, stats.requests);
    assert!(!paces.is_empty(), "the running job's view shows its pace");
    assert!(paces.iter().all(|p| p.in_flight <= 64 && p.slices_running <= 4), "{paces:?}");
    assert!(done.pace.is_none(), "an ended job has none: {done:?}");
    eprintln!("503 share {share:.3} ({} of {}), paces seen {paces:?}", stats.overloaded, stats.requests);
    s.stack.cleanup().await;
    Ok(())
}
