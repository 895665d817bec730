//! The job lifecycle's races, each forced deterministically: a worker crash
//! between ending a slice and starting the next (a failpoint), late copies of
//! a finished slice's message, a status event slower than any claim used to
//! be, a cancel while slices are mid-batch, and short outages hours apart.
//! Each ends with the job finished, one status event and the parallel cap held.

use replay_core::domain::task::QueueTask;
use replay_integration_tests::replay_client::{JobId, JobState, StatusWord};
use replay_integration_tests::replay_lab::receiver::Faults;
use replay_integration_tests::replay_lab::stack::log_lines;
use replay_integration_tests::scenario::{scenario, Scenario};
use replay_integration_tests::*;
use std::time::{Duration, Instant};

async fn slice_state(s: &Scenario, job: &JobId, slice: i32) -> anyhow::Result<String> {
    let pool = sqlx::MySqlPool::connect(&s.stack.database_url).await?;
    let state = sqlx::query_scalar("SELECT state FROM replay_slices WHERE job_id = ? AND slice_index = ?")
        .bind(job.as_str())
        .bind(slice)
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(state)
}

/// Status events of `job` the receiver accepted, and how many distinct webhook-ids they had.
fn status_events(s: &Scenario, job: &JobId) -> (usize, usize) {
    let stats = s.receiver.stats("me");
    let copies = stats.status_events.iter().filter(|e| e.replay_job_status.job_id == *job).count();
    let ids = stats.accepted.keys().filter(|k| k.as_str() == format!("replay-job-{job}")).count();
    (copies, ids)
}

async fn crash_points_reached(s: &Scenario, point: &str) -> anyhow::Result<usize> {
    let lines = log_lines(&s.stack.env, &s.stack.deployed().worker_log_group_name, "crash point reached").await?;
    Ok(lines.iter().filter(|l| l.contains(point)).count())
}

#[tokio::test]
async fn a_crash_between_ending_a_slice_and_starting_the_next_does_not_stall_the_job() -> anyhow::Result<()> {
    // One slice at a time: the crash leaves the next slice claimed but unsent.
    let s = scenario(
        &[("MAX_PARALLEL_SLICES", "1"), ("SLICE_SECONDS", "2400"), ("FAILPOINTS", "slice_ended.before_next=return(0)")],
        600,
        2,
    )
    .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(5),
        delay_max: Duration::from_millis(20),
        ..Faults::default()
    });
    let job = s.start().await?;
    let view = s.wait_for_end(&job, Duration::from_secs(120)).await?;
    assert_eq!(view.state, JobState::Completed, "the job did not stall: {view:?}");
    assert_eq!(view.progress.slices_total, 3);
    assert_eq!(crash_points_reached(&s, "slice_ended.before_next").await?, 1, "the crash happened, once");
    assert_eq!(s.received(), s.expected);
    assert_eq!(s.receiver.stats("me").repeats(), 0, "the ended slice was not run again");
    eventually(Duration::from_secs(30), "the status event", async || status_events(&s, &job).0 > 0).await?;
    assert_eq!(status_events(&s, &job), (1, 1), "one status event");
    // The webhook's slot is free again: a new job is accepted.
    let next = s.api.start_replay(&s.webhook, &window(s.from, s.from + HOUR)).await?;
    assert_eq!(next.state, JobState::Open, "{next:?}");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn late_copies_of_a_finished_slices_message_never_exceed_the_parallel_cap() -> anyhow::Result<()> {
    let s = scenario(&[("MAX_PARALLEL_SLICES", "2"), ("SLICE_SECONDS", "1200"), ("DELIVERY_CONCURRENCY", "4")], 900, 2)
        .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(60),
        delay_max: Duration::from_millis(120),
        ..Faults::default()
    });
    let job = s.start().await?;
    eventually(Duration::from_secs(90), "slice 0 done", async || {
        slice_state(&s, &job, 0).await.is_ok_and(|st| st == "DONE")
    })
    .await?;
    // SQS delivers at least once: five late copies of the finished slice's message.
    for _ in 0..5 {
        let copy = QueueTask::slice(job.clone(), 0, 0).to_json();
        s.stack.sqs.send_message().queue_url(&s.stack.deployed().slice_queue_url).message_body(copy).send().await?;
    }
    let mut most = 0;
    let started = Instant::now();
    while !s.job(&job).await?.state.is_terminal() {
        most = most.max(s.busy_slices(&job).await?);
        assert!(started.elapsed() < Duration::from_secs(120), "the job did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let view = s.job(&job).await?;
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    assert!(most <= 2, "at most MAX_PARALLEL_SLICES slices running or queued: {most}");
    assert!(most == 2, "the job did run two at once: {most}");
    assert_eq!(s.received(), s.expected);
    assert_eq!(s.receiver.stats("me").repeats(), 0);
    eventually(Duration::from_secs(30), "the status event", async || status_events(&s, &job).0 > 0).await?;
    assert_eq!(status_events(&s, &job), (1, 1));
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_slow_status_event_goes_out_once_and_sweeps_stay_short() -> anyhow::Result<()> {
    let s = scenario(&[("DELIVERY_TIMEOUT_MS", "15000")], 200, 1).await?;
    // The receiver takes 8 s to answer the status event.
    s.receiver.set_faults(Faults { status_delay: Duration::from_secs(8), ..Faults::default() });
    let job = s.start().await?;
    let view = s.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    // Sweeps every second while the send is in progress, and well after.
    let mut longest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let t = Instant::now();
        s.stack.sweep().await?;
        longest = longest.max(t.elapsed());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(longest < Duration::from_secs(3), "a sweep waited on a receiver: {longest:?}");
    assert_eq!(status_events(&s, &job), (1, 1), "sent once though it took 8 s");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_crash_after_sending_the_status_event_resends_it_with_the_same_id() -> anyhow::Result<()> {
    let mut s = scenario(&[("FAILPOINTS", "status_event.before_marked_sent=return")], 200, 1).await?;
    let job = s.start().await?;
    s.wait_for_end(&job, Duration::from_secs(60)).await?;
    eventually(Duration::from_secs(60), "the crash", async || {
        crash_points_reached(&s, "status_event.before_marked_sent").await.is_ok_and(|n| n > 0)
    })
    .await?;
    // Disarmed (new settings, new processes); the queue retries the task.
    s.stack.set("FAILPOINTS", "");
    s.stack.deploy().await?;
    eventually(Duration::from_secs(90), "the resend", async || status_events(&s, &job).0 >= 2).await?;
    let (copies, ids) = status_events(&s, &job);
    assert_eq!(ids, 1, "at least once, always with the same webhook-id ({copies} copies)");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(status_events(&s, &job).0, copies, "marked sent after the resend: no more copies");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn cancel_with_slices_mid_batch_sends_nothing_after_cancelled() -> anyhow::Result<()> {
    let heartbeat = Duration::from_millis(500);
    let delay_max = Duration::from_millis(600);
    let s = scenario(
        &[
            ("HEARTBEAT_EVERY_MS", "500"),
            ("CHECKPOINT_EVERY_EVENTS", "500"),
            ("CHECKPOINT_EVERY_MS", "60000"),
            ("DELIVERY_CONCURRENCY", "4"),
            ("MAX_PARALLEL_SLICES", "3"),
            ("SLICE_SECONDS", "1200"),
        ],
        1_500,
        1,
    )
    .await?;
    s.receiver.set_faults(Faults { delay: Duration::from_millis(300), delay_max, ..Faults::default() });
    let job = s.start().await?;
    eventually(Duration::from_secs(60), "60 deliveries", async || s.receiver.unique("me") >= 60).await?;
    let view = s.api.cancel(&job).await?;
    let cancelled_at = Instant::now();
    assert_eq!(view.state, JobState::Cancelled);
    let view = s.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(view.state, JobState::Cancelled);
    eventually(Duration::from_secs(30), "the status event", async || status_events(&s, &job).0 > 0).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = s.receiver.stats("me");
    assert_eq!(
        stats.after_status.get(job.as_str()).copied().unwrap_or(0),
        0,
        "nothing after the Cancelled status event"
    );
    let last = stats.arrivals.get(job.as_str()).map(|a| a.last).expect("deliveries arrived");
    // A heartbeat to notice, the requests in flight to end, and a second of slack.
    let bound = cancelled_at + heartbeat + delay_max + Duration::from_secs(1);
    assert!(last <= bound, "a delivery ended {:?} after the cancel", last - cancelled_at);
    assert!(s.received().len() < s.expected.len());
    assert_eq!(stats.status_events[0].replay_job_status.job_state, StatusWord::Cancelled);
    assert_eq!(status_events(&s, &job), (1, 1));
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn three_short_outages_far_apart_do_not_fail_the_slice() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("CIRCUIT_BREAK_AFTER", "5"),
            ("CIRCUIT_PAUSE_MS", "1000"),
            ("CIRCUIT_MAX_PAUSES", "2"),
            ("DELIVERY_MAX_ATTEMPTS", "2"),
            ("DELIVERY_CONCURRENCY", "2"),
            ("SLICE_SECONDS", "7200"),
        ],
        900,
        1,
    )
    .await?;
    let working =
        Faults { delay: Duration::from_millis(10), delay_max: Duration::from_millis(30), ..Faults::default() };
    s.receiver.set_faults(working.clone());
    let job = s.start().await?;
    for outage in 1..=3usize {
        eventually(Duration::from_secs(60), "deliveries", async || s.receiver.unique("me") >= outage * 200).await?;
        // Down until the circuit must have opened: five events refused twice
        // each (a slow machine must not end the outage first, when its
        // events would rightly count as failed), then a little longer.
        let refused_before = s.receiver.stats("me").faults_injected;
        s.receiver.set_faults(Faults { down: true, ..working.clone() });
        eventually(Duration::from_secs(60), "the circuit to open", async || {
            s.receiver.stats("me").faults_injected >= refused_before + 10
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.receiver.set_faults(working.clone());
    }
    let view = s.wait_for_end(&job, Duration::from_secs(120)).await?;
    let paused = log_lines(&s.stack.env, &s.stack.deployed().worker_log_group_name, "slice paused").await?.len();
    assert!(paused >= 3, "each outage paused the slice: {paused} pauses");
    assert_eq!(view.state, JobState::Completed, "pauses count per outage, not per slice: {view:?}");
    assert_eq!(view.progress.counters.delivery_failures, 0);
    assert_eq!(s.received(), s.expected);
    s.stack.cleanup().await;
    Ok(())
}
