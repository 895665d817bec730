//! One delivery-log record (docs/delivery-log.md): the value's JSON shape and
//! the rules the replay applies when it reads it.

use crate::Error;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Longest `event_id` the replay accepts (it becomes the `webhook-id` header).
pub const MAX_EVENT_ID_BYTES: usize = 255;

/// Whether the replay can send `id` as a `webhook-id` header as it is: 1 to
/// 255 bytes of visible ASCII (`!` to `~`) and spaces, no space first or last
/// (receivers trim outer spaces and would then fail the signature). The same
/// rule as `replay_core::domain::record::is_valid_event_id`.
pub fn is_valid_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_EVENT_ID_BYTES
        && id.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !id.starts_with(' ')
        && !id.ends_with(' ')
}

/// An event as the platform delivered it, to be appended to the delivery log.
///
/// Serialises to the record value the replay reads:
/// `{"event_id", "webhook_id", "event_type", "created_at", "payload", "delivery"?}`.
/// The record's key is `webhook_id` and its timestamp `created_at` (or the
/// time given to [`crate::Producer::send_at`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Stable across retries and copies: the replay dedupes on it and sends it
    /// as the `webhook-id` header ([`is_valid_event_id`]).
    pub event_id: String,
    /// The webhook the event was delivered to; also the record's key.
    pub webhook_id: String,
    pub event_type: String,
    /// When the event was delivered; RFC 3339 with milliseconds in the value.
    #[serde(serialize_with = "rfc3339_millis", deserialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// The body that was delivered, kept as its raw JSON text: a replay sends
    /// these bytes again unchanged (whitespace around the value is not kept).
    pub payload: Box<RawValue>,
    /// The original delivery's outcome, when the platform knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// The outcome of the delivery a record logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub status: DeliveryStatus,
    /// The receiver's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Failed,
    Succeeded,
}

impl Delivery {
    pub fn succeeded(http_status: u16) -> Self {
        Self { status: DeliveryStatus::Succeeded, http_status: Some(http_status) }
    }

    /// A failed delivery; `http_status` is `None` when the receiver never
    /// answered (timeout, connection refused).
    pub fn failed(http_status: Option<u16>) -> Self {
        Self { status: DeliveryStatus::Failed, http_status }
    }
}

/// Equal when every field is, the payload compared as text.
impl PartialEq for DeliveryRecord {
    fn eq(&self, other: &Self) -> bool {
        self.event_id == other.event_id
            && self.webhook_id == other.webhook_id
            && self.event_type == other.event_type
            && self.created_at == other.created_at
            && self.payload.get() == other.payload.get()
            && self.delivery == other.delivery
    }
}

impl DeliveryRecord {
    /// A record of `payload` (the delivered body as JSON text), checked as
    /// [`DeliveryRecord::validate`] does.
    pub fn new(
        event_id: impl Into<String>,
        webhook_id: impl Into<String>,
        event_type: impl Into<String>,
        created_at: DateTime<Utc>,
        payload: impl Into<String>,
    ) -> Result<Self, Error> {
        let payload = RawValue::from_string(payload.into()).map_err(Error::InvalidPayload)?;
        let record = Self {
            event_id: event_id.into(),
            webhook_id: webhook_id.into(),
            event_type: event_type.into(),
            created_at,
            payload,
            delivery: None,
        };
        record.validate()?;
        Ok(record)
    }

    /// The same record with the original delivery's outcome.
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// The replay's rules for a record it can deliver: an `event_id` that can
    /// be a header, a non-empty `webhook_id`, a timestamp after 1970. (The
    /// payload is valid JSON by construction.)
    pub fn validate(&self) -> Result<(), Error> {
        if !is_valid_event_id(&self.event_id) {
            return Err(Error::InvalidEventId);
        }
        if self.webhook_id.is_empty() {
            return Err(Error::EmptyWebhookId);
        }
        check_timestamp(self.created_at.timestamp_millis())?;
        Ok(())
    }

    /// The record's timestamp by default: `created_at` in epoch milliseconds.
    pub fn timestamp_ms(&self) -> i64 {
        self.created_at.timestamp_millis()
    }

    /// The record value's bytes, after [`DeliveryRecord::validate`].
    pub fn to_value(&self) -> Result<Vec<u8>, Error> {
        self.validate()?;
        // Only strings, a RawValue and plain enums: serialising cannot fail.
        serde_json::to_vec(self).map_err(Error::InvalidPayload)
    }
}

pub(crate) fn check_timestamp(ms: i64) -> Result<i64, Error> {
    if ms < 0 {
        return Err(Error::InvalidTimestamp(ms));
    }
    Ok(ms)
}

fn rfc3339_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    const PAYLOAD: &str = r#"{"for_user_id": "2244994945",  "tweet_create_events": [ {"id_str": "1"} ], "n": 1.50}"#;

    #[test]
    fn serialises_to_the_documented_shape() {
        let r = DeliveryRecord::new("ev_1", "wh_a", "tweet_create_events", at(1_795_431_723_456), PAYLOAD)
            .unwrap()
            .with_delivery(Delivery::failed(Some(503)));
        let value: Value = serde_json::from_slice(&r.to_value().unwrap()).unwrap();
        assert_eq!(
            value,
            json!({
                "event_id": "ev_1",
                "webhook_id": "wh_a",
                "event_type": "tweet_create_events",
                "created_at": "2026-11-23T11:02:03.456Z",
                "payload": serde_json::from_str::<Value>(PAYLOAD).unwrap(),
                "delivery": {"status": "failed", "http_status": 503}
            })
        );
        assert_eq!(r.timestamp_ms(), 1_795_431_723_456);
    }

    #[test]
    fn the_payload_is_kept_byte_for_byte() {
        let r = DeliveryRecord::new("ev_1", "wh_a", "t", at(0), PAYLOAD).unwrap();
        let text = String::from_utf8(r.to_value().unwrap()).unwrap();
        assert!(text.contains(&format!(r#""payload":{PAYLOAD}"#)), "{text}");
        // What the replay reads back (a borrowed RawValue) is the same text.
        #[derive(Deserialize)]
        struct Read<'a> {
            #[serde(borrow)]
            payload: &'a RawValue,
        }
        let read: Read = serde_json::from_str(&text).unwrap();
        assert_eq!(read.payload.get(), PAYLOAD);
        // Whitespace around the JSON value is not part of it.
        let padded = DeliveryRecord::new("ev_1", "wh_a", "t", at(0), " {\"a\": 1}\n").unwrap();
        assert_eq!(padded.payload.get(), r#"{"a": 1}"#);
    }

    #[test]
    fn without_an_outcome_there_is_no_delivery_field() {
        let r = DeliveryRecord::new("ev_1", "wh_a", "t", at(0), "[]").unwrap();
        let value: Value = serde_json::from_slice(&r.to_value().unwrap()).unwrap();
        assert!(value.get("delivery").is_none(), "{value}");
        let ok = r.with_delivery(Delivery::succeeded(200));
        let value: Value = serde_json::from_slice(&ok.to_value().unwrap()).unwrap();
        assert_eq!(value["delivery"], json!({"status": "succeeded", "http_status": 200}));
        let no_answer = Delivery::failed(None);
        assert_eq!(serde_json::to_value(no_answer).unwrap(), json!({"status": "failed"}));
    }

    #[test]
    fn reads_what_it_writes() {
        let r = DeliveryRecord::new("ev 1", "wh_a", "t", at(1_795_431_723_456), PAYLOAD)
            .unwrap()
            .with_delivery(Delivery::succeeded(204));
        let back: DeliveryRecord = serde_json::from_slice(&r.to_value().unwrap()).unwrap();
        assert_eq!(back, r);
        // Other producers' offsets and unknown fields are read too.
        let other = r#"{"event_id":"e","webhook_id":"w","event_type":"t","created_at":"2026-11-23T12:02:03.456+01:00","payload":1,"x":true}"#;
        let back: DeliveryRecord = serde_json::from_str(other).unwrap();
        assert_eq!(back.timestamp_ms(), 1_795_431_723_456);
    }

    #[test]
    fn event_ids_follow_the_replays_header_rule() {
        for bad in ["", " lead", "trail ", "new\nline", "tab\tbed", "caf\u{e9}", "del\u{7f}"] {
            assert!(!is_valid_event_id(bad), "{bad:?}");
            let e = DeliveryRecord::new(bad, "wh_a", "t", at(0), "{}").unwrap_err();
            assert!(matches!(e, Error::InvalidEventId), "{bad:?}: {e}");
            assert!(!e.is_retryable());
        }
        for good in ["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "inner space", "!~", &"x".repeat(255)] {
            assert!(is_valid_event_id(good), "{good:?}");
        }
        assert!(!is_valid_event_id(&"x".repeat(256)));
    }

    #[test]
    fn other_invalid_records_are_refused() {
        assert!(matches!(DeliveryRecord::new("e", "", "t", at(0), "{}"), Err(Error::EmptyWebhookId)));
        assert!(matches!(DeliveryRecord::new("e", "w", "t", at(0), "{not json"), Err(Error::InvalidPayload(_))));
        assert!(matches!(DeliveryRecord::new("e", "w", "t", at(0), ""), Err(Error::InvalidPayload(_))));
        assert!(matches!(DeliveryRecord::new("e", "w", "t", at(-1), "{}"), Err(Error::InvalidTimestamp(-1))));
        // Fields changed after construction are checked again before sending.
        let mut r = DeliveryRecord::new("e", "w", "t", at(0), "{}").unwrap();
        r.event_id = "bad\r\n".into();
        assert!(matches!(r.to_value(), Err(Error::InvalidEventId)));
    }
}
