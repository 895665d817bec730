//! The contract every `CheckpointStore` keeps: leases taken, fenced,
//! renewed, released and expired, and checkpoints that come back as they
//! were saved. The in-memory store (which the simulation runs on) passes it
//! in the unit tests (adapters/memory/mod.rs), DynamoDB Local in the
//! integration tests (tests/it/store_contracts.rs), so the fake cannot drift
//! from DynamoDB's conditional writes.
//!
//! A lease that must still be held is taken for a minute; one that must
//! expire, for a few milliseconds before the bench lets more than that pass,
//! so a slow machine cannot turn either answer.

use crate::domain::checkpoint::{Checkpoint, FailedEvent, PartitionRange, Position, Retried, Settled, Tally};
use crate::domain::job::Counters;
use crate::error::Error;
use crate::ports::CheckpointStore;
use async_trait::async_trait;
use std::time::Duration;

/// A store to check.
#[async_trait]
pub trait CheckpointBench: Send + Sync {
    fn store(&self) -> &dyn CheckpointStore;
    /// A slice key no other case or run has used.
    fn key(&self, name: &str) -> String;
    /// Lets `by` pass on the clock the store's leases expire by.
    async fn advance(&self, by: Duration);
}

/// Why a case failed.
#[derive(Debug)]
pub struct Broken(pub String);

impl From<Error> for Broken {
    fn from(e: Error) -> Self {
        Broken(format!("the store answered an error: {e}"))
    }
}

type Outcome = Result<(), Broken>;

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(Broken(format!("{}: {}", stringify!($cond), format!($($why)+))));
        }
    };
}

/// Held for the whole case.
const HELD_MS: u64 = 60_000;
/// Expired once the bench advanced `EXPIRY_WAIT`.
const SHORT_MS: u64 = 20;
const EXPIRY_WAIT: Duration = Duration::from_millis(300);

/// Every case, by name.
pub const CASES: &[&str] = &[
    "one_owner_at_a_time_and_a_new_token_each_take",
    "a_stale_token_is_fenced_out",
    "a_released_lease_is_free_at_once_and_the_old_holder_is_out",
    "an_expired_lease_is_taken_over",
    "a_checkpoint_comes_back_as_it_was_saved",
];

/// Runs one case of `CASES`.
pub async fn run(case: &str, bench: &dyn CheckpointBench) -> Outcome {
    match case {
        "one_owner_at_a_time_and_a_new_token_each_take" => one_owner_at_a_time_and_a_new_token_each_take(bench).await,
        "a_stale_token_is_fenced_out" => a_stale_token_is_fenced_out(bench).await,
        "a_released_lease_is_free_at_once_and_the_old_holder_is_out" => {
            a_released_lease_is_free_at_once_and_the_old_holder_is_out(bench).await
        }
        "an_expired_lease_is_taken_over" => an_expired_lease_is_taken_over(bench).await,
        "a_checkpoint_comes_back_as_it_was_saved" => a_checkpoint_comes_back_as_it_was_saved(bench).await,
        other => Err(Broken(format!("no case named {other}"))),
    }
}

fn lease_lost(result: crate::error::Result<()>) -> bool {
    matches!(result, Err(Error::LeaseLost))
}

async fn one_owner_at_a_time_and_a_new_token_each_take(b: &dyn CheckpointBench) -> Outcome {
    let (store, key) = (b.store(), b.key("one-owner"));
    let (first, cp) = store.acquire(&key, "worker-a", HELD_MS).await?.ok_or(Broken("a new key is free".into()))?;
    ensure!(!cp.started() && !cp.done && cp.counters == Counters::default(), "a new key has an empty checkpoint");
    ensure!(store.acquire(&key, "worker-b", HELD_MS).await?.is_none(), "another owner is refused while held");
    let (again, _) =
        store.acquire(&key, "worker-a", HELD_MS).await?.ok_or(Broken("the holder may take its lease again".into()))?;
    ensure!(again.token > first.token, "each take fences the last: {} then {}", first.token, again.token);
    store.renew(&key, &again, HELD_MS).await?;
    ensure!(store.acquire(&key, "worker-b", HELD_MS).await?.is_none(), "still held after a renewal");
    Ok(())
}

async fn a_stale_token_is_fenced_out(b: &dyn CheckpointBench) -> Outcome {
    let (store, key) = (b.store(), b.key("stale-token"));
    let (old, _) = store.acquire(&key, "worker-a", HELD_MS).await?.ok_or(Broken("a new key is free".into()))?;
    let (new, _) = store.acquire(&key, "worker-a", HELD_MS).await?.ok_or(Broken("the holder takes it again".into()))?;
    let cp = Checkpoint { position: Position { partition: 0, offset: 5 }, ..Checkpoint::default() };
    ensure!(lease_lost(store.save(&key, &old, &cp, HELD_MS).await), "a save with the older token is refused");
    ensure!(lease_lost(store.renew(&key, &old, HELD_MS).await), "a renewal with the older token is refused");
    store.save(&key, &new, &cp, HELD_MS).await?;
    store.release(&key, &old).await?;
    ensure!(store.acquire(&key, "worker-b", HELD_MS).await?.is_none(), "a release with the older token frees nothing");
    Ok(())
}

async fn a_released_lease_is_free_at_once_and_the_old_holder_is_out(b: &dyn CheckpointBench) -> Outcome {
    let (store, key) = (b.store(), b.key("released"));
    let (lease, _) = store.acquire(&key, "worker-a", HELD_MS).await?.ok_or(Broken("a new key is free".into()))?;
    let cp = Checkpoint { position: Position { partition: 0, offset: 9 }, ..Checkpoint::default() };
    store.save(&key, &lease, &cp, HELD_MS).await?;
    store.release(&key, &lease).await?;
    // A renewal or save of the released holder still in flight must not take it back.
    ensure!(lease_lost(store.renew(&key, &lease, HELD_MS).await), "the released holder cannot renew");
    ensure!(lease_lost(store.save(&key, &lease, &cp, HELD_MS).await), "the released holder cannot save");
    let (next, cp) =
        store.acquire(&key, "worker-b", HELD_MS).await?.ok_or(Broken("a released lease is free at once".into()))?;
    ensure!(next.token > lease.token, "the next take fences the released one");
    ensure!(cp.position.offset == 9, "the checkpoint saved before the release is kept: {:?}", cp.position);
    Ok(())
}

async fn an_expired_lease_is_taken_over(b: &dyn CheckpointBench) -> Outcome {
    let (store, key) = (b.store(), b.key("expired"));
    let (frozen, _) = store.acquire(&key, "worker-a", SHORT_MS).await?.ok_or(Broken("a new key is free".into()))?;
    b.advance(EXPIRY_WAIT).await;
    let (taker, _) =
        store.acquire(&key, "worker-b", HELD_MS).await?.ok_or(Broken("an expired lease is taken over".into()))?;
    ensure!(taker.token > frozen.token, "the take-over fences the frozen holder");
    let cp = Checkpoint { position: Position { partition: 0, offset: 3 }, ..Checkpoint::default() };
    ensure!(lease_lost(store.save(&key, &frozen, &cp, HELD_MS).await), "the frozen holder's save is refused");
    ensure!(lease_lost(store.renew(&key, &frozen, HELD_MS).await), "the frozen holder's renewal is refused");
    ensure!(store.acquire(&key, "worker-a", HELD_MS).await?.is_none(), "the frozen holder cannot take it back");
    Ok(())
}

async fn a_checkpoint_comes_back_as_it_was_saved(b: &dyn CheckpointBench) -> Outcome {
    let (store, key) = (b.store(), b.key("round-trip"));
    let (lease, _) = store.acquire(&key, "worker-a", HELD_MS).await?.ok_or(Broken("a new key is free".into()))?;
    let saved = Checkpoint {
        version: crate::domain::checkpoint::CHECKPOINT_VERSION,
        ranges: vec![
            PartitionRange { partition: 2, scan_from: 10, end: 500 },
            PartitionRange { partition: 5, scan_from: 0, end: 42 },
        ],
        position: Position { partition: 1, offset: 37 },
        watermark: Some(1_796_000_400_123),
        counters: Counters {
            events_scanned: 120,
            events_matched: 80,
            events_delivered: 70,
            duplicates_skipped: 4,
            delivery_failures: 3,
            events_filtered: 3,
            events_without_outcome: 1,
            malformed: 2,
            records_expired: 5,
            ..Counters::default()
        },
        ahead: vec![(0xdead_beef, Settled::Delivered), (0x0bad_cafe, Settled::Failed)],
        retries: vec![(0x1234_5678_9abc_def0, Retried { attempts: 4, failing_ms: 61_500 })],
        done: false,
        pauses: 2,
        legacy_dedup: Vec::new(),
        tally: Tally { by_event_type: [("order.paid".to_owned(), 7)].into(), payload_bytes: 4_096 },
        unlisted: vec![FailedEvent {
            event_id: "evt_\"quoted\"".into(),
            event_type: "order.paid".into(),
            attempts: 6,
            last_status: Some(410),
            error: "HTTP 410".into(),
        }],
    };
    store.save(&key, &lease, &saved, HELD_MS).await?;
    store.release(&key, &lease).await?;
    let (_, read) = store.acquire(&key, "worker-b", HELD_MS).await?.ok_or(Broken("released".into()))?;
    let (saved, read) = (format!("{saved:?}"), format!("{read:?}"));
    ensure!(saved == read, "saved {saved}\n read {read}");
    Ok(())
}
