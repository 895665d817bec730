//! The job ledger's contract (replay_core::ports::ledger_contract) on
//! MariaDB: the same cases the in-memory ledger passes in the unit tests, so
//! the fake the simulation runs on keeps to what the system of record does.
//! Each case gets a database of its own; the clock moves by moving every
//! recorded time back.

use async_trait::async_trait;
use replay_core::adapters::mysql::{MySqlStore, TenantLimits};
use replay_core::domain::ids::{TenantId, WebhookId};
use replay_core::error::Result;
use replay_core::ports::ledger_contract::{self, LedgerBench};
use replay_core::ports::{JobLedger, SliceProgress};
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_lab::setup;
use replay_integration_tests::replay_lab::stack::LocalEnv;
use replay_integration_tests::*;
use std::time::Duration;

struct MariaDb {
    store: MySqlStore,
    /// Every DATETIME column of the schema, by table: the clock moves them
    /// all, so a column a migration adds cannot be left behind (a list kept
    /// by hand once missed `restart_sent_at`).
    time_columns: Vec<(String, Vec<String>)>,
}

impl MariaDb {
    async fn connect(url: &str) -> Result<Self> {
        let store = MySqlStore::connect(url).await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name, column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND data_type = 'datetime' ORDER BY table_name, column_name",
        )
        .fetch_all(store.pool())
        .await?;
        let mut time_columns: Vec<(String, Vec<String>)> = Vec::new();
        for (table, column) in rows {
            match time_columns.last_mut() {
                Some((last, columns)) if *last == table => columns.push(column),
                _ => time_columns.push((table, vec![column])),
            }
        }
        Ok(Self { store, time_columns })
    }

    fn moves(&self, table: &str, column: &str) -> bool {
        self.time_columns.iter().any(|(t, columns)| t == table && columns.iter().any(|c| c == column))
    }
}

#[async_trait]
impl LedgerBench for MariaDb {
    fn ledger(&self) -> &dyn JobLedger {
        &self.store
    }
    fn progress(&self) -> &dyn SliceProgress {
        &self.store
    }
    async fn tenant(&self, name: &str) -> Result<TenantId> {
        Ok(create_tenant(&self.store, PEPPER, name).await?.tenant_id)
    }
    async fn webhook(&self, tenant: &TenantId, url: &str) -> Result<WebhookId> {
        let id = WebhookId::generate();
        // The sealed secret is never opened here.
        self.store.insert_webhook(tenant, &id, url, "sealed-secret-not-opened").await?;
        Ok(id)
    }
    async fn delete_webhook(&self, tenant: &TenantId, webhook: &WebhookId) -> Result<()> {
        self.store.delete_webhook(tenant, webhook).await
    }
    async fn set_running_cap(&self, tenant: &TenantId, cap: u32) -> Result<()> {
        let limits = TenantLimits { max_running_slices: Some(cap), ..self.store.tenant_limits(tenant).await? };
        self.store.set_tenant_limits(tenant, &limits).await
    }
    async fn advance(&self, by: Duration) -> Result<()> {
        for (table, columns) in &self.time_columns {
            let set: Vec<String> =
                columns.iter().map(|c| format!("{c} = {c} - INTERVAL {} MICROSECOND", by.as_micros())).collect();
            sqlx::query(&format!("UPDATE {table} SET {}", set.join(", "))).execute(self.store.pool()).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn mariadb_keeps_the_ledger_contract() -> anyhow::Result<()> {
    let env = LocalEnv::from_env()?;
    // The clock finds the columns it moves; a query that found none would
    // pass cases vacuously or fail them for the wrong reason.
    {
        let database = unique("lc_");
        let url = setup::create_database(&env.database_url, &database).await?;
        let bench = MariaDb::connect(&url).await?;
        let moved = ["heartbeat_at", "restart_sent_at", "paused_until"].map(|c| bench.moves("replay_slices", c));
        bench.store.pool().close().await;
        setup::drop_database(&env.database_url, &database).await?;
        assert_eq!(moved, [true; 3], "the clock moves the slices' time columns");
    }
    let mut broken = Vec::new();
    for case in ledger_contract::CASES {
        let database = unique("lc_");
        let url = setup::create_database(&env.database_url, &database).await?;
        let bench = MariaDb::connect(&url).await?;
        if let Err(why) = ledger_contract::run(case, &bench).await {
            broken.push(format!("{case}: {}", why.0));
        }
        bench.store.pool().close().await;
        setup::drop_database(&env.database_url, &database).await?;
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    Ok(())
}
