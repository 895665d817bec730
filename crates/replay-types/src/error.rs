//! The one error body of the API: `{"error": {"code", "message"}}`.

use crate::ids::JobId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people; may change between releases. Branch on `code`.
    pub message: String,
    /// The webhook's active job (`job_already_running`, `webhook_busy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// The id of the API invocation that answered (Lambda's request id, also
    /// on its log lines): quote it when asking the operator about an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "5f0d3a2c-8a7b-4c1e-9d2f-3b6a1e0c4d7f")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code, message: message.into(), job_id: None, request_id: None } }
    }
}

/// Stable error codes (docs/api.md, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidDate,
    InvalidRange,
    RangeTooOld,
    RangeNotSettled,
    RangeExpired,
    InvalidSelection,
    InvalidCursor,
    /// A job's `max_in_flight` or `max_events_per_second` above the
    /// deployment's ceiling.
    LimitAboveCeiling,
    Unauthorized,
    /// A read-only key on an endpoint that writes.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    JobAlreadyRunning,
    /// A change or delete of a webhook while one of its jobs is active.
    WebhookBusy,
    JobNotEnded,
    NothingToRetry,
    /// A pause or resume of a job that has ended.
    JobEnded,
    /// A webhook id the deployment already holds (whose is not said).
    WebhookIdTaken,
    PayloadTooLarge,
    RateLimited,
    /// The tenant's API requests per minute are spent (all its keys together).
    TenantRateLimited,
    /// The tenant has as many active jobs as it may.
    TooManyActiveJobs,
    InternalError,
    Unavailable,
    /// A code this version does not know (a newer service): clients treat it
    /// by its HTTP status. The service never sends it.
    #[serde(other)]
    #[serde(skip_serializing)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the service answers with this code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest
            | Self::InvalidDate
            | Self::InvalidRange
            | Self::RangeTooOld
            | Self::RangeNotSettled
            | Self::RangeExpired
            | Self::InvalidSelection
            | Self::InvalidCursor
            | Self::LimitAboveCeiling => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::JobAlreadyRunning
            | Self::WebhookBusy
            | Self::JobNotEnded
            | Self::NothingToRetry
            | Self::JobEnded
            | Self::WebhookIdTaken => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited | Self::TenantRateLimited | Self::TooManyActiveJobs => 429,
            Self::InternalError | Self::Unknown => 500,
            Self::Unavailable => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidDate => "invalid_date",
            Self::InvalidRange => "invalid_range",
            Self::RangeTooOld => "range_too_old",
            Self::RangeNotSettled => "range_not_settled",
            Self::RangeExpired => "range_expired",
            Self::InvalidSelection => "invalid_selection",
            Self::InvalidCursor => "invalid_cursor",
            Self::LimitAboveCeiling => "limit_above_ceiling",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::JobAlreadyRunning => "job_already_running",
            Self::WebhookBusy => "webhook_busy",
            Self::JobNotEnded => "job_not_ended",
            Self::NothingToRetry => "nothing_to_retry",
            Self::JobEnded => "job_ended",
            Self::WebhookIdTaken => "webhook_id_taken",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::TenantRateLimited => "tenant_rate_limited",
            Self::TooManyActiveJobs => "too_many_active_jobs",
            Self::InternalError => "internal_error",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_are_tolerated() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"quota_exceeded","message":"x","new":1}}"#).unwrap();
        assert_eq!(body.error.code, ErrorCode::Unknown);
        let known: ErrorCode = serde_json::from_str(r#""range_not_settled""#).unwrap();
        assert_eq!(known, ErrorCode::RangeNotSettled);
        assert_eq!(serde_json::to_value(known).unwrap(), known.as_str());
    }
}
