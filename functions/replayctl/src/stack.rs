//! The local stack's coordinates, read from the environment that
//! `infra/local/env.sh` exports.

use anyhow::{Context, Result};
use replay_core::config::KafkaConfig;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct StackEnv {
    pub database_url: String,
    pub kafka: KafkaConfig,
    pub queue_name: String,
    pub table: String,
    pub pepper: String,
    pub repo_root: PathBuf,
    pub state_dir: PathBuf,
}

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: source infra/local/env.sh first"))
}

impl StackEnv {
    pub fn from_env() -> Result<Self> {
        let repo_root = std::env::var("REPLAY_REPO_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::current_dir().unwrap_or_default());
        Ok(Self {
            database_url: var("DATABASE_URL")?,
            kafka: KafkaConfig {
                brokers: var("KAFKA_BROKERS")?,
                topic: std::env::var("DELIVERY_LOG_TOPIC").unwrap_or_else(|_| "delivery_log".into()),
                extra: Vec::new(),
            },
            queue_name: std::env::var("SLICE_QUEUE_NAME").unwrap_or_else(|_| "replay-slices".into()),
            table: std::env::var("CHECKPOINT_TABLE").unwrap_or_else(|_| "replay_checkpoints".into()),
            pepper: var("API_KEY_PEPPER")?,
            state_dir: std::env::var("REPLAY_LOCAL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| repo_root.join(".local")),
            repo_root,
        })
    }

    pub async fn aws(&self) -> aws_config::SdkConfig {
        replay_core::adapters::aws_config().await
    }
}
