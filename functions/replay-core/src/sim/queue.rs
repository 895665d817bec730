//! A simulated SQS queue on tokio's (virtual) clock: messages visible after
//! their delay, hidden for the visibility timeout once received and visible
//! again unless deleted (a crashed or failed invocation), and delivered at
//! least once: some sends arrive twice, the copy up to a minute late.

use crate::adapters::memory::lock;
use crate::domain::task::QueueTask;
use crate::error::Result;
use crate::ports::SliceQueue;
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

struct Message {
    body: String,
    handbacks: u32,
    visible_at: Instant,
    /// Received and not deleted: hidden until `visible_at`.
    in_flight: bool,
}

/// A message as a worker receives it.
pub struct Received {
    pub id: u64,
    pub body: String,
    pub handbacks: u32,
}

pub struct SimQueue {
    visibility: Duration,
    duplicate_rate: f64,
    rng: Mutex<StdRng>,
    messages: Mutex<BTreeMap<u64, Message>>,
    next_id: Mutex<u64>,
}

impl SimQueue {
    pub fn new(visibility: Duration, duplicate_rate: f64, rng: StdRng) -> Self {
        Self { visibility, duplicate_rate, rng: Mutex::new(rng), messages: Mutex::default(), next_id: Mutex::new(0) }
    }

    fn push(&self, body: String, handbacks: u32, delay: Duration) {
        let now = Instant::now();
        let copies = {
            let mut rng = lock(&self.rng);
            let late = rng.gen_bool(self.duplicate_rate).then(|| Duration::from_millis(rng.gen_range(0..60_000)));
            std::iter::once(delay).chain(late.map(|l| delay + l)).collect::<Vec<_>>()
        };
        let mut messages = lock(&self.messages);
        for delay in copies {
            let mut next = lock(&self.next_id);
            *next += 1;
            let message = Message { body: body.clone(), handbacks, visible_at: now + delay, in_flight: false };
            messages.insert(*next, message);
        }
    }

    /// The visible message sent first, now hidden for the visibility timeout.
    pub fn receive(&self) -> Option<Received> {
        let now = Instant::now();
        let mut messages = lock(&self.messages);
        let (&id, message) =
            messages.iter_mut().filter(|(_, m)| m.visible_at <= now).min_by_key(|(id, m)| (m.visible_at, **id))?;
        message.visible_at = now + self.visibility;
        message.in_flight = true;
        Some(Received { id, body: message.body.clone(), handbacks: message.handbacks })
    }

    pub fn delete(&self, id: u64) {
        lock(&self.messages).remove(&id);
    }

    /// When the next message becomes visible (None: the queue is empty).
    pub fn next_visible(&self) -> Option<Instant> {
        lock(&self.messages).values().map(|m| m.visible_at).min()
    }

    /// Messages queued, visible or not.
    pub fn len(&self) -> usize {
        lock(&self.messages).len()
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.messages).is_empty()
    }
}

#[async_trait]
impl SliceQueue for SimQueue {
    async fn send(&self, tasks: &[QueueTask]) -> Result<()> {
        for task in tasks {
            self.push(task.to_json(), 0, Duration::ZERO);
        }
        Ok(())
    }

    async fn send_delayed(&self, task: &QueueTask, delay_s: u32) -> Result<()> {
        self.push(task.to_json(), 0, Duration::from_secs(delay_s.into()));
        Ok(())
    }

    async fn hand_back(&self, body: &str, handbacks: u32, delay_s: u32) -> Result<()> {
        self.push(body.to_owned(), handbacks, Duration::from_secs(delay_s.into()));
        Ok(())
    }

    /// Visible and delayed messages, not those in flight (SQS's approximate counts).
    async fn waiting_messages(&self) -> Result<u64> {
        let now = Instant::now();
        let messages = lock(&self.messages);
        Ok(messages.values().filter(|m| !(m.in_flight && m.visible_at > now)).count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::queue_contract::{self, Delivered, QueueBench};
    use rand::SeedableRng;

    #[async_trait]
    impl QueueBench for SimQueue {
        fn queue(&self) -> &dyn SliceQueue {
            self
        }
        fn visibility(&self) -> Duration {
            self.visibility
        }
        async fn receive(&self, within: Duration) -> Result<Option<Delivered>> {
            let until = Instant::now() + within;
            loop {
                if let Some(m) = SimQueue::receive(self) {
                    let (receipt, body, handbacks) = (m.id.to_string(), m.body, m.handbacks);
                    return Ok(Some(Delivered { receipt, body, handbacks }));
                }
                if Instant::now() >= until {
                    return Ok(None);
                }
                tokio::time::advance(Duration::from_millis(100)).await;
            }
        }
        async fn delete(&self, receipt: &str) -> Result<()> {
            SimQueue::delete(self, receipt.parse().map_err(|_| crate::error::Error::Internal(receipt.into()))?);
            Ok(())
        }
        async fn advance(&self, by: Duration) {
            tokio::time::advance(by).await;
        }
    }

    /// Without its duplicates (the contract counts on none, and allows them).
    #[tokio::test(start_paused = true)]
    async fn the_simulated_queue_keeps_the_queue_contract() {
        let mut broken = Vec::new();
        for case in queue_contract::CASES {
            let queue = SimQueue::new(Duration::from_secs(5), 0.0, StdRng::seed_from_u64(1));
            if let Err(why) = queue_contract::run(case, &queue).await {
                broken.push(format!("{case}: {}", why.0));
            }
        }
        assert!(broken.is_empty(), "{}", broken.join("\n"));
    }
}
