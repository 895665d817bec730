//! The memory bounds of docs/guarantees.md ("Bounds"), checked against the
//! peak each run of the slice logs (`PEAK_MEMORY`): held payloads and all
//! unsettled payloads. The dedup set's size is logged too, not checked: its
//! bound follows the watermark and the log's order (docs/guarantees.md).

use crate::adapters::memory::LogRecord;
use crate::config::WorkerConfig;
use crate::services::slice::{MemoryPeak, PEAK_MEMORY};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The largest of each figure the runs logged.
#[derive(Clone, Default)]
pub struct PeakLog {
    peak: Arc<Mutex<MemoryPeak>>,
    /// Another layer prints every line (SIM_LOG): no callsite may be turned off.
    beside_printer: bool,
}

impl PeakLog {
    pub fn beside_printer() -> Self {
        Self { beside_printer: true, ..Self::default() }
    }

    pub fn peak(&self) -> MemoryPeak {
        *self.peak.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<S: Subscriber> Layer<S> for PeakLog {
    // Only the peak's line is wanted: every other event stays as cheap as with no subscriber.
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.beside_printer || metadata.fields().field("dedup_ids").is_some() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut seen = Seen::default();
        event.record(&mut seen);
        if seen.message == PEAK_MEMORY {
            let mut peak = self.peak.lock().unwrap_or_else(|p| p.into_inner());
            peak.held_bytes = peak.held_bytes.max(seen.peak.held_bytes);
            peak.unsettled_bytes = peak.unsettled_bytes.max(seen.peak.unsettled_bytes);
            peak.dedup_ids = peak.dedup_ids.max(seen.peak.dedup_ids);
        }
    }
}

#[derive(Default)]
struct Seen {
    message: String,
    peak: MemoryPeak,
}

impl Visit for Seen {
    fn record_u64(&mut self, field: &Field, value: u64) {
        let value = value as usize;
        match field.name() {
            "held_bytes" => self.peak.held_bytes = value,
            "unsettled_bytes" => self.peak.unsettled_bytes = value,
            "dedup_ids" => self.peak.dedup_ids = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

/// The bounds the peak broke, if any: every run of a slice is held to them,
/// whichever scenario (one slice, or a platform of jobs) ran it.
pub fn check<'a>(cfg: &WorkerConfig, log: impl IntoIterator<Item = &'a LogRecord>, peak: MemoryPeak) -> Vec<String> {
    let mut broken = Vec::new();
    let held_cap = crate::services::slice::MAX_HELD_WINDOWS * cfg.max_window_bytes;
    if peak.held_bytes >= held_cap {
        broken.push(format!("held payloads reached {} bytes (bound {held_cap})", peak.held_bytes));
    }
    // Reading stops once the window is full; one scan batch may overshoot
    // it (by its byte limit and the record that crossed it), and held events
    // join the window when they are released.
    let largest = log.into_iter().map(|r| r.value.as_ref().map_or(0, Vec::len)).max().unwrap_or(0);
    let unsettled_cap = held_cap + cfg.max_window_bytes + cfg.max_batch_bytes + largest;
    if peak.unsettled_bytes > unsettled_cap {
        broken.push(format!("unsettled payloads reached {} bytes (bound {unsettled_cap})", peak.unsettled_bytes));
    }
    broken
}
