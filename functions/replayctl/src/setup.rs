//! Creates what the functions expect to exist: database schema, topic,
//! queue with its dead-letter queue, checkpoint table. Idempotent.

use anyhow::{Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use replay_core::adapters::dynamo::DynamoCheckpoints;
use replay_core::adapters::kafka::client_config;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::adapters::sqs::SqsQueue;
use replay_core::config::KafkaConfig;

pub async fn migrate(database_url: &str) -> Result<()> {
    let store = MySqlStore::connect(database_url).await.context("connecting to MySQL")?;
    store.migrate().await.context("applying migrations")?;
    Ok(())
}

/// Creates the topic (no time-based deletion: seeded data is days old).
pub async fn create_topic(kafka: &KafkaConfig, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create().context("Kafka admin client")?;
    let topic = NewTopic::new(&kafka.topic, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
    let results = admin.create_topics([&topic], &AdminOptions::new()).await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Deletes every topic whose name starts with `prefix` (best effort).
pub async fn delete_topics_with_prefix(kafka: &KafkaConfig, prefix: &str) -> Result<usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = client_config(kafka).create()?;
    let metadata = consumer.fetch_metadata(None, std::time::Duration::from_secs(10))?;
    let names: Vec<String> =
        metadata.topics().iter().map(|t| t.name().to_owned()).filter(|n| n.starts_with(prefix)).collect();
    if names.is_empty() {
        return Ok(0);
    }
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    admin.delete_topics(&refs, &AdminOptions::new()).await?;
    Ok(names.len())
}

pub async fn delete_topic(kafka: &KafkaConfig) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    admin.delete_topics(&[&kafka.topic], &AdminOptions::new()).await?;
    Ok(())
}

pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_s: u32,
    max_receives: u32,
) -> Result<(String, String)> {
    SqsQueue::create_with_dlq(sqs, name, visibility_s, max_receives).await.context("creating the SQS queues")
}

pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    DynamoCheckpoints::create_table(ddb, name).await.context("creating the DynamoDB table")
}
