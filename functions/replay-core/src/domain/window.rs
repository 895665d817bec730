//! Replay windows: parsing, the contract's window rules, and cutting a window
//! into time slices.

use super::ids::EventTime;
use crate::error::{Error, Result};
use chrono::{DateTime, NaiveDateTime, Utc};

/// A half-open time range `[from, to)` in record-timestamp milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: EventTime,
    pub to: EventTime,
}

/// Parses an RFC 3339 date (`2026-11-20T10:00:00Z`, any offset).
pub fn parse_rfc3339(field: &str, value: &str) -> Result<EventTime> {
    DateTime::parse_from_rfc3339(value)
        .map(|dt| EventTime::from_datetime(dt.with_timezone(&Utc)))
        .map_err(|_| Error::InvalidDate(format!("`{field}` must be an RFC 3339 date, got `{value}`")))
}

/// Parses Twitter's `YYYYMMDDHHmm` (UTC).
pub fn parse_twitter_date(field: &str, value: &str) -> Result<EventTime> {
    if value.len() != 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidDate(format!("`{field}` must be YYYYMMDDHHmm (UTC), got `{value}`")));
    }
    NaiveDateTime::parse_from_str(value, "%Y%m%d%H%M")
        .map(|naive| EventTime::from_datetime(naive.and_utc()))
        .map_err(|_| Error::InvalidDate(format!("`{field}` is not a valid date: `{value}`")))
}

impl Window {
    /// Applies the contract's rules: `from < to`, `to` not in the future and
    /// at least `settle_ms` ago (records of a window can still arrive for a
    /// while: producer lag, a second data centre), `from` within the retention.
    pub fn validate(
        from: EventTime,
        to: EventTime,
        now: EventTime,
        retention_hours: u32,
        settle_ms: i64,
    ) -> Result<Self> {
        if from >= to {
            return Err(Error::InvalidRange("`from` must be earlier than `to`".into()));
        }
        if to > now {
            return Err(Error::InvalidRange("`to` must not be in the future".into()));
        }
        if to.0 > now.0 - settle_ms {
            return Err(Error::RangeNotSettled(format!(
                "`to` must be at least {} s ago: records of a window can still arrive that long after it",
                settle_ms / 1_000
            )));
        }
        let oldest = now.0 - i64::from(retention_hours) * 3_600_000;
        if from.0 < oldest {
            return Err(Error::RangeTooOld(format!("`from` must be within the last {retention_hours} hours")));
        }
        Ok(Self { from, to })
    }

    /// Cuts the window into consecutive slices of at most `slice_ms`, aligned on `from`.
    pub fn slices(&self, slice_ms: i64) -> Vec<Window> {
        assert!(slice_ms > 0, "slice length must be positive");
        let mut slices = Vec::new();
        let mut start = self.from.0;
        while start < self.to.0 {
            let end = (start.saturating_add(slice_ms)).min(self.to.0);
            slices.push(Window { from: EventTime(start), to: EventTime(end) });
            start = end;
        }
        slices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_window_without_gaps() {
        let w = Window { from: EventTime(1_000), to: EventTime(10_500) };
        let s = w.slices(3_000);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0], Window { from: EventTime(1_000), to: EventTime(4_000) });
        assert_eq!(s[3], Window { from: EventTime(10_000), to: EventTime(10_500) });
        for pair in s.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
    }

    #[test]
    fn window_rules() {
        let now = EventTime(100 * 3_600_000);
        let v = |from: i64, to: i64, hours: u32| Window::validate(EventTime(from), EventTime(to), now, hours, 600_000);
        assert!(matches!(v(5, 5, 120), Err(Error::InvalidRange(_))));
        assert!(matches!(v(5, now.0 + 1, 120), Err(Error::InvalidRange(_))));
        assert!(matches!(v(now.0 - 3 * 3_600_000, now.0 - 700_000, 2), Err(Error::RangeTooOld(_))));
        assert!(matches!(v(now.0 - 3_600_000, now.0 - 599_999, 2), Err(Error::RangeNotSettled(_))));
        assert!(v(now.0 - 3_600_000, now.0 - 600_000, 2).is_ok());
    }

    #[test]
    fn parses_both_date_forms() {
        let a = parse_rfc3339("from", "2026-11-20T10:05:00Z").unwrap();
        let b = parse_twitter_date("from_date", "202611201005").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse_rfc3339("from", "2026-11-20T12:05:00+02:00").unwrap(), a);
        assert!(matches!(parse_twitter_date("from_date", "2026112010"), Err(Error::InvalidDate(_))));
        assert!(matches!(parse_twitter_date("from_date", "202613201005"), Err(Error::InvalidDate(_))));
        assert!(matches!(parse_rfc3339("from", "yesterday"), Err(Error::InvalidDate(_))));
    }
}
