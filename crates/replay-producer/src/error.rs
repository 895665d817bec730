//! The crate's one error type.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What can go wrong writing the delivery log. [`Error::is_retryable`] tells
/// whether sending the same record again can succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `event_id` could not be sent as a `webhook-id` header: the replay
    /// would count the record as malformed and never deliver it.
    #[error("event_id is not a valid webhook-id header value (1 to 255 visible ASCII characters, spaces only inside)")]
    InvalidEventId,
    /// The record has no `webhook_id` (it is also the record's key).
    #[error("webhook_id is empty")]
    EmptyWebhookId,
    /// The payload is not one JSON value.
    #[error("payload is not valid JSON: {0}")]
    InvalidPayload(#[source] serde_json::Error),
    /// A timestamp before 1970 (Kafka timestamps are non-negative milliseconds).
    #[error("timestamp {0} ms is before the Unix epoch")]
    InvalidTimestamp(i64),
    /// The settings were refused when the producer was created.
    #[error("creating the Kafka producer: {0}")]
    Config(#[source] KafkaError),
    /// The topic's partition count could not be read from the brokers.
    #[error("reading the partition count of topic `{topic}`: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    /// The brokers do not know the topic (or it has no partitions).
    #[error("topic `{0}` does not exist")]
    UnknownTopic(String),
    /// The brokers did not take the record.
    #[error("producing to Kafka: {0}")]
    Produce(#[source] KafkaError),
    /// Records still unsent when a flush ran out of time.
    #[error("flushing the Kafka producer: {0}")]
    Flush(#[source] KafkaError),
}

impl Error {
    /// Whether sending the same record again (with the same producer) can
    /// succeed. Invalid records and settings never can; nor can records the
    /// brokers refuse for good (too large, not authorised) or a producer
    /// whose idempotence state failed (`Fatal`: create a new one).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::InvalidEventId
            | Error::EmptyWebhookId
            | Error::InvalidPayload(_)
            | Error::InvalidTimestamp(_)
            | Error::Config(_)
            | Error::UnknownTopic(_) => false,
            Error::Metadata { source, .. } => !is_permanent(source),
            Error::Produce(e) | Error::Flush(e) => !is_permanent(e),
        }
    }
}

fn is_permanent(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::InvalidRecord
                | C::InvalidTimestamp
                | C::InvalidTopic
                | C::UnknownTopic
                | C::UnknownPartition
                | C::InvalidArgument
                | C::InvalidRequiredAcks
                | C::PolicyViolation
                | C::UnsupportedVersion
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::SaslAuthenticationFailed
                | C::Authentication
                | C::Fatal
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_records_and_permanent_refusals_are_not_retryable() {
        assert!(!Error::InvalidEventId.is_retryable());
        assert!(!Error::EmptyWebhookId.is_retryable());
        assert!(!Error::InvalidTimestamp(-1).is_retryable());
        assert!(!Error::UnknownTopic("t".into()).is_retryable());
        assert!(!Error::Produce(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)).is_retryable());
        assert!(
            !Error::Produce(KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed)).is_retryable()
        );
        assert!(!Error::Produce(KafkaError::MessageProduction(RDKafkaErrorCode::Fatal)).is_retryable());
    }

    #[test]
    fn transient_broker_errors_are_retryable() {
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert!(Error::Produce(KafkaError::MessageProduction(code)).is_retryable(), "{code:?}");
        }
        assert!(Error::Flush(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)).is_retryable());
        let metadata = Error::Metadata {
            topic: "t".into(),
            source: KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut),
        };
        assert!(metadata.is_retryable());
    }
}
