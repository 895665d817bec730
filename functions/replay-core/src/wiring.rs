//! The real adapters behind each function's context, built once per cold
//! start from the settings: the only place that chooses MySQL, SQS,
//! DynamoDB, Kafka, KMS and HTTP for the use cases in `services/`.

use crate::adapters::dns::HostResolver;
use crate::adapters::dynamo::DynamoCheckpoints;
use crate::adapters::http::HttpDeliverer;
use crate::adapters::kafka::KafkaLog;
use crate::adapters::kms::KmsKeys;
use crate::adapters::mysql::MySqlStore;
use crate::adapters::sqs::SqsQueue;
use crate::config::Settings;
use crate::error::Result;
use crate::services::api::ApiContext;
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
            signers: Arc::new(StoreSigners { store: Box::new(store), keys: keys(settings, aws) }),
            log: Arc::new(KafkaLog::new(settings.kafka.clone())?),
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
        })
    }
}

impl SweeperContext {
    /// MySQL (ledger, housekeeping), SQS, Kafka.
    pub async fn connect(settings: &Settings, aws: &SdkConfig) -> Result<Self> {
        let store = mysql(settings).await?;
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
        })
    }
}
