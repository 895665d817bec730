//! MySQL (MariaDB locally, RDS/Aurora in AWS): the system of record, one file
//! per table (tenants and keys, webhooks, jobs, slices, failures, partition
//! counts, the audit trail, the log's index), the fair choice of the next slice and the purge of ended jobs. Every tenant-facing query is scoped by tenant id.

mod audit;
mod failures;
mod fair_share;
mod jobs;
mod log_index;
mod partitions;
mod ports;
mod purge;
mod slices;
mod tenants;
mod webhooks;

pub use crate::ports::directory::{AuditEntry, PlaintextSecret, StoredSecrets, TenantLimits, OPERATOR};
pub use audit::AuditRow;
pub use log_index::MySqlLogIndex;
pub use webhooks::WebhookRow;

use crate::domain::job::{Counters, JobState, SliceState};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
}

/// Job states whose slices may run (`JobState::is_active`).
const ACTIVE_STATES: &str = "('OPEN','STARTED','ONGOING')";

/// Job states that hold the webhook's one active job and the tenant's
/// active-job slot: active or paused (`JobState::is_live`).
const LIVE_STATES: &str = "('OPEN','STARTED','ONGOING','PAUSED')";

pub fn format_time(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn is_duplicate_key(e: &sqlx::Error, index: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23000") && db.message().contains(index))
}

fn parse_state(s: &str) -> Result<JobState> {
    JobState::parse(s).ok_or_else(|| Error::Internal(format!("unknown job state {s}")))
}

fn parse_slice_state(s: &str) -> Result<SliceState> {
    SliceState::parse(s).ok_or_else(|| Error::Internal(format!("unknown slice state {s}")))
}

/// The counter columns of `replay_slices`, in `Counters` order.
const COUNTER_COLUMNS: [&str; 14] = [
    "events_scanned",
    "events_matched",
    "events_delivered",
    "duplicates_skipped",
    "delivery_failures",
    "events_filtered",
    "malformed",
    "records_expired",
    "clock_anomalies",
    "events_selected",
    "events_without_outcome",
    "unusable_ids",
    "records_skipped",
    "records_unindexed",
];

fn counter_values(c: &Counters) -> [i64; 14] {
    [
        c.events_scanned,
        c.events_matched,
        c.events_delivered,
        c.duplicates_skipped,
        c.delivery_failures,
        c.events_filtered,
        c.malformed,
        c.records_expired,
        c.clock_anomalies,
        c.events_selected,
        c.events_without_outcome,
        c.unusable_ids,
        c.records_skipped,
        c.records_unindexed,
    ]
    .map(|v| v as i64)
}

/// `events_scanned = ?, events_matched = ?, ...` for an UPDATE.
fn counters_set() -> String {
    COUNTER_COLUMNS.iter().map(|c| format!("{c} = ?")).collect::<Vec<_>>().join(", ")
}

/// Counters read from columns named like COUNTER_COLUMNS (sums or values).
fn counters_of(row: &MySqlRow) -> Result<Counters> {
    let get = |name: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(Counters {
        events_scanned: get(COUNTER_COLUMNS[0])?,
        events_matched: get(COUNTER_COLUMNS[1])?,
        events_delivered: get(COUNTER_COLUMNS[2])?,
        duplicates_skipped: get(COUNTER_COLUMNS[3])?,
        delivery_failures: get(COUNTER_COLUMNS[4])?,
        events_filtered: get(COUNTER_COLUMNS[5])?,
        malformed: get(COUNTER_COLUMNS[6])?,
        records_expired: get(COUNTER_COLUMNS[7])?,
        clock_anomalies: get(COUNTER_COLUMNS[8])?,
        events_selected: get(COUNTER_COLUMNS[9])?,
        events_without_outcome: get(COUNTER_COLUMNS[10])?,
        unusable_ids: get(COUNTER_COLUMNS[11])?,
        records_skipped: get(COUNTER_COLUMNS[12])?,
        records_unindexed: get(COUNTER_COLUMNS[13])?,
    })
}

impl MySqlStore {
    /// A pool of 5 connections (operator tools and tests).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, 5).await
    }

    /// A pool of at most `max_connections`: a function's share of the
    /// database's connection budget (docs/operations.md, "Connection budget").
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self> {
        let options = MySqlConnectOptions::from_str(url)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // Lazy: a cold start never fails because MySQL is down; requests answer 503 instead.
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Applies `migrations/` (the operator's `replayctl migrate`; never at cold start).
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Runs `select` for candidates, then claims each with `claim` (a
    /// conditional UPDATE); returns the ones this caller won. Concurrent
    /// sweepers never both win a row.
    async fn claim_each<T: Send>(
        &self,
        candidates: Vec<T>,
        claim: impl Fn(&T) -> sqlx::query::Query<'_, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    ) -> Result<Vec<T>> {
        let mut won = Vec::new();
        for candidate in candidates {
            if claim(&candidate).execute(&self.pool).await?.rows_affected() == 1 {
                won.push(candidate);
            }
        }
        Ok(won)
    }
}
