//! Webhooks: where replayed events go.

use crate::ids::WebhookId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are delivered: `https`, a public host, at most 2,048
    /// characters, no credentials or fragment.
    #[schema(example = "https://hooks.example.com/twitter")]
    pub url: String,
}

/// `PATCH /v1/webhooks/{webhook_id}`: a new URL, under the rules of creation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[schema(example = "https://hooks.example.com/twitter-v2")]
    pub url: String,
}

/// A registered webhook (its secret is only shown at creation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    #[schema(example = "https://hooks.example.com/twitter")]
    pub url: String,
    /// RFC 3339, UTC, milliseconds.
    #[schema(example = "2026-11-24T09:00:00.000Z")]
    pub created_at: String,
}

/// A webhook just created, with its signing secret: shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    pub id: WebhookId,
    #[schema(example = "https://hooks.example.com/twitter")]
    pub url: String,
    /// The Standard Webhooks signing secret, `whsec_` and base64 of 32 bytes.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    #[schema(example = "2026-11-24T09:00:00.000Z")]
    pub created_at: String,
}
