//! The slice's commit queue: every record it read that matters, in log order,
//! until its outcome is known. Deliveries finish out of order; the
//! checkpoint only ever covers the prefix of the log whose every record is
//! settled, so a resumed slice repeats nothing that was accounted for and
//! skips nothing that was not. Events settled beyond that prefix (a clean
//! stop) travel in the checkpoint's `ahead` list.

use crate::domain::checkpoint::{Position, Settled, Tally};
use crate::domain::job::Counters;
use crate::ports::{Delivery, FailedEvent};
use std::collections::{BTreeSet, HashMap, VecDeque};

#[derive(Debug)]
pub enum State {
    /// Accounted for: `delta` is final.
    Settled,
    /// To be delivered; not started yet (or interrupted and to be tried again).
    Queued(Box<Delivery>),
    InFlight,
    /// A delivery that failed with the receiver looking down: a failure once a
    /// later delivery succeeds, tried again after the pause if the circuit opens.
    Provisional(Box<Delivery>, FailedEvent),
    /// An event at the window's start, waiting until no earlier copy of it can
    /// turn up (the watermark passing `from + skew`).
    Held {
        delivery: Box<Delivery>,
        hash: u64,
        timestamp: i64,
    },
}

#[derive(Debug)]
pub struct Entry {
    /// Where reading resumes once this entry and all before it are settled.
    pub position: Position,
    pub watermark: Option<i64>,
    pub delta: Counters,
    pub state: State,
    /// The event's hash (events only), for the `ahead` list.
    pub hash: Option<u64>,
    /// Payload bytes held.
    pub bytes: usize,
    /// A dry run's event, to tally once committed: its type and payload bytes.
    pub tally: Option<(String, u64)>,
    /// An ordered job's event: its key (domain/ordering.rs).
    pub order_key: Option<u64>,
}

impl Entry {
    pub fn settled(position: Position, watermark: Option<i64>, delta: Counters) -> Self {
        Self { position, watermark, delta, state: State::Settled, hash: None, bytes: 0, tally: None, order_key: None }
    }

    fn is_settled(&self) -> bool {
        matches!(self.state, State::Settled)
    }
}

/// What committing moved past.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Committed {
    pub position: Option<Position>,
    pub watermark: Option<i64>,
    pub delta: Counters,
    pub tally: Tally,
}

#[derive(Debug, Default)]
pub struct CommitQueue {
    entries: VecDeque<Entry>,
    /// Id of the entry at the front (ids are consecutive).
    front_id: u64,
    /// Events in the queue that are not settled (held, queued, in flight, provisional).
    pub unsettled_events: usize,
    pub bytes: usize,
    /// What every settled entry in the queue counted: kept as entries settle
    /// and leave, so the progress a heartbeat reports costs nothing per commit.
    settled: Counters,
    /// An ordered job's unsettled events per key, in log order: only the
    /// first of each may be in flight.
    keys: HashMap<u64, BTreeSet<u64>>,
}

impl CommitQueue {
    pub fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry; returns its id. Settled entries next to each other
    /// are merged, so other webhooks' records cost nothing here.
    pub fn push(&mut self, entry: Entry) -> u64 {
        if entry.is_settled() && entry.hash.is_none() && entry.tally.is_none() {
            if let Some(last) = self.entries.back_mut() {
                if last.is_settled() && last.hash.is_none() && last.tally.is_none() {
                    last.position = entry.position;
                    last.watermark = entry.watermark.or(last.watermark);
                    last.delta.add(&entry.delta);
                    self.settled.add(&entry.delta);
                    return self.front_id + self.entries.len() as u64 - 1;
                }
            }
        }
        let id = self.front_id + self.entries.len() as u64;
        if entry.is_settled() {
            self.settled.add(&entry.delta);
        } else {
            self.unsettled_events += 1;
            if let Some(key) = entry.order_key {
                self.keys.entry(key).or_default().insert(id);
            }
        }
        self.bytes += entry.bytes;
        self.entries.push_back(entry);
        id
    }

    /// Whether an entry may start: always, unless an earlier event of its
    /// key is still unsettled (an ordered job's).
    pub fn may_start(&self, id: u64) -> bool {
        let Some(key) = self.get(id).and_then(|e| e.order_key) else { return true };
        self.keys.get(&key).and_then(|ids| ids.first()).is_none_or(|&first| first == id)
    }

    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.get(id.checked_sub(self.front_id)? as usize)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        let index = id.checked_sub(self.front_id)? as usize;
        self.entries.get_mut(index)
    }

    /// Marks an entry settled with its outcome added to its delta.
    pub fn settle(&mut self, id: u64, outcome: &Counters) {
        let Some(entry) = self.get_mut(id) else { return };
        if entry.is_settled() {
            return;
        }
        entry.delta.add(outcome);
        entry.state = State::Settled;
        let (delta, bytes, key) = (entry.delta, std::mem::take(&mut entry.bytes), entry.order_key);
        if let Some(key) = key {
            if let Some(ids) = self.keys.get_mut(&key) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.keys.remove(&key);
                }
            }
        }
        self.settled.add(&delta);
        self.unsettled_events -= 1;
        self.bytes -= bytes;
    }

    /// Settles an entry that a dry run counted, with what to tally.
    pub fn settle_counted(&mut self, id: u64, outcome: &Counters, tally: (String, u64)) {
        if let Some(entry) = self.get_mut(id) {
            entry.tally = Some(tally);
        }
        self.settle(id, outcome);
    }

    /// Pops the settled prefix.
    pub fn commit(&mut self) -> Committed {
        let mut done = Committed::default();
        while self.entries.front().is_some_and(Entry::is_settled) {
            let Some(entry) = self.entries.pop_front() else { break };
            self.front_id += 1;
            self.settled.remove(&entry.delta);
            done.position = Some(entry.position);
            done.watermark = entry.watermark.or(done.watermark);
            done.delta.add(&entry.delta);
            if let Some((event_type, bytes)) = &entry.tally {
                done.tally.count(event_type, *bytes);
            }
        }
        done
    }

    /// Ids of entries in a state, in log order.
    pub fn ids_where(&self, mut pick: impl FnMut(&State) -> bool) -> Vec<u64> {
        self.entries.iter().enumerate().filter(|(_, e)| pick(&e.state)).map(|(i, _)| self.front_id + i as u64).collect()
    }

    /// What the entries settled after the first unsettled one counted.
    /// Right after a commit the settled prefix is empty: no entry is walked.
    pub fn ahead_counters(&self) -> Counters {
        let mut sum = self.settled;
        for e in self.entries.iter().take_while(|e| e.is_settled()) {
            sum.remove(&e.delta);
        }
        sum
    }

    /// Events settled after the first unsettled one, with how they ended:
    /// what a clean stop saves beside the position.
    pub fn ahead(&self) -> Vec<(u64, Settled)> {
        self.entries
            .iter()
            .skip_while(|e| e.is_settled())
            .filter(|e| e.is_settled())
            .filter_map(|e| {
                let hash = e.hash?;
                if e.delta.events_delivered > 0 {
                    Some((hash, Settled::Delivered))
                } else if e.delta.delivery_failures > 0 {
                    Some((hash, Settled::Failed))
                } else {
                    None
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signing::{generate_secret, SigningKey};

    fn pos(offset: i64) -> Position {
        Position { partition: 0, offset }
    }

    fn delivery() -> Box<Delivery> {
        Box::new(Delivery {
            url: "http://x/".into(),
            message_id: "e".into(),
            event_type: "t".into(),
            body: bytes::Bytes::from_static(b"{}"),
            job_id: "job".into(),
            key: SigningKey::from_secret(&generate_secret()).unwrap().into(),
            source_webhook_id: None,
        })
    }

    #[test]
    fn commits_only_the_settled_prefix_and_keeps_what_finished_ahead() {
        let mut q = CommitQueue::new();
        let scanned = Counters { events_scanned: 3, ..Counters::default() };
        q.push(Entry::settled(pos(3), Some(10), scanned));
        q.push(Entry::settled(pos(5), Some(11), scanned)); // merged with the first
        assert_eq!(q.len(), 1);
        let a = q.push(Entry {
            state: State::Queued(delivery()),
            hash: Some(1),
            bytes: 10,
            ..Entry::settled(pos(6), Some(12), Counters::default())
        });
        assert_eq!((q.unsettled_events, q.bytes), (1, 10));
        let b = q.push(Entry {
            state: State::InFlight,
            hash: Some(2),
            ..Entry::settled(pos(7), None, Counters::default())
        });
        q.settle(b, &Counters { events_delivered: 1, ..Counters::default() });
        let delivered = Counters { events_delivered: 1, ..Counters::default() };
        assert_eq!(q.ahead_counters(), delivered, "before a commit the settled prefix is left out");
        let done = q.commit();
        assert_eq!(q.ahead_counters(), delivered);
        assert_eq!(done.position, Some(pos(5)), "stops before the unsettled event");
        assert_eq!(done.delta.events_scanned, 6);
        assert_eq!(q.ahead(), vec![(2, Settled::Delivered)]);
        q.settle(a, &Counters { delivery_failures: 1, ..Counters::default() });
        let done = q.commit();
        assert_eq!(done.position, Some(pos(7)));
        assert_eq!((done.delta.events_delivered, done.delta.delivery_failures), (1, 1));
        assert!(q.is_empty() && q.unsettled_events == 0);
        assert_eq!(q.ahead_counters(), Counters::default());
    }
}
