//! The decider's attempts: which queued events start, what an attempt's
//! answer means for its event (the retry rule, the circuit, a pause the
//! receiver asked for) and how an ended delivery is settled in the commit
//! queue (decider.rs has the state; docs/guarantees.md, "Per-event delivery").

use super::circuit::Verdict as CircuitVerdict;
use super::decider::{Attempted, Decider, Start, MAX_PAUSE};
use super::keeper::Stop;
use super::queue::State;
use super::retries::{failure_of, not_attempted, receiver_down, Retrying};
use crate::domain::job::Counters;
use crate::domain::retry::{Attempt, DeliveryOutcome, Next, Tries};
use crate::ports::Delivery;
use std::time::{Duration, Instant};
use tracing::warn;

impl Decider<'_> {
    /// Up to `free` queued events due at `now`, in log order; an event past
    /// its quick attempts (going on at the backoff's pace) after the others.
    /// A slice whose pace came down to a request or two against a receiver
    /// that is down would otherwise keep retrying its first event, whenever
    /// the backoff is shorter than an answer, and the circuit, which counts
    /// events, would never see enough of them to open.
    pub fn next_attempts(&mut self, now: Instant, free: usize) -> Vec<Start> {
        let max_attempts = self.cfg.retry.max_attempts;
        let struggling = |id: &u64| self.retrying.get(id).is_some_and(|r| r.tries.run_attempts >= max_attempts);
        let startable = |id: &u64| {
            self.retrying.get(id).and_then(|r| r.not_before).is_none_or(|t| t <= now) && self.queue.may_start(*id)
        };
        let mut due: Vec<u64> =
            self.to_start.iter().copied().filter(|id| !struggling(id) && startable(id)).take(free).collect();
        if due.len() < free {
            let more = free - due.len();
            due.extend(self.to_start.iter().copied().filter(|id| struggling(id) && startable(id)).take(more));
        }
        let mut starts = Vec::with_capacity(due.len());
        for id in due {
            self.to_start.remove(&id);
            let Some(entry) = self.queue.get_mut(id) else { continue };
            let State::Queued(delivery) = std::mem::replace(&mut entry.state, State::InFlight) else { continue };
            if self.circuit.gave_up() {
                self.queue_again(id, delivery);
                continue;
            }
            starts.push(Start { id, delivery });
        }
        starts
    }

    /// When the first queued event waiting for a retry is due, if one is.
    pub fn next_due(&self) -> Option<Instant> {
        // Walks the smaller of the two: either can hold the whole delivery
        // window. An event held back by its key waits for an answer, not a time.
        if self.spec.ordering_key.is_some() {
            let waiting =
                self.retrying.iter().filter(|(id, _)| self.to_start.contains(id) && self.queue.may_start(**id));
            waiting.filter_map(|(_, r)| r.not_before).min()
        } else if self.retrying.len() <= self.to_start.len() {
            let waiting = self.retrying.iter().filter(|(id, _)| self.to_start.contains(id));
            waiting.filter_map(|(_, r)| r.not_before).min()
        } else {
            self.to_start.iter().filter_map(|id| self.retrying.get(id).and_then(|r| r.not_before)).min()
        }
    }

    /// One attempt ended at `now`: the retry rule says whether the event
    /// waits for another; an ended delivery is settled. Returns a reason to
    /// stop when the circuit opens or the receiver asks for a long wait.
    pub fn attempted(&mut self, done: Attempted, now: Instant) -> Option<Stop> {
        let Attempted { id, delivery, sent_at, attempt } = done;
        if !self.retrying.contains_key(&id) {
            let carried = self.queue.get_mut(id).and_then(|e| e.hash).and_then(|h| self.carried.remove(&h));
            self.retrying.insert(id, carried.map(Retrying::carried).unwrap_or_default());
        }
        let retrying = self.retrying.entry(id).or_default();
        let outcome = match attempt {
            None => retrying.tries.interrupted(retrying.tries.last_status, &retrying.tries.last_error),
            Some(attempt) => {
                if attempt != Attempt::Success {
                    retrying.failed_at(now);
                }
                match self.cfg.retry.after(&mut retrying.tries, attempt, &mut self.rng) {
                    Next::RetryIn(wait) => {
                        retrying.not_before = Some(now + wait);
                        self.queue_again(id, delivery);
                        return None;
                    }
                    Next::Struggling(wait) => {
                        retrying.not_before = Some(now + wait);
                        return self.struggling(id, delivery, now);
                    }
                    Next::Pause(asked) => {
                        let pause = asked.min(MAX_PAUSE);
                        // The wait it asked for counts against its budget:
                        // an event answered so for ever still ends.
                        retrying.tries.failing_for += pause;
                        retrying.failed_before = retrying.tries.failing_for;
                        retrying.failing_since = None;
                        self.queue_again(id, delivery);
                        return self.pause_for_receiver(pause, now);
                    }
                    Next::PauseJob { delivered, reason } => {
                        let attempts = retrying.tries.attempts;
                        // The first pause asked for is the one the job keeps.
                        self.receiver_pause.get_or_insert(reason);
                        if !delivered {
                            // Left to the resume, with the budget it has spent.
                            retrying.not_before = None;
                            self.queue_again(id, delivery);
                            return Some(Stop::ReceiverPause);
                        }
                        self.retrying.remove(&id);
                        self.settle(id, delivery, sent_at, DeliveryOutcome::Delivered { attempts }, now);
                        return Some(Stop::ReceiverPause);
                    }
                    Next::Done(outcome) => outcome,
                }
            }
        };
        // An interrupted event keeps its retry budget; an ended one is done with it.
        if !matches!(outcome, DeliveryOutcome::Interrupted { .. }) {
            self.retrying.remove(&id);
        }
        self.settle(id, delivery, sent_at, outcome, now)
    }

    /// An event spent its quick attempts: the circuit judges whether the
    /// receiver is down; otherwise the event goes on at the backoff's pace.
    fn struggling(&mut self, id: u64, delivery: Box<Delivery>, now: Instant) -> Option<Stop> {
        match self.circuit.down(now, self.cp.pauses, self.cfg) {
            CircuitVerdict::Closed => {
                self.queue_again(id, delivery);
                None
            }
            CircuitVerdict::Open => {
                self.queue_again(id, delivery);
                self.queue_provisional_again();
                Some(Stop::Circuit)
            }
            CircuitVerdict::GiveUp => {
                let outcome =
                    self.retrying.remove(&id).map(|r| r.tries.failed()).unwrap_or_else(|| Tries::default().failed());
                let DeliveryOutcome::Failed { attempts, last_status, error } = outcome else { return None };
                let error = format!("{error}; the receiver stayed down through every pause");
                self.failures.push(failure_of(&delivery, attempts, last_status, error));
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
                self.resolve_provisional_as_failed();
                None
            }
        }
    }

    /// The receiver asked for a wait longer than the rule waits between
    /// attempts: the slice pauses, unless it already paused as often as the
    /// circuit allows with nothing delivered since (then it gives up).
    fn pause_for_receiver(&mut self, pause: Duration, now: Instant) -> Option<Stop> {
        if self.cp.pauses >= self.cfg.circuit_max_pauses {
            self.circuit.give_up(now);
            self.resolve_provisional_as_failed();
            return None;
        }
        Some(Stop::Wait(pause))
    }

    /// Provisional failures are tried again after a pause, not failed.
    pub(super) fn queue_provisional_again(&mut self) {
        if std::mem::take(&mut self.provisional) == 0 {
            return;
        }
        for pid in self.queue.ids_where(|s| matches!(s, State::Provisional(..))) {
            if let Some(entry) = self.queue.get_mut(pid) {
                if let State::Provisional(d, _) = std::mem::replace(&mut entry.state, State::InFlight) {
                    entry.state = State::Queued(d);
                    self.to_start.insert(pid);
                }
            }
        }
    }

    fn settle(
        &mut self,
        id: u64,
        delivery: Box<Delivery>,
        sent_at: Instant,
        outcome: DeliveryOutcome,
        now: Instant,
    ) -> Option<Stop> {
        let failure = |attempts, last_status, error| failure_of(&delivery, attempts, last_status, error);
        match outcome {
            DeliveryOutcome::Delivered { .. } => {
                if self.circuit.delivered(sent_at) {
                    self.cp.pauses = 0;
                    self.resolve_provisional_as_failed();
                }
                self.settled(id, Counters { events_delivered: 1, ..Counters::default() });
            }
            DeliveryOutcome::Failed { attempts, last_status, error } if receiver_down(last_status) => {
                let failed = failure(attempts, last_status, error);
                if let Some(entry) = self.queue.get_mut(id) {
                    entry.state = State::Provisional(delivery, failed);
                    self.provisional += 1;
                }
                match self.circuit.down(now, self.cp.pauses, self.cfg) {
                    CircuitVerdict::Closed => {}
                    CircuitVerdict::GiveUp => self.resolve_provisional_as_failed(),
                    CircuitVerdict::Open => {
                        self.queue_provisional_again();
                        return Some(Stop::Circuit);
                    }
                }
            }
            // An abort is the receiver's word on the event, whatever the status.
            DeliveryOutcome::Failed { attempts, last_status, error }
            | DeliveryOutcome::Aborted { attempts, last_status, error } => {
                warn!(event_id = %delivery.message_id, attempts, ?last_status, %error, "event could not be delivered");
                self.failures.push(failure(attempts, last_status, error));
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
            }
            DeliveryOutcome::Refused { error } => {
                warn!(event_id = %delivery.message_id, %error, "event not sent: refused");
                self.failures.push(failure(1, None, error));
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
            }
            DeliveryOutcome::Interrupted { .. } => self.queue_again(id, delivery),
        }
        None
    }

    fn settled(&mut self, id: u64, delta: Counters) {
        self.queue.settle(id, &delta);
        self.events_since_save += 1;
    }

    /// A success after failures that looked like the receiver being down:
    /// those events did fail.
    pub(super) fn resolve_provisional_as_failed(&mut self) {
        // Called at every success: without this, each would walk the whole queue.
        if std::mem::take(&mut self.provisional) == 0 {
            return;
        }
        for id in self.queue.ids_where(|s| matches!(s, State::Provisional(..))) {
            let Some(entry) = self.queue.get_mut(id) else { continue };
            if let State::Provisional(_, failure) = std::mem::replace(&mut entry.state, State::InFlight) {
                warn!(event_id = %failure.event_id, attempts = failure.attempts, ?failure.last_status, %failure.error,
                    "event could not be delivered");
                self.failures.push(failure);
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
            }
        }
    }

    /// An event to deliver (again): queued, or failed unsent once the circuit gave up.
    pub(super) fn queue_again(&mut self, id: u64, delivery: Box<Delivery>) {
        if self.circuit.gave_up() {
            self.failures.push(not_attempted(&delivery));
            self.retrying.remove(&id);
            self.queue.settle(id, &Counters { delivery_failures: 1, ..Counters::default() });
            return;
        }
        if let Some(entry) = self.queue.get_mut(id) {
            entry.state = State::Queued(delivery);
            self.to_start.insert(id);
        }
    }
}
