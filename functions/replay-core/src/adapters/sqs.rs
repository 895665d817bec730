//! The slice queue on SQS.

use crate::domain::task::QueueTask;
use crate::error::{Error, Result};
use crate::ports::SliceQueue;
use async_trait::async_trait;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;

pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

fn queue_error<E: std::fmt::Debug>(err: E) -> Error {
    Error::Queue(format!("{err:?}"))
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    /// Creates `name` and its dead-letter queue `name-dlq` with a redrive
    /// policy; returns (queue url, dlq url). Local stack and tests only.
    pub async fn create_with_dlq(
        client: &Client,
        name: &str,
        visibility_timeout_s: u32,
        max_receives: u32,
    ) -> Result<(String, String)> {
        let dlq_url = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .map_err(queue_error)?
            .queue_url
            .unwrap_or_default();
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(queue_error)?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| Error::Queue("DLQ has no ARN".into()))?;
        let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string()});
        let url = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::VisibilityTimeout, visibility_timeout_s.to_string())
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(queue_error)?
            .queue_url
            .unwrap_or_default();
        Ok((url, dlq_url))
    }
}

#[async_trait]
impl SliceQueue for SqsQueue {
    async fn send(&self, tasks: &[QueueTask]) -> Result<()> {
        for (chunk_no, chunk) in tasks.chunks(10).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, task)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{}", chunk_no * 10 + i))
                        .message_body(task.to_json())
                        .build()
                        .map_err(queue_error)
                })
                .collect::<Result<Vec<_>>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(queue_error)?;
            if !out.failed.is_empty() {
                return Err(Error::Queue(format!("{} message(s) not accepted: {:?}", out.failed.len(), out.failed)));
            }
        }
        Ok(())
    }

    async fn send_delayed(&self, task: &QueueTask, delay_s: u32) -> Result<()> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(task.to_json())
            .delay_seconds(delay_s.min(900) as i32)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}
