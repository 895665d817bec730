//! Routing and JSON encoding for contract section 2. Business rules live in
//! `replay_core::services::api`; this file only decodes and encodes.

use replay_core::domain::ids::{JobId, WebhookId};
use replay_core::domain::window::{parse_rfc3339, parse_twitter_date};
use replay_core::services::api::{ApiContext, CreateWebhook};
use replay_core::Error;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::error;

/// Largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A transport-neutral request, so routing is testable without Lambda types.
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub authorization: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub body: &'a [u8],
}

pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    fn json(status: u16, body: Value) -> Self {
        Self { status, body, headers: Vec::new() }
    }
}

pub fn error_response(status: u16, code: &str, message: &str) -> ApiResponse {
    ApiResponse::json(status, json!({"error": {"code": code, "message": message}}))
}

/// Maps a core error to the contract's status and stable code; internal
/// details are logged, never returned.
pub fn from_error(e: &Error) -> ApiResponse {
    match e {
        Error::InvalidRequest(m) => error_response(400, "invalid_request", m),
        Error::InvalidDate(m) => error_response(400, "invalid_date", m),
        Error::InvalidRange(m) => error_response(400, "invalid_range", m),
        Error::RangeTooOld(m) => error_response(400, "range_too_old", m),
        Error::RangeExpired(m) => error_response(400, "range_expired", m),
        Error::RangeNotSettled(m) => error_response(400, "range_not_settled", m),
        Error::Unauthorized => error_response(401, "unauthorized", "a valid API key is required"),
        Error::NotFound => error_response(404, "not_found", "no such resource"),
        Error::RateLimited { retry_after_s } => {
            let mut r = error_response(429, "rate_limited", "too many replay requests for this webhook; retry later");
            r.headers.push(("retry-after", retry_after_s.to_string()));
            r
        }
        Error::JobAlreadyRunning { job_id } => {
            let mut r = error_response(
                409,
                "job_already_running",
                &format!("replay job {job_id} is still running for this webhook"),
            );
            r.body["error"]["job_id"] = json!(job_id);
            r
        }
        e if e.is_retryable() => {
            error!(error = %e, "dependency unavailable");
            let mut r = error_response(503, "unavailable", "the service is temporarily unavailable; retry later");
            r.headers.push(("retry-after", "5".into()));
            r
        }
        e => {
            error!(error = %e, "internal error");
            error_response(500, "internal_error", "internal error")
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateReplay {
    from: String,
    to: String,
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Error> {
    if body.is_empty() {
        return Err(Error::InvalidRequest("a JSON body is required".into()));
    }
    serde_json::from_slice(body).map_err(|e| Error::InvalidRequest(format!("invalid JSON body: {e}")))
}

fn query<'a>(req: &'a ApiRequest<'_>, name: &str) -> Option<&'a str> {
    req.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Routes one request.
pub async fn handle(ctx: &ApiContext, req: ApiRequest<'_>) -> ApiResponse {
    if req.body.len() > MAX_BODY_BYTES {
        return error_response(413, "payload_too_large", "the request body is too large");
    }
    match route(ctx, &req).await {
        Ok(r) => r,
        Err(e) => from_error(&e),
    }
}

/// The OpenAPI document, served as is and checked against the routes in tests.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Parsed once per cold start, not per request.
static OPENAPI_DOC: std::sync::LazyLock<Option<Value>> =
    std::sync::LazyLock::new(|| serde_json::from_str(OPENAPI).ok());

async fn route(ctx: &ApiContext, req: &ApiRequest<'_>) -> Result<ApiResponse, Error> {
    // No trimming: `/v1/webhooks/` is the webhook with an empty id (404), not the collection.
    let segments: Vec<&str> = req.path.split('/').skip(1).collect();
    if req.method == "GET" && segments == ["v1", "openapi.json"] {
        let doc = OPENAPI_DOC.clone().ok_or_else(|| Error::Internal("docs/openapi.json does not parse".into()))?;
        return Ok(ApiResponse::json(200, doc));
    }
    // Every other call needs a key, known path or not.
    let tenant = ctx.authenticate(req.authorization).await?;
    match (req.method, segments.as_slice()) {
        ("POST", ["v1", "webhooks"]) => {
            let body: CreateWebhook = decode(req.body)?;
            Ok(ApiResponse::json(201, to_json(&ctx.create_webhook(&tenant, body).await?)))
        }
        ("GET", ["v1", "webhooks", id]) => {
            Ok(ApiResponse::json(200, to_json(&ctx.get_webhook(&tenant, &WebhookId::from(*id)).await?)))
        }
        ("POST", ["v1", "webhooks", id, "replays"]) => {
            let body: CreateReplay = decode(req.body)?;
            let from = parse_rfc3339("from", &body.from)?;
            let to = parse_rfc3339("to", &body.to)?;
            let job = ctx.create_replay(&tenant, &WebhookId::from(*id), from, to, req.idempotency_key).await?;
            Ok(ApiResponse::json(
                202,
                json!({
                    "job_id": job.job_id, "webhook_id": job.webhook_id, "from": job.from, "to": job.to,
                    "state": job.state, "created_at": job.created_at,
                }),
            ))
        }
        ("GET", ["v1", "webhooks", id, "replays"]) => {
            let jobs = ctx.list_jobs(&tenant, &WebhookId::from(*id)).await?;
            Ok(ApiResponse::json(200, json!({ "replays": jobs })))
        }
        ("GET", ["v1", "replays", id]) => {
            Ok(ApiResponse::json(200, to_json(&ctx.get_job(&tenant, &JobId::from(*id)).await?)))
        }
        ("DELETE", ["v1", "replays", id]) => {
            Ok(ApiResponse::json(202, to_json(&ctx.cancel_job(&tenant, &JobId::from(*id)).await?)))
        }
        ("POST", ["1.1", "account_activity", "replay", "webhooks", id, "subscriptions", "all.json"]) => {
            let from_raw =
                query(req, "from_date").ok_or_else(|| Error::InvalidRequest("`from_date` is required".into()))?;
            let to_raw = query(req, "to_date").ok_or_else(|| Error::InvalidRequest("`to_date` is required".into()))?;
            let from = parse_twitter_date("from_date", from_raw)?;
            let to = parse_twitter_date("to_date", to_raw)?;
            let job = ctx.create_replay(&tenant, &WebhookId::from(*id), from, to, req.idempotency_key).await?;
            Ok(ApiResponse::json(202, json!({ "job_id": job.job_id, "created_at": job.created_at })))
        }
        (
            _,
            ["v1", "webhooks"]
            | ["v1", "webhooks", _]
            | ["v1", "webhooks", _, "replays"]
            | ["v1", "replays", _]
            | ["1.1", "account_activity", "replay", "webhooks", _, "subscriptions", "all.json"],
        ) => Ok(error_response(405, "method_not_allowed", "method not allowed on this resource")),
        _ => Err(Error::NotFound),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
