//! The contract the slice queue keeps, as the workers see it: messages
//! arrive with their bodies and hand-back counts, a delayed message waits its
//! delay, a message received and not deleted comes back after the
//! visibility timeout, and the waiting count leaves out what is in flight.
//! The simulation's queue (sim/queue.rs) passes it in the unit tests and SQS
//! on LocalStack in the integration tests (tests/it/store_contracts.rs), so
//! what the simulation proves about redelivery holds for SQS.
//!
//! A queue delivers at least once: no case counts on a message arriving only
//! once. Waits are long beside one call to the queue (seconds), so a slow
//! machine cannot turn an answer.

use crate::domain::ids::JobId;
use crate::domain::task::QueueTask;
use crate::error::Error;
use crate::ports::SliceQueue;
use async_trait::async_trait;
use std::collections::BTreeSet;
use std::time::Duration;

/// A message as a worker receives it.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// What deletes it (SQS's receipt handle).
    pub receipt: String,
    pub body: String,
    pub handbacks: u32,
}

/// A queue to check (empty, and its own), with the consumer's side that the
/// port leaves to Lambda's event source mapping.
#[async_trait]
pub trait QueueBench: Send + Sync {
    fn queue(&self) -> &dyn SliceQueue;
    /// How long a received message stays hidden.
    fn visibility(&self) -> Duration;
    /// A visible message, if one comes within `within`.
    async fn receive(&self, within: Duration) -> crate::error::Result<Option<Delivered>>;
    async fn delete(&self, receipt: &str) -> crate::error::Result<()>;
    /// Lets `by` pass on the queue's clock.
    async fn advance(&self, by: Duration);
}

/// Why a case failed.
#[derive(Debug)]
pub struct Broken(pub String);

impl From<Error> for Broken {
    fn from(e: Error) -> Self {
        Broken(format!("the queue answered an error: {e}"))
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

/// Long enough for a message that is there to be found.
const FIND: Duration = Duration::from_secs(10);
/// Long enough to see that a message that is not there does not come.
const ABSENT: Duration = Duration::from_secs(1);
const DELAY_S: u32 = 5;

/// Every case, by name.
pub const CASES: &[&str] = &[
    "messages_arrive_with_their_bodies_and_in_flight_ones_are_not_waiting",
    "a_delayed_message_waits_its_delay",
    "a_message_not_deleted_comes_back_after_the_visibility_timeout",
    "a_hand_back_carries_its_count",
];

/// Runs one case of `CASES` on an empty queue.
pub async fn run(case: &str, bench: &dyn QueueBench) -> Outcome {
    match case {
        "messages_arrive_with_their_bodies_and_in_flight_ones_are_not_waiting" => {
            messages_arrive_with_their_bodies_and_in_flight_ones_are_not_waiting(bench).await
        }
        "a_delayed_message_waits_its_delay" => a_delayed_message_waits_its_delay(bench).await,
        "a_message_not_deleted_comes_back_after_the_visibility_timeout" => {
            a_message_not_deleted_comes_back_after_the_visibility_timeout(bench).await
        }
        "a_hand_back_carries_its_count" => a_hand_back_carries_its_count(bench).await,
        other => Err(Broken(format!("no case named {other}"))),
    }
}

fn slice(case: &str, index: u32) -> QueueTask {
    QueueTask::slice(JobId(format!("job_contract_{case}")), index, 0)
}

/// Receives until `want` distinct bodies came (copies are allowed), deleting each.
async fn drain(b: &dyn QueueBench, want: usize) -> Result<BTreeSet<String>, Broken> {
    let mut bodies = BTreeSet::new();
    while bodies.len() < want {
        let Some(m) = b.receive(FIND).await? else { break };
        b.delete(&m.receipt).await?;
        bodies.insert(m.body);
    }
    Ok(bodies)
}

async fn messages_arrive_with_their_bodies_and_in_flight_ones_are_not_waiting(b: &dyn QueueBench) -> Outcome {
    let tasks: Vec<QueueTask> = (0..12).map(|i| slice("bodies", i)).collect();
    b.queue().send(&tasks).await?;
    ensure!(b.queue().waiting_messages().await? >= 12, "sent messages are waiting");
    let sent: BTreeSet<String> = tasks.iter().map(QueueTask::to_json).collect();
    let received = drain(b, sent.len()).await?;
    ensure!(received == sent, "every body arrives as sent: {} of {}", received.len(), sent.len());
    b.queue().send(&[slice("bodies", 99)]).await?;
    let m = b.receive(FIND).await?.ok_or(Broken("the last message arrives".into()))?;
    ensure!(b.queue().waiting_messages().await? == 0, "a message in flight is not waiting");
    b.delete(&m.receipt).await?;
    Ok(())
}

async fn a_delayed_message_waits_its_delay(b: &dyn QueueBench) -> Outcome {
    let task = slice("delayed", 0);
    b.queue().send_delayed(&task, DELAY_S).await?;
    ensure!(b.receive(ABSENT).await?.is_none(), "nothing arrives before the delay");
    ensure!(b.queue().waiting_messages().await? == 1, "a delayed message is waiting");
    b.advance(Duration::from_secs(u64::from(DELAY_S) + 1)).await;
    let m = b.receive(FIND).await?.ok_or(Broken("the message arrives after its delay".into()))?;
    ensure!(m.body == task.to_json() && m.handbacks == 0, "as sent: {m:?}");
    b.delete(&m.receipt).await?;
    Ok(())
}

async fn a_message_not_deleted_comes_back_after_the_visibility_timeout(b: &dyn QueueBench) -> Outcome {
    let task = slice("visibility", 0);
    b.queue().send(std::slice::from_ref(&task)).await?;
    let first = b.receive(FIND).await?.ok_or(Broken("the message arrives".into()))?;
    ensure!(b.receive(ABSENT).await?.is_none(), "a received message is hidden");
    b.advance(b.visibility() + Duration::from_secs(1)).await;
    let again = b.receive(FIND).await?.ok_or(Broken("an undeleted message comes back".into()))?;
    ensure!(again.body == first.body, "the same message comes back");
    b.delete(&again.receipt).await?;
    b.advance(b.visibility() + Duration::from_secs(1)).await;
    ensure!(b.receive(ABSENT).await?.is_none(), "a deleted message stays gone");
    Ok(())
}

async fn a_hand_back_carries_its_count(b: &dyn QueueBench) -> Outcome {
    let body = slice("hand-back", 0).to_json();
    b.queue().hand_back(&body, 3, 0).await?;
    let m = b.receive(FIND).await?.ok_or(Broken("a handed-back message arrives".into()))?;
    ensure!(m.body == body && m.handbacks == 3, "body and count as handed back: {m:?}");
    b.delete(&m.receipt).await?;
    Ok(())
}
