//! The deployed stack itself: what LocalStack made of template.yaml, the SQS
//! event source mapping's partial batch failures, visibility timeout and
//! dead-letter queue, and the schedule that fires the sweeper.

use replay_core::config::{Env, Settings};
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::JobState;
use replay_integration_tests::replay_lab::receiver::Receiver;
use replay_integration_tests::replay_lab::seed::SeedKind;
use replay_integration_tests::replay_lab::stack::{log_lines, signal};
use replay_integration_tests::*;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn lambda_get(stack: &TestStack, path: &str) -> anyhow::Result<Value> {
    replay_integration_tests::replay_lab::stack::lambda_get(&stack.env, path).await
}

struct Vars(Vec<(String, String)>);

impl Env for Vars {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
    }
}

#[tokio::test]
async fn the_deployed_stack_is_what_the_template_declares_and_the_code_reads() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    // Values other than the defaults, to see each one arrive.
    stack
        .parameter("WorkerTimeoutSeconds", "17")
        .parameter("WorkerMemorySize", "640")
        .parameter("DatabaseConnectionBudget", "100")
        .parameter("SliceQueueVisibilityTimeoutSeconds", "111")
        .parameter("SliceMaxReceiveCount", "3")
        .set("MAX_PARALLEL_SLICES", "3")
        .set("LEASE_TTL_MS", "4321");
    stack.deploy().await?;
    let d = stack.deployed().clone();

    // Functions: timeout, memory, handler, runtime, architecture, JSON logs, environment.
    // Pool sizes: budget 100's row of the ConnectionBudget mapping (its
    // reserved concurrency LocalStack's CloudFormation does not apply;
    // infra/sam/check_template_matches_code.py checks the template's).
    for (name, timeout, memory, pool) in [
        (&d.api_function_name, 30, 256, 2),
        (&d.worker_function_name, 17, 640, 4),
        (&d.sweeper_function_name, 60, 256, 2),
    ] {
        let f = lambda_get(&stack, &format!("/functions/{name}/configuration")).await?;
        assert_eq!(f["Timeout"], timeout, "{name}");
        assert_eq!(f["MemorySize"], memory, "{name}");
        assert_eq!((f["Runtime"].as_str(), f["Handler"].as_str()), (Some("provided.al2023"), Some("bootstrap")));
        assert_eq!(f["Architectures"][0], "x86_64", "the local stack deploys the host's build");
        assert_eq!(f["LoggingConfig"]["LogFormat"], "JSON", "{name}");
        let vars: Vec<(String, String)> = f["Environment"]["Variables"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let env = Vars(vars);
        // Secrets were resolved from LocalStack's Secrets Manager at deploy time.
        assert_eq!(env.get("DATABASE_URL").as_deref(), Some(stack.database_url.as_str()), "{name}");
        assert_eq!(env.get("CHECKPOINT_TABLE").as_deref(), Some(stack.table.as_str()));
        assert_eq!(env.get("SLICE_QUEUE_URL").as_deref(), Some(d.slice_queue_url.as_str()));
        assert_eq!(env.get("DELIVERY_LOG_TOPIC").as_deref(), Some(stack.kafka.topic.as_str()));
        assert!(env.get("KAFKA_SASL_PASSWORD").is_none(), "no SASL secret on the local stack");
        // What the code reads: the same configuration every function builds at cold start.
        let settings = Settings::from(&env).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        assert_eq!(settings.database_max_connections, pool, "{name}");
        assert_eq!(settings.max_parallel_slices, 3);
        assert_eq!(settings.worker.lease_ttl, Duration::from_millis(4321));
        let local = replay_core::domain::webhook_url::UrlPolicy::parse(
            replay_integration_tests::replay_lab::receiver::RECEIVER_ALLOW_LIST,
        );
        assert_eq!(Ok(settings.url_policy), local, "the local allow-list: the receivers' ports, nothing else");
    }

    // The worker's event source mapping.
    let mappings =
        lambda_get(&stack, &format!("/event-source-mappings?FunctionName={}", d.worker_function_name)).await?;
    let mappings = mappings["EventSourceMappings"].as_array().cloned().unwrap_or_default();
    assert_eq!(mappings.len(), 1, "{mappings:?}");
    let m = &mappings[0];
    assert_eq!(m["BatchSize"], 1);
    assert_eq!(m["MaximumBatchingWindowInSeconds"], 20);
    assert_eq!(m["FunctionResponseTypes"], serde_json::json!(["ReportBatchItemFailures"]));
    assert_eq!(m["ScalingConfig"]["MaximumConcurrency"], 16, "the worker's reserved concurrency");
    assert!(m["EventSourceArn"]
        .as_str()
        .is_some_and(|a| d.slice_queue_url.ends_with(a.rsplit(':').next().unwrap_or("?"))));

    // The queue: visibility timeout and redrive to the dead-letter queue.
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = stack
        .sqs
        .get_queue_attributes()
        .queue_url(&d.slice_queue_url)
        .attribute_names(A::All)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    assert_eq!(attrs.get(&A::VisibilityTimeout).map(String::as_str), Some("111"));
    let redrive: Value = serde_json::from_str(attrs.get(&A::RedrivePolicy).map(String::as_str).unwrap_or("{}"))?;
    assert_eq!(redrive["deadLetterTargetArn"], d.slice_dead_letter_queue_arn.as_str());
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "3");
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_poison_message_reaches_the_dlq_after_max_receives_while_its_batch_mates_complete() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    // Three messages per invocation: the poison and the job's two slices share a batch.
    stack
        .parameter("WorkerBatchSize", "3")
        .parameter("SliceQueueVisibilityTimeoutSeconds", "5")
        .parameter("SliceMaxReceiveCount", "2")
        .set("MAX_PARALLEL_SLICES", "2");
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;
    let from = (now_ms() - 5 * HOUR) / HOUR * HOUR;
    let records: Vec<_> = (0..200).map(|i| record(from + i * 30_000, &me, &format!("e{i}"), SeedKind::Event)).collect();
    stack.produce(&records).await?;

    let d = stack.deployed().clone();
    let poison = "{\"type\":\"replay_slice\",\"v\":1,\"job_id\":\"not a job\"}";
    stack.sqs.send_message().queue_url(&d.slice_queue_url).message_body(poison).send().await?;
    let job_id = start(&api, &me, from, from + 2 * HOUR).await?;
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(90)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(receiver.unique("me"), 200);

    // Failed twice (visibility timeout 5 s between), then moved to the DLQ.
    let started = Instant::now();
    let moved = loop {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(&d.slice_dead_letter_queue_url)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .wait_time_seconds(2)
            .send()
            .await?;
        if let Some(m) = out.messages.unwrap_or_default().pop() {
            break m;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "the poison message never reached the DLQ");
    };
    assert_eq!(moved.body.as_deref(), Some(poison));
    let receives: u32 = moved
        .attributes
        .as_ref()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(receives >= 2, "received {receives} times before the DLQ");
    assert_eq!(stack.queue_depth(&d.slice_queue_url).await?, (0, 0), "nothing else left in the queue");
    // The worker said why, with the message id, each time.
    let errors = log_lines(&stack.env, &d.worker_log_group_name, "message cannot be processed").await?;
    assert!(errors.len() >= 2, "{errors:?}");
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn the_schedule_fires_the_sweeper_which_restarts_a_stale_slice() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack
        .parameter("SweeperScheduleEnabled", "true")
        .parameter("SweeperSchedule", "rate(1 minute)")
        // The killed worker's message stays hidden for ten minutes: only the sweeper can restart the slice.
        .parameter("SliceQueueVisibilityTimeoutSeconds", "600")
        .set("STALE_AFTER_MS", "6000")
        .set("LEASE_TTL_MS", "3000")
        .set("SLICE_SECONDS", "86400");
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    receiver.set_faults(replay_integration_tests::replay_lab::receiver::Faults {
        delay: Duration::from_millis(20),
        ..Default::default()
    });
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;
    let from = (now_ms() - 5 * HOUR) / HOUR * HOUR;
    let records: Vec<_> =
        (0..3_000).map(|i| record(from + i * 1_000, &me, &format!("e{i}"), SeedKind::Event)).collect();
    stack.produce(&records).await?;
    let job_id = start(&api, &me, from, from + HOUR).await?;
    eventually(Duration::from_secs(60), "deliveries", async || receiver.unique("me") >= 200).await?;
    for pid in stack.worker_pids().await? {
        signal(pid, "KILL").await?;
    }
    let killed_at = receiver.unique("me");
    assert!(killed_at < 3_000, "the kill landed mid-slice");
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(180)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(receiver.unique("me"), 3_000, "nothing lost");
    let d = stack.deployed();
    let restarts = log_lines(&stack.env, &d.sweeper_log_group_name, "restarted stale slice").await?;
    assert!(!restarts.is_empty(), "the scheduled sweeper restarted the slice");
    let runs = log_lines(&stack.env, &d.sweeper_log_group_name, "REPORT RequestId").await?;
    assert!(!runs.is_empty(), "the sweeper ran (nobody invoked it but the schedule)");

    // The job followed by its id across the three functions' logs (they
    // reach the log groups a moment after they are written).
    let mut seen = String::new();
    let mut followed = async || -> anyhow::Result<bool> {
        let out = tokio::process::Command::new(repo_root().join("target/debug/replayctl"))
            .args(["--json", "logs", job_id.as_str(), "--stack", &d.stack_name])
            .output()
            .await?;
        let lines: Vec<serde_json::Value> =
            String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let functions: std::collections::BTreeSet<&str> = lines.iter().filter_map(|l| l["function"].as_str()).collect();
        let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
        let first = messages.iter().position(|m| m.contains("replay job created"));
        let last = messages.iter().rposition(|m| m.contains("status event sent"));
        seen =
            format!("functions {functions:?}, created at {first:?}, status event at {last:?}, {} lines", lines.len());
        Ok(functions == ["api", "sweeper", "worker"].into() && first.is_some() && last.is_some() && first < last)
    };
    let started = Instant::now();
    while !followed().await? {
        assert!(started.elapsed() < Duration::from_secs(30), "replayctl logs: {seen}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stack.cleanup().await;
    Ok(())
}
