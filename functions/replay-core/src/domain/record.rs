//! Delivery-log records (contract section 1): decoding and classification.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The fields of a delivery-log value the replay needs. `payload` stays raw:
/// it is delivered byte for byte as it was logged.
#[derive(Debug, Deserialize)]
pub struct LoggedEvent<'a> {
    #[serde(borrow)]
    pub event_id: Cow<'a, str>,
    #[serde(borrow)]
    pub webhook_id: Cow<'a, str>,
    // Required by the contract; the replay does not use them.
    #[serde(borrow)]
    pub event_type: Cow<'a, str>,
    #[serde(borrow)]
    pub created_at: Cow<'a, str>,
    #[serde(borrow)]
    pub payload: &'a RawValue,
}

/// What a record means for the replay of one webhook.
#[derive(Debug, PartialEq, Eq)]
pub enum Classified<'a> {
    /// Another webhook's record (or one without a key): not ours, not counted.
    OtherWebhook,
    /// Our key, but the value does not parse or names another webhook.
    Malformed(String),
    /// An event of this webhook.
    Event { event_id: Cow<'a, str>, payload: &'a str },
}

/// Classifies one record for `webhook_id` without copying it.
pub fn classify<'a>(webhook_id: &str, key: Option<&[u8]>, value: Option<&'a [u8]>) -> Classified<'a> {
    if key != Some(webhook_id.as_bytes()) {
        return Classified::OtherWebhook;
    }
    let Some(value) = value else {
        return Classified::Malformed("record has no value".into());
    };
    let event: LoggedEvent<'a> = match serde_json::from_slice(value) {
        Ok(event) => event,
        Err(e) => return Classified::Malformed(format!("value is not a delivery-log event: {e}")),
    };
    if event.webhook_id.as_ref() != webhook_id {
        return Classified::Malformed(format!("webhook_id `{}` disagrees with the record key", event.webhook_id));
    }
    if event.event_id.is_empty() {
        return Classified::Malformed("empty event_id".into());
    }
    Classified::Event { event_id: event.event_id, payload: event.payload.get() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"event_id":"ev1","webhook_id":"wh_a","event_type":"tweet_create","created_at":"2026-11-20T10:00:00Z","payload":{"a": [1, 2]},"extra":true}"#;

    #[test]
    fn keeps_payload_bytes_exactly() {
        match classify("wh_a", Some(b"wh_a"), Some(GOOD.as_bytes())) {
            Classified::Event { event_id, payload } => {
                assert_eq!(event_id, "ev1");
                assert_eq!(payload, r#"{"a": [1, 2]}"#);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn other_keys_are_not_ours() {
        assert_eq!(classify("wh_a", Some(b"wh_b"), Some(GOOD.as_bytes())), Classified::OtherWebhook);
        assert_eq!(classify("wh_a", None, Some(GOOD.as_bytes())), Classified::OtherWebhook);
    }

    #[test]
    fn malformed_values_are_classified() {
        assert!(matches!(classify("wh_a", Some(b"wh_a"), Some(b"{not json")), Classified::Malformed(_)));
        assert!(matches!(classify("wh_a", Some(b"wh_a"), None), Classified::Malformed(_)));
        let mismatched = GOOD.replace("\"wh_a\"", "\"wh_b\"");
        assert!(matches!(classify("wh_a", Some(b"wh_a"), Some(mismatched.as_bytes())), Classified::Malformed(_)));
        let missing = r#"{"event_id":"e","webhook_id":"wh_a","payload":1}"#;
        assert!(matches!(classify("wh_a", Some(b"wh_a"), Some(missing.as_bytes())), Classified::Malformed(_)));
    }
}
