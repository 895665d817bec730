//! Delivery-log records (docs/delivery-log.md): decoding and classification.

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
    #[serde(borrow)]
    pub event_type: Cow<'a, str>,
    // Required by the contract; the replay does not use it.
    #[serde(borrow)]
    pub created_at: Cow<'a, str>,
    #[serde(borrow)]
    pub payload: &'a RawValue,
    /// The original delivery's outcome, when the platform logged it.
    #[serde(default)]
    pub delivery: Option<LoggedDelivery<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct LoggedDelivery<'a> {
    #[serde(borrow, default)]
    pub status: Cow<'a, str>,
}

/// What the original delivery of a logged copy did (docs/delivery-log.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggedOutcome {
    Failed,
    Succeeded,
}

/// What a record means for the replay of one webhook.
#[derive(Debug, PartialEq, Eq)]
pub enum Classified<'a> {
    /// Another webhook's record (or one without a key): not ours, not counted.
    OtherWebhook,
    /// Our key, but the value does not parse or names another webhook.
    Malformed(String),
    /// An event of this webhook whose `event_id` cannot be a `webhook-id`
    /// header: set aside like a malformed record, but an event was lost
    /// (if the job's selection would have chosen it: its type says).
    UnusableId { reason: String, event_type: Cow<'a, str> },
    /// An event of this webhook.
    Event { event_id: Cow<'a, str>, event_type: Cow<'a, str>, payload: &'a str, outcome: Option<LoggedOutcome> },
}

/// Longest `event_id` accepted (it becomes the `webhook-id` header).
pub const MAX_EVENT_ID_BYTES: usize = 255;

/// Whether an id can be sent as a header value as it is: visible ASCII and
/// inner spaces, at most 255 bytes (receivers would trim outer spaces and
/// then fail the signature).
pub fn is_valid_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_EVENT_ID_BYTES
        && id.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !id.starts_with(' ')
        && !id.ends_with(' ')
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
    if !is_valid_event_id(&event.event_id) {
        return Classified::UnusableId {
            reason: "event_id is not a valid webhook-id header value (1-255 visible ASCII characters)".into(),
            event_type: event.event_type,
        };
    }
    let outcome = event.delivery.as_ref().and_then(|d| match d.status.as_ref() {
        "failed" => Some(LoggedOutcome::Failed),
        "succeeded" => Some(LoggedOutcome::Succeeded),
        _ => None,
    });
    Classified::Event { event_id: event.event_id, event_type: event.event_type, payload: event.payload.get(), outcome }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"event_id":"ev1","webhook_id":"wh_a","event_type":"tweet_create","created_at":"2026-11-20T10:00:00Z","payload":{"a": [1, 2]},"extra":true}"#;

    #[test]
    fn keeps_payload_bytes_exactly() {
        match classify("wh_a", Some(b"wh_a"), Some(GOOD.as_bytes())) {
            Classified::Event { event_id, event_type, payload, outcome } => {
                assert_eq!(event_id, "ev1");
                assert_eq!(event_type, "tweet_create");
                assert_eq!(payload, r#"{"a": [1, 2]}"#);
                assert_eq!(outcome, None);
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

    #[test]
    fn event_ids_that_cannot_be_headers_are_unusable() {
        for bad in ["", " lead", "trail ", "new\nline", "tab\tbed", "caf\u{e9}"] {
            let v = GOOD.replace("\"ev1\"", &serde_json::to_string(bad).unwrap());
            let classified = classify("wh_a", Some(b"wh_a"), Some(v.as_bytes()));
            assert!(
                matches!(classified, Classified::UnusableId { ref event_type, .. } if event_type == "tweet_create"),
                "{bad:?}"
            );
        }
        assert!(is_valid_event_id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"));
        assert!(is_valid_event_id("inner space"));
        assert!(!is_valid_event_id(&"x".repeat(256)));
    }

    #[test]
    fn reads_the_original_deliverys_outcome() {
        for (status, expected) in
            [("failed", Some(LoggedOutcome::Failed)), ("succeeded", Some(LoggedOutcome::Succeeded)), ("odd", None)]
        {
            let v =
                GOOD.replace(r#""extra":true"#, &format!(r#""delivery":{{"status":"{status}","http_status":503}}"#));
            match classify("wh_a", Some(b"wh_a"), Some(v.as_bytes())) {
                Classified::Event { outcome, .. } => assert_eq!(outcome, expected, "{status}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
