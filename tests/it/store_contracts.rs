//! The simulated services' contracts on the real ones: the checkpoint store
//! (leases and checkpoints, replay_core::ports::checkpoint_contract) on
//! DynamoDB Local, the slice queue (replay_core::ports::queue_contract) on
//! LocalStack's SQS, and the delivery log (replay_core::ports::log_contract)
//! on the Kafka broker, read alone and through its index on MariaDB
//! (replay_core::ports::index_contract, the index store's own). The fakes the simulation runs on pass the same cases
//! in the unit tests, so what the simulation proves holds for the services
//! the workers run on. (The job ledger's contract: ledger_contract.rs.)

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use replay_core::adapters::dynamo::DynamoCheckpoints;
use replay_core::adapters::kafka::KafkaLog;
use replay_core::adapters::mysql::{MySqlLogIndex, MySqlStore};
use replay_core::adapters::sqs::{SqsQueue, HANDBACKS_ATTRIBUTE};
use replay_core::config::KafkaConfig;
use replay_core::error::{Error, Result};
use replay_core::ports::checkpoint_contract::{self, CheckpointBench};
use replay_core::ports::index_contract;
use replay_core::ports::log_contract::{self, LogBench};
use replay_core::ports::queue_contract::{self, Delivered, QueueBench};
use replay_core::ports::{CheckpointStore, DeliveryLog, SliceQueue};
use replay_core::services::indexed_log::IndexedLog;
use replay_core::services::indexer::{index_log, IndexBudget};
use replay_integration_tests::replay_lab::seed::{produce, SeedKind, SeedRecord};
use replay_integration_tests::replay_lab::setup;
use replay_integration_tests::replay_lab::stack::LocalEnv;
use replay_integration_tests::*;
use std::sync::Arc;
use std::time::Duration;

struct DynamoDb {
    store: DynamoCheckpoints,
    run: String,
}

#[async_trait]
impl CheckpointBench for DynamoDb {
    fn store(&self) -> &dyn CheckpointStore {
        &self.store
    }
    fn key(&self, name: &str) -> String {
        format!("{}#{name}", self.run)
    }
    async fn advance(&self, by: Duration) {
        // DynamoDB's leases expire by the wall clock: only real time moves it.
        tokio::time::sleep(by).await;
    }
}

#[tokio::test]
async fn dynamodb_keeps_the_checkpoint_contract() -> anyhow::Result<()> {
    let aws = replay_core::adapters::aws_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let table = unique("cc_");
    setup::create_table(&ddb, &table).await?;
    let bench = DynamoDb {
        store: DynamoCheckpoints::new(ddb.clone(), table.clone(), Duration::from_secs(3_600)),
        run: unique("run"),
    };
    let mut broken = Vec::new();
    for case in checkpoint_contract::CASES {
        if let Err(why) = checkpoint_contract::run(case, &bench).await {
            broken.push(format!("{case}: {}", why.0));
        }
    }
    ddb.delete_table().table_name(&table).send().await?;
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    Ok(())
}

struct Sqs {
    client: aws_sdk_sqs::Client,
    url: String,
    queue: SqsQueue,
}

const VISIBILITY_S: u64 = 5;

fn sqs_error(e: impl std::fmt::Debug) -> Error {
    Error::Queue(format!("{e:?}"))
}

#[async_trait]
impl QueueBench for Sqs {
    fn queue(&self) -> &dyn SliceQueue {
        &self.queue
    }
    fn visibility(&self) -> Duration {
        Duration::from_secs(VISIBILITY_S)
    }
    async fn receive(&self, within: Duration) -> Result<Option<Delivered>> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(1)
                .message_attribute_names("All")
                .wait_time_seconds(left.as_secs().clamp(1, 20) as i32)
                .send()
                .await
                .map_err(sqs_error)?;
            if let Some(m) = out.messages.unwrap_or_default().into_iter().next() {
                let handbacks = m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get(HANDBACKS_ATTRIBUTE))
                    .and_then(|v| v.string_value.as_deref())
                    .map_or(Ok(0), str::parse)
                    .map_err(sqs_error)?;
                let receipt = m.receipt_handle.unwrap_or_default();
                return Ok(Some(Delivered { receipt, body: m.body.unwrap_or_default(), handbacks }));
            }
            if tokio::time::Instant::now() >= until {
                return Ok(None);
            }
        }
    }
    async fn delete(&self, receipt: &str) -> Result<()> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.map_err(sqs_error)?;
        Ok(())
    }
    async fn advance(&self, by: Duration) {
        // SQS's delays and visibility run on the wall clock.
        tokio::time::sleep(by).await;
    }
}

#[tokio::test]
async fn sqs_keeps_the_queue_contract() -> anyhow::Result<()> {
    let aws = replay_core::adapters::aws_config().await;
    let client = aws_sdk_sqs::Client::new(&aws);
    let mut broken = Vec::new();
    for case in queue_contract::CASES {
        let url = client
            .create_queue()
            .queue_name(unique("qc-").replace('_', "-"))
            .attributes(QueueAttributeName::VisibilityTimeout, VISIBILITY_S.to_string())
            .send()
            .await?
            .queue_url
            .ok_or_else(|| anyhow::anyhow!("no queue url"))?;
        let bench = Sqs { client: client.clone(), url: url.clone(), queue: SqsQueue::new(client.clone(), url.clone()) };
        if let Err(why) = queue_contract::run(case, &bench).await {
            broken.push(format!("{case}: {}", why.0));
        }
        client.delete_queue().queue_url(&url).send().await?;
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    Ok(())
}

struct Kafka {
    config: KafkaConfig,
    log: KafkaLog,
    /// A log built after the topic grew: a log caches its partition count.
    grown: std::sync::OnceLock<KafkaLog>,
}

#[async_trait]
impl LogBench for Kafka {
    fn log(&self) -> &dyn DeliveryLog {
        self.grown.get().unwrap_or(&self.log)
    }
    async fn delete_before(&self, offset: i64) -> Result<()> {
        setup::delete_records(&self.config, 0, offset).await.map_err(|e| Error::Internal(format!("{e:#}")))
    }
    async fn add_partition(&self) -> Result<()> {
        let now = self.log().partition_count().await? as usize;
        setup::add_partitions(&self.config, now + 1).await.map_err(|e| Error::Internal(format!("{e:#}")))?;
        // The broker's metadata follows the growth soon after, not at once.
        for _ in 0..120 {
            let grown = KafkaLog::new(self.config.clone())?;
            if grown.partition_count().await? as usize == now + 1 && grown.watermarks(now as u32).await.is_ok() {
                let _ = self.grown.set(grown);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(Error::Internal(format!("the topic did not show {} partitions within 30 s", now + 1)))
    }
}

/// The log contract's records, as the seeder produces them.
fn contract_records() -> Vec<SeedRecord> {
    log_contract::records()
        .into_iter()
        .enumerate()
        .map(|(i, r)| SeedRecord {
            timestamp: r.timestamp,
            webhook_id: log_contract::WEBHOOK.to_owned(),
            event_id: format!("evt_{i:03}"),
            kind: SeedKind::Event,
            value: r.value,
        })
        .collect()
}

#[tokio::test]
async fn kafka_keeps_the_log_contract() -> anyhow::Result<()> {
    let env = LocalEnv::from_env()?;
    let records = contract_records();
    let mut broken = Vec::new();
    for case in log_contract::CASES {
        let config = KafkaConfig::plain(env.kafka.brokers.clone(), unique("lc_"));
        setup::create_topic(&config, 1).await?;
        produce(&config, &records).await?;
        let bench = Kafka { log: KafkaLog::new(config.clone())?, config, grown: Default::default() };
        if let Err(why) = log_contract::run(case, &bench).await {
            broken.push(format!("{case}: {}", why.0));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    Ok(())
}

/// The delivery log read through its index (the worker's log when
/// `LOG_INDEX` is on): Kafka, and the index the indexer wrote to MariaDB.
struct IndexedKafka {
    kafka: Kafka,
    index: Arc<MySqlLogIndex>,
    log: IndexedLog,
    grown: std::sync::OnceLock<IndexedLog>,
}

#[async_trait]
impl LogBench for IndexedKafka {
    fn log(&self) -> &dyn DeliveryLog {
        self.grown.get().unwrap_or(&self.log)
    }
    async fn delete_before(&self, offset: i64) -> Result<()> {
        self.kafka.delete_before(offset).await
    }
    async fn add_partition(&self) -> Result<()> {
        self.kafka.add_partition().await?;
        let grown = Arc::new(KafkaLog::new(self.kafka.config.clone())?);
        let _ = self.grown.set(IndexedLog { log: grown, index: self.index.clone() });
        Ok(())
    }
}

#[tokio::test]
async fn kafka_read_through_its_index_keeps_the_log_contract() -> anyhow::Result<()> {
    let env = LocalEnv::from_env()?;
    let store = MySqlStore::connect(&env.database_url).await?;
    let records = contract_records();
    let mut broken = Vec::new();
    for case in log_contract::CASES {
        let config = KafkaConfig::plain(env.kafka.brokers.clone(), unique("li_"));
        setup::create_topic(&config, 1).await?;
        produce(&config, &records).await?;
        let log = Arc::new(KafkaLog::new(config.clone())?);
        let index = Arc::new(MySqlLogIndex::new(store.clone(), config.topic.clone()));
        // The first 30 records indexed, in blocks of 4: the rest is read unindexed.
        let budget = IndexBudget {
            records_per_partition: 30,
            block_records: 4,
            ..IndexBudget::for_duration(0, Duration::from_secs(60))
        };
        let pass = index_log(log.as_ref(), index.as_ref(), budget).await?;
        assert_eq!(pass.records_indexed, 30, "{case}: the indexer's pass");
        let bench = IndexedKafka {
            kafka: Kafka { log: KafkaLog::new(config.clone())?, config, grown: Default::default() },
            log: IndexedLog { log, index: index.clone() },
            index,
            grown: Default::default(),
        };
        if let Err(why) = log_contract::run(case, &bench).await {
            broken.push(format!("{case}: {}", why.0));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    Ok(())
}

#[tokio::test]
async fn mariadb_keeps_the_index_contract() -> anyhow::Result<()> {
    let env = LocalEnv::from_env()?;
    let index = MySqlLogIndex::new(MySqlStore::connect(&env.database_url).await?, unique("ic_"));
    if let Err(why) = index_contract::run(&index).await {
        panic!("{}", why.0);
    }
    Ok(())
}
