//! The slice queue on SQS.

use crate::domain::task::QueueTask;
use crate::error::{Error, Result};
use crate::ports::SliceQueue;
use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;

/// The message attribute that counts a message's hand-backs.
pub const HANDBACKS_ATTRIBUTE: &str = "handbacks";

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

    async fn waiting_messages(&self) -> Result<u64> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(queue_error)?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(attributes.values().filter_map(|v| v.parse::<u64>().ok()).sum())
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

    async fn hand_back(&self, body: &str, handbacks: u32, delay_s: u32) -> Result<()> {
        let count = MessageAttributeValue::builder()
            .data_type("Number")
            .string_value(handbacks.to_string())
            .build()
            .map_err(queue_error)?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes(HANDBACKS_ATTRIBUTE, count)
            .delay_seconds(delay_s.min(900) as i32)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}
