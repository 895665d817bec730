//! Webhooks: where replayed events go.

use crate::ids::WebhookId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/webhooks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are delivered: `https`, a public host, at most 2,048
    /// characters, no credentials or fragment.
    #[schema(example = "https://hooks.example.com/twitter")]
    pub url: String,
    /// The platform's own id for the webhook, the key its delivery log
    /// already uses: 1 to 64 characters of `A-Z a-z 0-9 - _ . ~`, not `.`
    /// or `..`. Unique in the deployment (`webhook_id_taken` otherwise, also
    /// after a delete). Absent: the service makes one (`wh_` and 32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "1374885929471582210")]
    pub id: Option<String>,
    /// The platform's current signing secret in the Standard Webhooks form,
    /// `whsec_` and the base64 of 24 to 64 bytes. Never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
    /// The platform's current signing secret as the raw key: its UTF-8
    /// bytes, 16 to 256 of them, are the HMAC key as they are (a secret
    /// that is not base64, e.g. one that starts with `whsec_` but is used
    /// whole). At most one of `secret` and `secret_raw`. Never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_raw: Option<String>,
}

impl CreateWebhookRequest {
    /// A webhook at `url`, its id and secret made by the service.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }
}

/// `PATCH /v1/webhooks/{webhook_id}`: a new URL (under the rules of
/// creation, refused while a job of the webhook is active), a new secret
/// (in either form of creation: the current one keeps signing beside it for
/// `secret_grace_seconds`), or both. At least one of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://hooks.example.com/twitter-v2")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_raw: Option<String>,
    /// How long deliveries carry the old secret's signature too: 0 to
    /// 604,800 seconds (a week), default 86,400. Only with a new secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_grace_seconds: Option<u64>,
}

impl UpdateWebhookRequest {
    /// A new URL only.
    pub fn url(url: impl Into<String>) -> Self {
        Self { url: Some(url.into()), ..Self::default() }
    }
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

/// A webhook just created, with its signing secret if the service made it:
/// shown this once. A secret the platform brought is not echoed back.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookCreated {
    pub id: WebhookId,
    #[schema(example = "https://hooks.example.com/twitter")]
    pub url: String,
    /// The Standard Webhooks signing secret, `whsec_` and base64 of 32
    /// bytes; absent when the request brought its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
    #[schema(example = "2026-11-24T09:00:00.000Z")]
    pub created_at: String,
}

/// `GET /v1/webhooks`: a page of the tenant's webhooks, in id order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
    /// Where the next page starts (`cursor`); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
