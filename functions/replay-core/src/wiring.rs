//! The real adapters behind each function's context, built once per cold
//! start from the settings: the only place that chooses MySQL, SQS,
//! DynamoDB, Kafka, KMS and HTTP for the use cases in `services/`.

use crate::adapters::dns::HostResolver;
use crate::adapters::dynamo::DynamoCheckpoints;
use crate::adapters::http::HttpDeliverer;
use crate::adapters::kafka::KafkaLog;
use crate::adapters::kms::KmsKeys;
use crate::adapters::mysql::{MySqlLogIndex, MySqlStore};
use crate::adapters::sqs::SqsQueue;
use crate::config::Settings;
use crate::error::Result;
use crate::ports::{DeliveryLog, LogIndex};
use crate::services::api::ApiContext;
use crate::services::indexed_log::IndexedLog;
use crate::services::secrets::StoreSigners;
use crate::services::sweeper::SweeperContext;
use crate::services::worker::WorkerContext;
use aws_config::SdkConfig;
use std::sync::Arc;

async fn mysql(settings: &Settings) -> Result<MySqlStore> {
    MySqlStore::connect_with(settings.database_url.expose(), settings.database_max_connections).await
}

fn queue(settings: &Settings, aws: &SdkConfig) -> SqsQueue {
    SqsQueue::new(aws_sdk_sqs::Client::new(aws), settings.queue_url.clone())
}

fn keys(settings: &Settings, aws: &SdkConfig) -> Box<KmsKeys> {
    Box::new(KmsKeys::new(aws_sdk_kms::Client::new(aws), settings.webhook_secrets_key_id.clone()))
}

fn log_index(settings: &Settings, store: &MySqlStore) -> Arc<dyn LogIndex> {
    Arc::new(MySqlLogIndex::new(store.clone(), settings.kafka.topic.clone()))
}

/// The log a slice reads: through its index when `LOG_INDEX` is on.
fn worker_log(settings: &Settings, store: &MySqlStore) -> Result<Arc<dyn DeliveryLog>> {
    let log: Arc<dyn DeliveryLog> = Arc::new(KafkaLog::new(settings.kafka.clone())?);
    if !settings.log_index.enabled {
        return Ok(log);
    }
    Ok(Arc::new(IndexedLog { log, index: log_index(settings, store) }))
}

impl ApiContext {
    /// MySQL, SQS, Kafka, the DNS resolver of the outbound policy, KMS.
    pub async fn connect(settings: Settings, aws: &SdkConfig) -> Result<Self> {
        Ok(Self {
            store: Box::new(mysql(&settings).await?),
            queue: Box::new(queue(&settings, aws)),
            log: Box::new(KafkaLog::new(settings.kafka.clone())?),
            resolver: HostResolver::new(settings.dns_server)?,
            keys: keys(&settings, aws),
            settings,
        })
    }
}

impl WorkerContext {
    /// MySQL (ledger, progress, secrets), Kafka, DynamoDB, HTTP, SQS, KMS.
    pub async fn connect(settings: &Settings, aws: &SdkConfig) -> Result<Self> {
        let store = mysql(settings).await?;
        Ok(Self {
            ledger: Arc::new(store.clone()),
            progress: Arc::new(store.clone()),
            signers: Arc::new(StoreSigners { store: Box::new(store.clone()), keys: keys(settings, aws) }),
            log: worker_log(settings, &store)?,
            checkpoints: Arc::new(DynamoCheckpoints::new(
                aws_sdk_dynamodb::Client::new(aws),
                settings.checkpoint_table.clone(),
                settings.worker.checkpoint_ttl,
            )),
            deliverer: Arc::new(HttpDeliverer::new(settings.delivery.clone())?),
            queue: Arc::new(queue(settings, aws)),
            cfg: settings.worker.clone(),
            delivery_concurrency: settings.delivery.concurrency,
            max_parallel_slices: settings.max_parallel_slices,
            fair_share: settings.fair_share,
            pause: settings.pause,
        })
    }
}

impl SweeperContext {
    /// MySQL (ledger, housekeeping), SQS, Kafka.
    pub async fn connect(settings: &Settings, aws: &SdkConfig) -> Result<Self> {
        let store = mysql(settings).await?;
        let index = settings.log_index.enabled.then(|| log_index(settings, &store));
        Ok(Self {
            ledger: Arc::new(store.clone()),
            housekeeping: Arc::new(store),
            queue: Arc::new(queue(settings, aws)),
            log: Arc::new(KafkaLog::new(settings.kafka.clone())?),
            topic: settings.kafka.topic.clone(),
            stale_after: settings.stale_after,
            max_restarts: settings.max_restarts,
            max_parallel_slices: settings.max_parallel_slices,
            max_running_slices: settings.fair_share.max_running_slices,
            purge: settings.purge.clone(),
            index,
            index_config: settings.log_index,
        })
    }
}
