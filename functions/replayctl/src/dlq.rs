//! `replayctl dlq show|redrive`: the slice queue's dead-letter queue
//! (docs/operations.md, "The dead-letter queue"). The queues are found by the
//! names CloudFormation gives them (`<stack>-<LogicalId>-<suffix>`), or given
//! with `--dlq-url` / `--queue-url`.
//!
//! Redrive receives, re-sends (body and attributes as they are) and only then
//! deletes, so an interrupted redrive leaves a message in both queues at
//! worst, never in neither: a slice's lease makes the second copy harmless.
//! Hand-written rather than SQS's StartMessageMoveTask because it reports
//! each message it moved and needs no polling of an asynchronous task.

use anyhow::{bail, Context, Result};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct QueueArgs {
    /// The stack whose queues these are.
    #[arg(long, env = "REPLAY_STACK", default_value = "activity-replay-local", global = true)]
    stack: String,
    /// The dead-letter queue's URL (the stack's SliceDeadLetterQueueUrl output), instead of finding it.
    #[arg(long, global = true)]
    dlq_url: Option<String>,
    /// The slice queue's URL (the stack's SliceQueueUrl output), instead of finding it.
    #[arg(long, global = true)]
    queue_url: Option<String>,
}

/// One message of the DLQ, as `show` prints it.
#[derive(Debug, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub receive_count: u64,
    /// The task's `type`, `v`, `job_id` and `slice_index` when the body is JSON.
    pub task_type: Option<String>,
    pub version: Option<u64>,
    pub job_id: Option<String>,
    pub slice_index: Option<u64>,
    pub body: String,
}

async fn client() -> Client {
    Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
}

/// The URL of the stack's queue `logical_id` (CloudFormation's physical name).
async fn find_queue(sqs: &Client, stack: &str, logical_id: &str) -> Result<String> {
    let prefix = format!("{stack}-{logical_id}-");
    let out = sqs.list_queues().queue_name_prefix(&prefix).send().await.context("listing queues")?;
    let urls: Vec<String> = out.queue_urls().to_vec();
    match urls.as_slice() {
        [url] => Ok(url.clone()),
        [] => bail!("no queue named {prefix}*: is the stack `{stack}` deployed here? (or give its URL)"),
        _ => bail!("several queues named {prefix}*: give the URL ({})", urls.join(", ")),
    }
}

impl QueueArgs {
    async fn dlq(&self, sqs: &Client) -> Result<String> {
        match &self.dlq_url {
            Some(url) => Ok(url.clone()),
            None => find_queue(sqs, &self.stack, "SliceDeadLetterQueue").await,
        }
    }

    async fn queue(&self, sqs: &Client) -> Result<String> {
        match &self.queue_url {
            Some(url) => Ok(url.clone()),
            None => find_queue(sqs, &self.stack, "SliceQueue").await,
        }
    }
}

fn dead_letter(m: &aws_sdk_sqs::types::Message) -> DeadLetter {
    let body = m.body().unwrap_or_default().to_owned();
    let task: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let receive_count = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    DeadLetter {
        message_id: m.message_id().unwrap_or_default().to_owned(),
        receive_count,
        task_type: task["type"].as_str().map(str::to_owned),
        version: task["v"].as_u64(),
        job_id: task["job_id"].as_str().map(str::to_owned),
        slice_index: task["slice_index"].as_u64(),
        body,
    }
}

/// Every message in the DLQ, left in it (received with no visibility timeout).
pub async fn show(args: &QueueArgs) -> Result<Vec<DeadLetter>> {
    let sqs = client().await;
    let dlq = args.dlq(&sqs).await?;
    let depth = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .context("reading the DLQ's depth")?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut seen: BTreeMap<String, DeadLetter> = BTreeMap::new();
    // Receives sample the queue: go on until every message was seen, or
    // receives stop bringing new ones.
    let mut idle_rounds = 0;
    while seen.len() < depth && idle_rounds < 5 {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("receiving from the DLQ")?;
        let before = seen.len();
        for m in out.messages() {
            let letter = dead_letter(m);
            seen.entry(letter.message_id.clone()).or_insert(letter);
        }
        idle_rounds = if seen.len() == before { idle_rounds + 1 } else { 0 };
    }
    Ok(seen.into_values().collect())
}

/// Moves every message of the DLQ back to the slice queue; how many moved.
pub async fn redrive(args: &QueueArgs) -> Result<Vec<DeadLetter>> {
    let sqs = client().await;
    let (dlq, queue) = (args.dlq(&sqs).await?, args.queue(&sqs).await?);
    let mut moved = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .context("receiving from the DLQ")?;
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            sqs.send_message()
                .queue_url(&queue)
                .message_body(m.body().unwrap_or_default())
                .set_message_attributes(m.message_attributes().cloned())
                .send()
                .await
                .context("sending to the slice queue")?;
            sqs.delete_message()
                .queue_url(&dlq)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .context("deleting from the DLQ")?;
            moved.push(dead_letter(m));
        }
    }
    Ok(moved)
}
