//! Identifiers (the API's own, from the types crate) and event times.

use serde::{Deserialize, Serialize};
use std::fmt;

pub use replay_types::ids::{JobId, TenantId, WebhookId};

/// Longest webhook id a platform may bring (the `webhooks.id` column).
pub const MAX_WEBHOOK_ID_CHARS: usize = 64;

/// A platform's own webhook id, checked: 1 to 64 characters of
/// `A-Z a-z 0-9 - _ . ~` (URL-safe as a path segment, and a plain Kafka key),
/// not `.` or `..` (docs/api.md, "Register a webhook").
pub fn platform_webhook_id(raw: &str) -> Result<WebhookId, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
    if raw.is_empty() || raw.len() > MAX_WEBHOOK_ID_CHARS {
        return Err(format!("`id` must be 1 to {MAX_WEBHOOK_ID_CHARS} characters"));
    }
    if !raw.chars().all(allowed) || raw == "." || raw == ".." {
        return Err("`id` may hold only A-Z, a-z, 0-9, `-`, `_`, `.` and `~`, and is not `.` or `..`".into());
    }
    Ok(WebhookId::from(raw))
}

/// Milliseconds since the Unix epoch: Kafka record timestamps and window edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTime(pub i64);

impl EventTime {
    pub fn from_datetime(dt: chrono::DateTime<chrono::Utc>) -> Self {
        Self(dt.timestamp_millis())
    }
    pub fn to_datetime(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_millis())
    }
    /// RFC 3339 with millisecond precision and a `Z` suffix.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_id_is_url_safe_and_bounded() {
        for good in ["1374885929471582210", "we_1Mr5jULkdIwHu7ix", "a", "hook.v2~x-y_z", &"x".repeat(64)] {
            assert_eq!(platform_webhook_id(good).unwrap().as_str(), good);
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a%2F", "wh:1", &"x".repeat(65)] {
            assert!(platform_webhook_id(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
