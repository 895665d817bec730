//! Routing and JSON encoding for the HTTP API (docs/api.md). Business rules live in
//! `replay_core::services::api`; this file only decodes and encodes.

use replay_core::domain::filter::selection_of;
use replay_core::domain::ids::TenantId;
use replay_core::domain::ids::{JobId, WebhookId};
use replay_core::domain::window::{parse_rfc3339, parse_twitter_date};
use replay_core::services::api::{ApiContext, NewReplay, MAX_FAILURES_PER_PAGE, MAX_JOBS_PER_PAGE, MAX_LIST_PAGE};
use replay_core::Error;
use replay_types::{
    CreateReplayRequest, CreateWebhookRequest, ErrorBody, ErrorCode, JobLimits, JobState, PauseRequest, ReplayAccepted,
    Selection, TwitterReplayAccepted, UpdateWebhookRequest,
};
use serde::Deserialize;
use serde_json::Value;
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
    pub accept: Option<&'a str>,
    pub body: &'a [u8],
    /// The invocation's id (Lambda's request id): every error body names it,
    /// and so do the function's log lines and REPORT line.
    pub request_id: Option<&'a str>,
}

pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
    /// A body that is not one JSON document (NDJSON), with its content type.
    pub text: Option<(&'static str, String)>,
}

impl ApiResponse {
    fn json(status: u16, body: Value) -> Self {
        Self { status, body, headers: Vec::new(), text: None }
    }

    /// 204, no body.
    fn no_content() -> Self {
        Self { status: 204, body: Value::Null, headers: Vec::new(), text: Some(("application/json", String::new())) }
    }

    /// `(content type, body)` as sent.
    pub fn encoded(&self) -> (&'static str, String) {
        match &self.text {
            Some((content_type, text)) => (content_type, text.clone()),
            None => ("application/json", self.body.to_string()),
        }
    }
}

const NDJSON: &str = "application/x-ndjson";
/// Where the next NDJSON answer of a list starts (absent on the last).
pub const NEXT_CURSOR: &str = "x-next-cursor";

/// When to try again after `too_many_active_jobs`: jobs take minutes, so
/// sooner would only spend requests.
const ACTIVE_JOBS_RETRY_AFTER_S: u64 = 30;

pub fn error_response(code: ErrorCode, message: &str) -> ApiResponse {
    ApiResponse::json(code.status(), to_json(&ErrorBody::new(code, message)))
}

/// Maps a core error to the contract's status and stable code; internal
/// details are logged, never returned.
pub fn from_error(e: &Error) -> ApiResponse {
    match e {
        Error::InvalidRequest(m) => error_response(ErrorCode::InvalidRequest, m),
        Error::InvalidDate(m) => error_response(ErrorCode::InvalidDate, m),
        Error::InvalidRange(m) => error_response(ErrorCode::InvalidRange, m),
        Error::RangeTooOld(m) => error_response(ErrorCode::RangeTooOld, m),
        Error::RangeExpired(m) => error_response(ErrorCode::RangeExpired, m),
        Error::RangeNotSettled(m) => error_response(ErrorCode::RangeNotSettled, m),
        Error::InvalidSelection(m) => error_response(ErrorCode::InvalidSelection, m),
        Error::InvalidCursor => error_response(ErrorCode::InvalidCursor, "`cursor` is not one this list gave"),
        Error::LimitAboveCeiling(m) => error_response(ErrorCode::LimitAboveCeiling, m),
        Error::JobNotEnded(job) => error_response(
            ErrorCode::JobNotEnded,
            &format!("replay job {job} has not ended; retry its failures once it has"),
        ),
        Error::NothingToRetry(job) => {
            error_response(ErrorCode::NothingToRetry, &format!("replay job {job} has no failed events"))
        }
        Error::JobEnded { job_id, state } => error_response(
            ErrorCode::JobEnded,
            &format!("replay job {job_id} has ended ({state}); it can no longer be paused or resumed"),
        ),
        // Whose it is stays unsaid: ids are one namespace across tenants.
        Error::WebhookIdTaken(id) => error_response(
            ErrorCode::WebhookIdTaken,
            &format!("webhook id {id} is already registered in this deployment; ids are never reused"),
        ),
        Error::Unauthorized => error_response(ErrorCode::Unauthorized, "a valid API key is required"),
        Error::Forbidden => error_response(ErrorCode::Forbidden, "this API key may only read"),
        Error::NotFound => error_response(ErrorCode::NotFound, "no such resource"),
        Error::RateLimited { retry_after_s } => {
            let mut r =
                error_response(ErrorCode::RateLimited, "too many replay requests for this webhook; retry later");
            r.headers.push(("retry-after", retry_after_s.to_string()));
            r
        }
        Error::TenantRateLimited { limit, retry_after_s } => {
            let message = format!("this tenant's {limit} API requests per minute are spent; retry later");
            let mut r = error_response(ErrorCode::TenantRateLimited, &message);
            r.headers.push(("retry-after", retry_after_s.to_string()));
            r
        }
        Error::TooManyActiveJobs { limit } => {
            let message = format!("this tenant has {limit} active replay jobs, its limit; retry when one has ended");
            let mut r = error_response(ErrorCode::TooManyActiveJobs, &message);
            r.headers.push(("retry-after", ACTIVE_JOBS_RETRY_AFTER_S.to_string()));
            r
        }
        Error::JobAlreadyRunning { job_id } => conflict_over(
            ErrorCode::JobAlreadyRunning,
            job_id,
            format!("replay job {job_id} is still running for this webhook"),
        ),
        Error::WebhookBusy { job_id } => conflict_over(
            ErrorCode::WebhookBusy,
            job_id,
            format!("replay job {job_id} is active for this webhook; cancel it or wait for its end first"),
        ),
        e if e.is_retryable() => {
            error!(error = %e, "dependency unavailable");
            let mut r = error_response(ErrorCode::Unavailable, "the service is temporarily unavailable; retry later");
            r.headers.push(("retry-after", "5".into()));
            r
        }
        e => {
            error!(error = %e, "internal error");
            error_response(ErrorCode::InternalError, "internal error")
        }
    }
}

/// The methods a known path answers (the `Allow` header of its 405, RFC
/// 9110 section 15.5.6); `None` for an unknown path.
fn allowed_methods(path: &[&str]) -> Option<&'static str> {
    Some(match path {
        ["v1", "webhooks"] => "GET, POST",
        ["v1", "webhooks", _] => "GET, PATCH, DELETE",
        ["v1", "webhooks", _, "replays"] => "GET, POST",
        ["v1", "replays"] => "GET",
        ["v1", "replays", _] => "GET, DELETE",
        ["v1", "replays", _, "failures"] | ["v1", "openapi.json"] | ["v1", "health"] => "GET",
        ["v1", "replays", _, "retry" | "pause" | "resume"]
        | ["1.1", "account_activity", "replay", "webhooks", _, "subscriptions", "all.json"] => "POST",
        _ => return None,
    })
}

/// A 409 that names the active job standing in the way (`error.job_id`).
fn conflict_over(code: ErrorCode, job_id: &str, message: String) -> ApiResponse {
    let mut body = ErrorBody::new(code, message);
    body.error.job_id = Some(job_id.into());
    ApiResponse::json(409, to_json(&body))
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Error> {
    if body.is_empty() {
        return Err(Error::InvalidRequest("a JSON body is required".into()));
    }
    // Every request body is an object: serde would also read a struct from
    // an array of its fields (`[null, null]`), which the document does not allow.
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Error::InvalidRequest(format!("invalid JSON body: {e}")))?;
    if !value.is_object() {
        return Err(Error::InvalidRequest("the JSON body must be an object".into()));
    }
    serde_json::from_value(value).map_err(|e| Error::InvalidRequest(format!("invalid JSON body: {e}")))
}

fn query<'a>(req: &'a ApiRequest<'_>, name: &str) -> Option<&'a str> {
    req.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Routes one request.
pub async fn handle(ctx: &ApiContext, req: ApiRequest<'_>) -> ApiResponse {
    let mut response = if req.body.len() > MAX_BODY_BYTES {
        error_response(ErrorCode::PayloadTooLarge, "the request body is too large")
    } else {
        match route(ctx, &req).await {
            Ok(r) => r,
            Err(e) => from_error(&e),
        }
    };
    // Every error body says which invocation answered it: what an operator
    // looks up in the logs (docs/api.md, "Errors").
    if let (Some(id), Some(error)) = (req.request_id, response.body.get_mut("error").and_then(Value::as_object_mut)) {
        error.insert("request_id".into(), Value::String(id.to_owned()));
    }
    response
}

/// The OpenAPI document generated from the wire types (docs/openapi.json is
/// the same, committed), built once per cold start.
static OPENAPI_DOC: std::sync::LazyLock<Option<Value>> =
    std::sync::LazyLock::new(|| serde_json::to_value(replay_types::openapi::document()).ok());

async fn route(ctx: &ApiContext, req: &ApiRequest<'_>) -> Result<ApiResponse, Error> {
    // No trimming: `/v1/webhooks/` is the webhook with an empty id (404), not the collection.
    let segments: Vec<&str> = req.path.split('/').skip(1).collect();
    // For load balancers and uptime checks: no key, no dependency, no detail.
    if req.method == "GET" && segments == ["v1", "health"] {
        return Ok(ApiResponse::json(200, serde_json::json!({"status": "ok"})));
    }
    if req.method == "GET" && segments == ["v1", "openapi.json"] {
        let doc =
            OPENAPI_DOC.clone().ok_or_else(|| Error::Internal("the OpenAPI document does not serialize".into()))?;
        return Ok(ApiResponse::json(200, doc));
    }
    // Every other call needs a key, known path or not.
    let caller = ctx.authenticate(req.authorization).await?;
    ctx.admit(&caller).await?;
    match (req.method, segments.as_slice()) {
        ("POST", ["v1", "webhooks"]) => {
            let body: CreateWebhookRequest = decode(req.body)?;
            Ok(ApiResponse::json(201, to_json(&ctx.create_webhook(&caller, body).await?)))
        }
        ("GET", ["v1", "webhooks"]) => {
            let limit = page_limit(req, MAX_LIST_PAGE)?;
            Ok(ApiResponse::json(200, to_json(&ctx.list_webhooks(&caller, cursor(req), limit).await?)))
        }
        ("GET", ["v1", "webhooks", id]) => {
            Ok(ApiResponse::json(200, to_json(&ctx.get_webhook(&caller, &WebhookId::from(*id)).await?)))
        }
        ("PATCH", ["v1", "webhooks", id]) => {
            let body: UpdateWebhookRequest = decode(req.body)?;
            Ok(ApiResponse::json(200, to_json(&ctx.update_webhook(&caller, &WebhookId::from(*id), body).await?)))
        }
        ("DELETE", ["v1", "webhooks", id]) => {
            ctx.delete_webhook(&caller, &WebhookId::from(*id)).await?;
            Ok(ApiResponse::no_content())
        }
        ("POST", ["v1", "webhooks", id, "replays"]) => {
            let body: CreateReplayRequest = decode(req.body)?;
            let from = parse_rfc3339("from", &body.from)?;
            let to = parse_rfc3339("to", &body.to)?;
            let selection = selection_of(&body)?;
            let webhook_id = WebhookId::from(*id);
            let ask = NewReplay {
                idempotency_key: req.idempotency_key,
                target: body.target_webhook_id.as_ref(),
                crc_check: body.crc_check,
                limits: JobLimits {
                    max_in_flight: body.max_in_flight,
                    max_events_per_second: body.max_events_per_second,
                },
                ordering_key: body.ordering_key.as_deref(),
                ..NewReplay::window(&webhook_id, from, to, &selection)
            };
            let job = ctx.start_replay(&caller, ask).await?;
            Ok(ApiResponse::json(202, to_json(&ReplayAccepted::from(&job))))
        }
        ("GET", ["v1", "webhooks", id, "replays"]) => {
            let (states, limit) = (job_states(req)?, page_limit(req, MAX_JOBS_PER_PAGE)?);
            let page = ctx.list_jobs(&caller, Some(&WebhookId::from(*id)), &states, cursor(req), limit).await?;
            Ok(ApiResponse::json(200, to_json(&page)))
        }
        ("GET", ["v1", "replays"]) => {
            let (states, limit) = (job_states(req)?, page_limit(req, MAX_JOBS_PER_PAGE)?);
            let page = ctx.list_jobs(&caller, None, &states, cursor(req), limit).await?;
            Ok(ApiResponse::json(200, to_json(&page)))
        }
        ("GET", ["v1", "replays", id]) => {
            Ok(ApiResponse::json(200, to_json(&ctx.get_job(&caller, &JobId::from(*id)).await?)))
        }
        ("DELETE", ["v1", "replays", id]) => {
            Ok(ApiResponse::json(202, to_json(&ctx.cancel_job(&caller, &JobId::from(*id)).await?)))
        }
        ("POST", ["v1", "replays", id, "pause"]) => {
            // The body is optional: no reason, the deployment's expiry.
            let body: PauseRequest = if req.body.is_empty() { PauseRequest::default() } else { decode(req.body)? };
            Ok(ApiResponse::json(200, to_json(&ctx.pause_job(&caller, &JobId::from(*id), body).await?)))
        }
        ("POST", ["v1", "replays", id, "resume"]) => {
            Ok(ApiResponse::json(200, to_json(&ctx.resume_job(&caller, &JobId::from(*id)).await?)))
        }
        ("GET", ["v1", "replays", id, "failures"]) => failures(ctx, req, &caller.tenant, &JobId::from(*id)).await,
        ("POST", ["v1", "replays", id, "retry"]) => {
            let job = ctx.retry_failures(&caller, &JobId::from(*id), req.idempotency_key).await?;
            Ok(ApiResponse::json(202, to_json(&ReplayAccepted::from(&job))))
        }
        ("POST", ["1.1", "account_activity", "replay", "webhooks", id, "subscriptions", "all.json"]) => {
            let from_raw =
                query(req, "from_date").ok_or_else(|| Error::InvalidRequest("`from_date` is required".into()))?;
            let to_raw = query(req, "to_date").ok_or_else(|| Error::InvalidRequest("`to_date` is required".into()))?;
            let from = parse_twitter_date("from_date", from_raw)?;
            let to = parse_twitter_date("to_date", to_raw)?;
            let (webhook_id, everything) = (WebhookId::from(*id), Selection::default());
            let ask = NewReplay {
                idempotency_key: req.idempotency_key,
                ..NewReplay::window(&webhook_id, from, to, &everything)
            };
            let job = ctx.start_replay(&caller, ask).await?;
            Ok(ApiResponse::json(
                202,
                to_json(&TwitterReplayAccepted { job_id: job.job_id, created_at: job.created_at }),
            ))
        }
        (_, path) => match allowed_methods(path) {
            Some(allow) => {
                let mut r = error_response(ErrorCode::MethodNotAllowed, "method not allowed on this resource");
                r.headers.push(("allow", allow.into()));
                Ok(r)
            }
            None => Err(Error::NotFound),
        },
    }
}

/// `GET /v1/replays/{id}/failures`: a page, or with `Accept:
/// application/x-ndjson` the list one failure per line, as much as one answer
/// may carry; `X-Next-Cursor` names where the next answer starts.
async fn failures(
    ctx: &ApiContext,
    req: &ApiRequest<'_>,
    tenant: &TenantId,
    job: &JobId,
) -> Result<ApiResponse, Error> {
    let wants_ndjson = req.accept.is_some_and(|a| a.split(',').any(|t| t.trim().starts_with(NDJSON)));
    if wants_ndjson {
        let lines = ctx.failure_lines(tenant, job, cursor(req)).await?;
        let mut response = ApiResponse::json(200, Value::Null);
        response.text = Some((NDJSON, lines.text));
        if let Some(next) = lines.next_cursor {
            response.headers.push((NEXT_CURSOR, next));
        }
        return Ok(response);
    }
    let limit = page_limit(req, MAX_FAILURES_PER_PAGE)?;
    let page = ctx.failures(tenant, job, cursor(req), limit).await?;
    Ok(ApiResponse::json(200, to_json(&page)))
}

/// A list's `cursor`; an empty one is the first page, as no cursor is.
fn cursor<'a>(req: &'a ApiRequest<'_>) -> Option<&'a str> {
    query(req, "cursor").filter(|c| !c.is_empty())
}

/// A job list's `state`: states separated by commas; every state when absent
/// or empty.
fn job_states(req: &ApiRequest<'_>) -> Result<Vec<JobState>, Error> {
    // Absent: every state. Present, it names states (an empty one is none
    // of them: the document's enum has no empty value).
    let Some(raw) = query(req, "state") else { return Ok(Vec::new()) };
    raw.split(',')
        .map(|s| {
            JobState::parse(s.trim()).ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "`state` must be job states separated by commas ({}), got `{s}`",
                    JobState::names()
                ))
            })
        })
        .collect()
}

/// A list's `limit`: 1 to `max`, 100 when absent.
fn page_limit(req: &ApiRequest<'_>, max: u32) -> Result<u32, Error> {
    match query(req, "limit") {
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| Error::InvalidRequest(format!("`limit` must be 1-{max}"))),
        None => Ok(100),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
