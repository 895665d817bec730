//! The wire types of activity-replay: what the HTTP API accepts and returns
//! (docs/api.md), the signed job status event (docs/api.md, "The job status event"), and the
//! OpenAPI document generated from them ([`openapi::document`]).
//!
//! The service serializes these types; the client crate deserializes them.
//! Deserializing is tolerant where a newer service may say more: unknown
//! fields are ignored in responses, and unknown job states and error codes
//! map to an `Unknown` variant instead of an error. Requests are strict.

pub mod error;
pub mod event;
pub mod ids;
pub mod job;
pub mod openapi;
pub mod webhook;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use event::{StatusEvent, StatusWord};
pub use ids::{JobId, TenantId, WebhookId};
pub use job::{
    Counters, CreateReplayRequest, DryRunResult, Failure, FailurePage, Job, JobLimits, JobPace, JobPause, JobResult,
    JobState, Only, PauseRequest, PausedBy, Progress, ReplayAccepted, ReplayList, Selection, TwitterReplayAccepted,
};
pub use webhook::{CreateWebhookRequest, UpdateWebhookRequest, Webhook, WebhookCreated, WebhookList};
