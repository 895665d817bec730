//! Restarts the shared Kafka broker mid-replay (issue 3, fault 5). A test
//! binary of its own: cargo runs test binaries one after another, so no other
//! test is using the broker while this one stops it.

use replay_integration_tests::replay_client::JobState;
use replay_integration_tests::replay_lab::receiver::Faults;
use replay_integration_tests::scenario::scenario;
use replay_integration_tests::{repo_root, HOUR};
use std::time::{Duration, Instant};

/// Runs one of the local-stack scripts (infra/local/NAME) and fails on a non-zero exit.
async fn local_script(name: &str, args: &[&str]) -> anyhow::Result<()> {
    let script = repo_root().join("infra/local").join(name);
    let status = tokio::process::Command::new(&script).args(args).status().await?;
    anyhow::ensure!(status.success(), "{} {args:?} failed: {status}", script.display());
    Ok(())
}

async fn broker_answers() -> bool {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(first)).await.is_ok_and(|c| c.is_ok())
}

#[tokio::test]
async fn a_broker_restarted_mid_replay_loses_nothing() -> anyhow::Result<()> {
    // 8 slices of 2,500 events run one after another at 1,000 events/s: the
    // outage (about 10 s) spans slices that are reading and slices that start,
    // so both a scan in progress and the offset lookup of a new slice meet it.
    let s = scenario(
        &[
            ("SLICE_SECONDS", "1800"),
            ("MAX_PARALLEL_SLICES", "1"),
            ("DELIVERY_RATE_PER_SECOND", "1000"),
            ("CHECKPOINT_EVERY_EVENTS", "500"),
            ("HEARTBEAT_EVERY_MS", "200"),
        ],
        20_000,
        2,
    )
    .await?;
    assert_eq!(s.to - s.from, 2 * HOUR);
    s.receiver.set_faults(Faults { delay: Duration::from_millis(1), ..Faults::default() });
    let job = s.start().await?;

    let restarter = async {
        while s.received().len() < s.expected.len() / 4 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let job_state_at_stop = s.job(&job).await?.state;
        let received_at_stop = s.received().len();
        local_script("down.sh", &["kafka"]).await?;
        anyhow::ensure!(!broker_answers().await, "the broker still answers after down.sh kafka");
        tokio::time::sleep(Duration::from_secs(3)).await;
        local_script("up.sh", &[]).await?;
        anyhow::ensure!(broker_answers().await, "the broker does not answer after up.sh");
        Ok((job_state_at_stop, received_at_stop, Instant::now()))
    };
    let (restarted, ended) = tokio::join!(restarter, s.wait_for_end(&job, Duration::from_secs(180)));
    let (state_at_stop, received_at_stop, broker_back_at) = restarted?;
    let view = ended?;
    let recovered_in = broker_back_at.elapsed();

    assert!(!state_at_stop.is_terminal(), "the broker stopped mid-replay, not after it ({state_at_stop})");
    assert!(received_at_stop < s.expected.len(), "some events were still to come when the broker stopped");
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    assert_eq!(s.received(), s.expected, "nothing lost");
    let p = &view.progress.counters;
    assert!(p.adds_up(), "{p:?}");
    assert_eq!(p.delivery_failures, 0, "{p:?}");
    let repeats = s.receiver.stats("me").repeats();
    assert!(repeats <= 500, "at most one checkpoint interval again after the restart, got {repeats}");
    println!(
        "broker restart: {} events, {received_at_stop} received before the stop, {repeats} repeats, \
         job ended {recovered_in:.1?} after the broker was back",
        s.expected.len()
    );
    s.stack.cleanup().await;
    Ok(())
}
