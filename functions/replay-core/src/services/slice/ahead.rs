//! Events an earlier run settled after its checkpoint's position (a clean
//! stop): each copy takes its own outcome back when it is read again, and
//! until then they count in the slice's progress.

use crate::domain::checkpoint::Settled;
use crate::domain::job::Counters;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Default)]
pub struct EarlierOutcomes {
    /// Per event hash, in log order: copies further apart than the look-back
    /// are each settled, and each takes its own outcome.
    by_hash: BTreeMap<u64, VecDeque<Settled>>,
    /// What the outcomes not taken back yet count, kept as they are taken.
    counters: Counters,
}

impl EarlierOutcomes {
    pub fn new(saved: &[(u64, Settled)]) -> Self {
        let mut outcomes = Self::default();
        for &(hash, settled) in saved {
            outcomes.by_hash.entry(hash).or_default().push_back(settled);
            outcomes.counters.add(&counted(settled));
        }
        outcomes
    }

    /// How the earlier run settled this copy of an event, if it did.
    pub fn take(&mut self, hash: u64) -> Option<Settled> {
        let outcomes = self.by_hash.get_mut(&hash)?;
        let settled = outcomes.pop_front()?;
        if outcomes.is_empty() {
            self.by_hash.remove(&hash);
        }
        self.counters.remove(&counted(settled));
        Some(settled)
    }

    /// What the outcomes not taken back yet count.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The outcomes not taken back yet, for the next checkpoint.
    pub fn remaining(&self) -> impl Iterator<Item = (u64, Settled)> + '_ {
        self.by_hash.iter().flat_map(|(&hash, outcomes)| outcomes.iter().map(move |&o| (hash, o)))
    }

    /// Takes every outcome not taken back yet.
    pub fn drain(&mut self) -> impl Iterator<Item = Settled> {
        self.counters = Counters::default();
        std::mem::take(&mut self.by_hash).into_values().flatten()
    }
}

/// What one settled event counts.
pub fn counted(settled: Settled) -> Counters {
    let (events_delivered, delivery_failures) = match settled {
        Settled::Delivered => (1, 0),
        Settled::Failed => (0, 1),
    };
    Counters { events_scanned: 1, events_matched: 1, events_delivered, delivery_failures, ..Counters::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_copy_takes_its_own_outcome_and_the_counters_follow() {
        let mut earlier = EarlierOutcomes::new(&[(7, Settled::Delivered), (7, Settled::Failed), (9, Settled::Failed)]);
        assert_eq!((earlier.counters().events_delivered, earlier.counters().delivery_failures), (1, 2));
        assert_eq!(earlier.take(7), Some(Settled::Delivered));
        assert_eq!(earlier.take(7), Some(Settled::Failed));
        assert_eq!(earlier.take(7), None);
        assert_eq!(earlier.counters(), counted(Settled::Failed));
        assert_eq!(earlier.remaining().collect::<Vec<_>>(), vec![(9, Settled::Failed)]);
        assert_eq!(earlier.drain().collect::<Vec<_>>(), vec![Settled::Failed]);
        assert_eq!(earlier.counters(), Counters::default());
    }
}
