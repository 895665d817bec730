//! The order oracle of an ordered job (docs/guarantees.md, "Ordering per
//! key"): within one run of the slice, no attempt of an event starts before
//! every attempt of the earlier events of its key has ended. Across runs
//! the checkpoint decides what is attempted again (the other oracles hold
//! it to deliver each event once); a run repeats an event only before the
//! later events of its key.

use super::scenario::{Copy, Scenario};
use std::collections::HashMap;

/// An event attempted in a run: its place in the log, its id, and its
/// attempts' first start and last end.
type Attempted<'a> = (usize, &'a str, (u64, u64));

/// Violations, at most a few.
pub fn check(s: &Scenario, spans: &[(u64, u64, String)], runs: &[(u64, u64)]) -> Vec<String> {
    let Some(accounts) = &s.accounts else { return Vec::new() };
    // Each event's place: its first copy in the window, in log order. An event
    // delivered from another copy is left out: one with a far copy (each is
    // delivered), or with several when retention deletes (a copy whose
    // earlier ones were deleted unread is delivered again, in its own place).
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for c in &s.copies {
        *copies.entry(c.event_id.as_str()).or_default() += 1;
    }
    let far: std::collections::HashSet<&str> = s
        .copies
        .iter()
        .filter(|c| c.far || (s.retention.is_some() && copies[c.event_id.as_str()] > 1))
        .map(|c| c.event_id.as_str())
        .collect();
    let mut place: HashMap<&str, usize> = HashMap::new();
    for (i, Copy { event_id, timestamp, .. }) in s.copies.iter().enumerate() {
        if (s.from..s.to).contains(timestamp) && !far.contains(event_id.as_str()) {
            place.entry(event_id.as_str()).or_insert(i);
        }
    }
    let mut violations = Vec::new();
    for &(run_from, run_to) in runs {
        // Per event of this run: its first start and last end.
        let mut seen: HashMap<&str, (u64, u64)> = HashMap::new();
        for (sent, ended, id) in spans.iter().filter(|(sent, ..)| (run_from..run_to).contains(sent)) {
            let e = seen.entry(id.as_str()).or_insert((*sent, *ended));
            e.0 = e.0.min(*sent);
            e.1 = e.1.max(*ended);
        }
        let mut by_key: HashMap<&str, Vec<Attempted<'_>>> = HashMap::new();
        for (&id, &span) in &seen {
            if let (Some(&at), Some(account)) = (place.get(id), accounts.get(id)) {
                by_key.entry(account.as_str()).or_default().push((at, id, span));
            }
        }
        for (key, mut events) in by_key {
            events.sort_unstable();
            for pair in events.windows(2) {
                let ((_, earlier, (_, ended)), (_, later, (started, _))) = (pair[0], pair[1]);
                if started < ended {
                    violations.push(format!(
                        "order: {later} of key {key} started at {started} ms before {earlier} (earlier in the log) \
                         ended at {ended} ms, in the run from {run_from} ms"
                    ));
                }
            }
        }
        if violations.len() >= 5 {
            break;
        }
    }
    violations
}
