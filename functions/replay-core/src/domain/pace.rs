//! A slice's pace (docs/guarantees.md, "Load on the receiver"): how many
//! requests it keeps in flight, from 1 to its share of the job's ceiling,
//! following the receiver with additive increase and multiplicative
//! decrease. It starts at one request and doubles every round trip (one
//! more per good answer) until the first sign of load, as TCP's slow start
//! does: the fastest answers, seen at one request in flight, are the
//! baseline a rise is judged against. After that it grows by one request
//! per window of answers that came back well; it halves (at most once per
//! round trip) on a 429 or 503, on a timeout or a dropped connection, and
//! when answers take twice as long as that baseline: a rise against its own
//! baseline, never an absolute latency, so a steady slow receiver keeps the
//! whole share. Pure: the driver reports each answer and asks for the window.

use crate::domain::retry::Attempt;
use std::time::{Duration, Instant};

/// What an answer says about the receiver's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Answered in time: its latency counts.
    Answered,
    /// 429, 503, a timeout or a dropped connection: back off.
    Overloaded,
    /// Anything else (a 4xx, a refusal, another 5xx): no signal.
    Neutral,
}

impl Load {
    pub fn of(attempt: &Attempt) -> Self {
        match attempt {
            Attempt::Success | Attempt::PauseJob { delivered: true, .. } => Load::Answered,
            Attempt::Retry { status: Some(429 | 503) | None, .. } => Load::Overloaded,
            _ => Load::Neutral,
        }
    }
}

/// Answers take this many times the baseline: the receiver is queueing.
const RISE: f64 = 2.0;
/// ...and at least this much more than it (milliseconds are noise).
const RISE_FLOOR: Duration = Duration::from_millis(50);
/// The smoothed latency's weight of a new answer.
const SMOOTHING: f64 = 0.2;
/// The baseline is the lowest smoothed latency of this period and the one
/// before (as BBR keeps its minimum round trip): a moment's luck does not
/// set it for ever, and a receiver slower for good (its own traffic, a
/// baseline carried from another slice) becomes the new normal within two
/// periods instead of holding the pace down.
const BASELINE_PERIOD: Duration = Duration::from_secs(120);

/// A slice's pace as its heartbeats report it: its window, and the
/// baseline latency it judges a rise against. The job's next slice (or the
/// slice's next invocation) starts from the job's latest, so a job's
/// slices do not each start over from one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlicePace {
    pub in_flight: u32,
    pub baseline_ms: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Pace {
    ceiling: f64,
    window: f64,
    /// Latency of answers, smoothed, and the lowest it has been.
    smoothed: Option<Duration>,
    /// The lowest smoothed latency of this period (since `period_start`)
    /// and of the one before.
    lowest: Option<Duration>,
    lowest_before: Option<Duration>,
    period_start: Option<Instant>,
    last_decrease: Option<Instant>,
    /// Until the first decrease: one more request per good answer.
    slow_start: bool,
}

impl Pace {
    /// A pace under `ceiling` requests in flight, starting at one.
    pub fn new(ceiling: usize) -> Self {
        let ceiling = ceiling.max(1) as f64;
        Self {
            ceiling,
            window: 1.0,
            smoothed: None,
            lowest: None,
            lowest_before: None,
            period_start: None,
            last_decrease: None,
            slow_start: true,
        }
    }

    /// Where an earlier slice of the job left the pace: its window (within
    /// this one's ceiling) and baseline, past the slow start. Without a
    /// baseline, a new start.
    pub fn resume(ceiling: usize, from: SlicePace) -> Self {
        let mut pace = Self::new(ceiling);
        if let Some(ms) = from.baseline_ms {
            pace.window = f64::from(from.in_flight.max(1)).min(pace.ceiling);
            // The period before: it ages out as a baseline measured here would.
            pace.lowest_before = Some(Duration::from_millis(u64::from(ms)));
            pace.slow_start = false;
        }
        pace
    }

    /// What a heartbeat reports.
    pub fn report(&self) -> SlicePace {
        SlicePace { in_flight: self.window() as u32, baseline_ms: self.baseline().map(|b| b.as_millis() as u32) }
    }

    /// The latency a rise is judged against.
    fn baseline(&self) -> Option<Duration> {
        match (self.lowest, self.lowest_before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Requests it may have in flight now.
    pub fn window(&self) -> usize {
        self.window.floor().max(1.0) as usize
    }

    /// An answer came back `latency` after its request was sent.
    pub fn answered(&mut self, load: Load, latency: Duration, now: Instant) {
        match load {
            Load::Neutral => {}
            Load::Overloaded => self.decrease(now),
            Load::Answered => {
                let smoothed = match self.smoothed {
                    Some(s) => s.mul_f64(1.0 - SMOOTHING) + latency.mul_f64(SMOOTHING),
                    None => latency,
                };
                self.smoothed = Some(smoothed);
                let start = *self.period_start.get_or_insert(now);
                if now.saturating_duration_since(start) >= BASELINE_PERIOD {
                    self.lowest_before = self.lowest.take();
                    self.period_start = Some(now);
                }
                self.lowest = Some(self.lowest.map_or(smoothed, |l| l.min(smoothed)));
                let baseline = self.baseline().unwrap_or(smoothed);
                let rising = smoothed > baseline.mul_f64(RISE) && smoothed > baseline + RISE_FLOOR;
                if rising {
                    self.decrease(now);
                } else {
                    // One more request per good answer while starting, then
                    // one more per window's worth of them.
                    let more = if self.slow_start { 1.0 } else { 1.0 / self.window };
                    self.window = (self.window + more).min(self.ceiling);
                }
            }
        }
    }

    /// Halves the window, once per round trip: the answers of requests sent
    /// before the first decrease say nothing new.
    fn decrease(&mut self, now: Instant) {
        let round_trip = self.smoothed.unwrap_or(Duration::from_secs(1));
        if self.last_decrease.is_some_and(|at| now.saturating_duration_since(at) < round_trip) {
            return;
        }
        self.last_decrease = Some(now);
        self.slow_start = false;
        self.window = (self.window / 2.0).max(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Load {
        Load::Answered
    }

    #[test]
    fn a_steady_receiver_gets_the_whole_share_however_slow() {
        for latency in [Duration::from_millis(2), Duration::from_millis(200), Duration::from_secs(2)] {
            let (mut pace, start) = (Pace::new(16), Instant::now());
            assert_eq!(pace.window(), 1, "one to start with");
            for n in 0..15 {
                pace.answered(ok(), latency, start + latency * n);
            }
            assert_eq!(pace.window(), 16, "doubled every round trip: {latency:?}");
            for n in 15..400 {
                pace.answered(ok(), latency, start + latency * n);
            }
            assert_eq!(pace.window(), 16, "{latency:?}");
        }
    }

    #[test]
    fn overload_halves_the_window_once_per_round_trip() {
        let (mut pace, t) = (Pace::new(16), Instant::now());
        for n in 0..400 {
            pace.answered(ok(), Duration::from_millis(100), t + Duration::from_millis(n));
        }
        assert_eq!(pace.window(), 16);
        let overloaded = Attempt::Retry { status: Some(503), after: None, error: "HTTP 503".into() };
        let at = t + Duration::from_secs(10);
        pace.answered(Load::of(&overloaded), Duration::from_millis(100), at);
        assert_eq!(pace.window(), 8);
        // The rest of that round trip's 503s were sent before it: no more.
        pace.answered(Load::Overloaded, Duration::from_millis(100), at + Duration::from_millis(50));
        assert_eq!(pace.window(), 8);
        pace.answered(Load::Overloaded, Duration::from_millis(100), at + Duration::from_millis(150));
        assert_eq!(pace.window(), 4);
        for n in 0..10 {
            pace.answered(Load::Overloaded, Duration::ZERO, at + Duration::from_secs(60 + n));
        }
        assert_eq!(pace.window(), 1, "never below one");
        let timeout = Attempt::Retry { status: None, after: None, error: "timed out".into() };
        assert_eq!(Load::of(&timeout), Load::Overloaded);
        assert_eq!(Load::of(&Attempt::Fail { status: 410 }), Load::Neutral);
        assert_eq!(Load::of(&Attempt::Retry { status: Some(500), after: None, error: String::new() }), Load::Neutral);
    }

    #[test]
    fn a_rise_against_the_baseline_backs_off_and_an_absolute_latency_does_not() {
        let (mut pace, t) = (Pace::new(16), Instant::now());
        for n in 0..400 {
            pace.answered(ok(), Duration::from_millis(100), t + Duration::from_millis(n * 100));
        }
        assert_eq!(pace.window(), 16);
        // The receiver queues: answers take five times as long.
        let later = t + Duration::from_secs(60);
        for n in 0..20 {
            pace.answered(ok(), Duration::from_millis(500), later + Duration::from_millis(n * 500));
        }
        assert!(pace.window() <= 4, "{}", pace.window());
        // A receiver slow from the start is its own baseline.
        let mut slow = Pace::new(16);
        for n in 0..400 {
            slow.answered(ok(), Duration::from_millis(900), t + Duration::from_millis(n * 900));
        }
        assert_eq!(slow.window(), 16);
    }

    #[test]
    fn a_slice_resumes_where_the_jobs_latest_left_the_pace() {
        let t = Instant::now();
        let mut first = Pace::new(16);
        for n in 0..8 {
            first.answered(ok(), Duration::from_millis(200), t + Duration::from_millis(n * 200));
        }
        let left = first.report();
        assert_eq!(left, SlicePace { in_flight: 9, baseline_ms: Some(200) });
        let mut next = Pace::resume(16, left);
        assert_eq!(next.window(), 9, "no new slow start");
        next.answered(ok(), Duration::from_millis(200), t);
        assert_eq!(next.window(), 9, "one more per window of good answers, not per answer");
        // Its baseline came with it: a rise is judged against 200 ms.
        for n in 0..10 {
            next.answered(ok(), Duration::from_millis(600), t + Duration::from_millis(n * 600));
        }
        assert!(next.window() < 9, "{}", next.window());
        // Within this slice's own share, and without a baseline a new start.
        assert_eq!(Pace::resume(4, left).window(), 4);
        assert_eq!(Pace::resume(16, SlicePace { in_flight: 9, baseline_ms: None }).window(), 1);
    }

    #[test]
    fn a_baseline_ages_out_so_a_receiver_slower_for_good_gets_its_share_back() {
        let t = Instant::now();
        let mut pace = Pace::resume(16, SlicePace { in_flight: 16, baseline_ms: Some(100) });
        // The receiver is now three times slower for good: the carried
        // baseline backs the pace off at first...
        let mut at = t;
        for _ in 0..20 {
            pace.answered(ok(), Duration::from_millis(300), at);
            at += Duration::from_millis(300);
        }
        assert!(pace.window() < 16, "{}", pace.window());
        // ...until two periods have passed: then 300 ms is the normal.
        while at < t + 3 * BASELINE_PERIOD {
            pace.answered(ok(), Duration::from_millis(300), at);
            at += Duration::from_millis(300);
        }
        assert_eq!(pace.window(), 16);
        assert_eq!(pace.report().baseline_ms, Some(300));
    }
}
