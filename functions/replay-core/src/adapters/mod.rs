//! Adapters: the ports implemented against real services, plus in-memory fakes.

pub mod dns;
pub mod dynamo;
pub mod http;
pub mod kafka;
pub mod kafka_auth;
pub mod kms;
#[cfg(test)]
pub mod memory;
pub mod mysql;
pub mod sqs;

/// Builds the AWS SDK config once. Honours `AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_DYNAMODB` (local stack).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}
