//! What a stack expects to exist outside it on the local machine: a database
//! with the schema, the topic, the checkpoint table (DynamoDB Local; in AWS
//! the stack creates it). Idempotent.

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use replay_core::adapters::kafka::client_config;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::config::KafkaConfig;
use sqlx::Connection;

pub async fn migrate(database_url: &str) -> Result<()> {
    let store = MySqlStore::connect(database_url).await.context("connecting to MySQL")?;
    store.migrate().await.context("applying migrations")?;
    Ok(())
}

/// Creates database `name` on the server of `server_url` (any database URL of
/// it) with the schema; returns its URL.
pub async fn create_database(server_url: &str, name: &str) -> Result<String> {
    let server = server_url.rsplit_once('/').map(|(s, _)| s.to_owned()).unwrap_or_else(|| server_url.to_owned());
    let mut admin = sqlx::MySqlConnection::connect(server_url).await.context("connecting to MariaDB")?;
    sqlx::query(&format!("CREATE DATABASE IF NOT EXISTS `{name}`")).execute(&mut admin).await?;
    let url = format!("{server}/{name}");
    migrate(&url).await?;
    Ok(url)
}

pub async fn drop_database(server_url: &str, name: &str) -> Result<()> {
    let mut admin = sqlx::MySqlConnection::connect(server_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`")).execute(&mut admin).await?;
    Ok(())
}

/// Creates the topic (no time-based deletion: seeded data is days old).
pub async fn create_topic(kafka: &KafkaConfig, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create().context("Kafka admin client")?;
    let topic = NewTopic::new(&kafka.topic, partitions, TopicReplication::Fixed(1))
        .set("retention.ms", "-1")
        // Producers with broken clocks are part of what the tests create.
        .set("message.timestamp.after.max.ms", "9223372036854775807")
        .set("message.timestamp.before.max.ms", "9223372036854775807");
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

/// Kafka's DeleteRecords: what retention does, at once: records of
/// `partition` before `before_offset` are gone.
pub async fn delete_records(kafka: &KafkaConfig, partition: i32, before_offset: i64) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&kafka.topic, partition, Offset::Offset(before_offset))?;
    let done = admin.delete_records(&tpl, &AdminOptions::new()).await?;
    for e in done.elements() {
        e.error().with_context(|| format!("deleting records of {}:{}", kafka.topic, e.partition()))?;
    }
    Ok(())
}

/// Grows the topic to `total` partitions (keys move: murmur2 % total).
pub async fn add_partitions(kafka: &KafkaConfig, total: usize) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    let grow = NewPartitions::new(&kafka.topic, total);
    for result in admin.create_partitions([&grow], &AdminOptions::new()).await? {
        result.map_err(|(name, code)| anyhow::anyhow!("adding partitions to {name}: {code}"))?;
    }
    Ok(())
}

pub async fn delete_topic(kafka: &KafkaConfig) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    admin.delete_topics(&[&kafka.topic], &AdminOptions::new()).await?;
    Ok(())
}

/// Creates the checkpoint table as template.yaml's `CheckpointTable` declares it
/// (key `pk`, TTL on `expires_at`).
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let pk = AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build()?;
    let key = KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build()?;
    let created = ddb
        .create_table()
        .table_name(table)
        .attribute_definitions(pk)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(anyhow::anyhow!("creating table {table}: {e:?}")),
    }
    let ttl = TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build()?;
    ddb.update_time_to_live().table_name(table).time_to_live_specification(ttl).send().await?;
    Ok(())
}

pub async fn delete_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    ddb.delete_table().table_name(table).send().await?;
    Ok(())
}
