//! The OpenAPI document, generated from the types of this crate and the
//! operations below. `docs/openapi.json` is this document, committed; a test
//! fails when the two differ (`make openapi` writes it). The API serves it at
//! `GET /v1/openapi.json`.

use crate::error::{ErrorBody, ErrorCode, ErrorDetail};
use crate::event::{ReplayJobStatus, StatusEvent, StatusWord};
use crate::ids::{JobId, WebhookId};
use crate::job::{
    Counters, CreateReplayRequest, DryRunResult, Failure, FailurePage, Job, JobLimits, JobPause, JobResult, JobState,
    Only, PauseRequest, PausedBy, Progress, ReplayAccepted, ReplayList, Selection, TwitterReplayAccepted,
};
use crate::webhook::{CreateWebhookRequest, UpdateWebhookRequest, Webhook, WebhookCreated, WebhookList};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse};

const DESCRIPTION: &str = "Replays a time window of a webhook's delivered events from the Kafka delivery log \
to the webhook URL, signed with Standard Webhooks. docs/api.md is the guide; this document is generated from \
the service's own types.\n\n\
Every call except `GET /v1/openapi.json` and `GET /v1/health` needs `Authorization: Bearer <api key>`. A key sees only its tenant's \
webhooks and jobs; other ids answer 404. A read-only key may call only the `GET` operations; on the others \
it gets 403 `forbidden`. Request and response bodies are JSON; request objects reject unknown \
fields; bodies over 64 KiB answer 413. Every error is `{\"error\": {\"code\", \"message\"}}` with a stable \
`code`. An unknown path answers 404 `not_found`; a known path with another method answers 405 \
`method_not_allowed` with an `Allow` header listing the methods it answers (after authentication). Times are RFC 3339; responses use UTC with milliseconds and `Z`.\n\n\
Clients must tolerate what they do not know: new fields, new progress counters, new job states and new error \
codes.";

#[derive(OpenApi)]
#[openapi(
    info(title = "activity-replay API", version = "1.0.0", description = DESCRIPTION, license(name = "Apache-2.0")),
    servers((url = "/", description = "The deployment serving this document (its API Gateway stage URL).")),
    paths(
        create_webhook,
        list_webhooks,
        get_webhook,
        update_webhook,
        delete_webhook,
        start_replay,
        list_replays,
        list_tenant_replays,
        get_replay,
        cancel_replay,
        pause_replay,
        resume_replay,
        list_failures,
        retry_failures,
        start_replay_twitter,
        openapi_document,
        health,
    ),
    components(
        schemas(
            CreateWebhookRequest, UpdateWebhookRequest, Webhook, WebhookCreated, WebhookList, CreateReplayRequest, Only, Selection, JobResult,
            DryRunResult, Failure, FailurePage, ReplayAccepted,
            TwitterReplayAccepted, JobState, Counters, Progress, Job, ReplayList, ErrorBody, ErrorDetail,
            ErrorCode, StatusEvent, ReplayJobStatus, StatusWord, JobId, WebhookId, JobPause, PausedBy, PauseRequest, JobLimits,
        ),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, TooManyRequests, Unavailable, InternalError),
    ),
    modifiers(&BearerAuth),
    security(("bearerAuth" = [])),
    tags(
        (name = "webhooks", description = "Where replayed events are delivered."),
        (name = "replays", description = "Replay jobs: start, follow, pause, resume, cancel."),
        (name = "meta", description = "This document."),
    ),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("rk_<16 hex>_<base64url>".into());
        http.description = Some(
            "`Authorization: Bearer <api key>`. Keys are created by an operator (`replayctl tenant create NAME`, \
             `replayctl key create`) and shown once."
                .into(),
        );
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(http));
    }
}

/// The request is invalid: `invalid_request` (malformed or non-JSON body,
/// unknown or missing field or query parameter, bad webhook URL, bad or reused
/// `Idempotency-Key`), `invalid_date`, `invalid_range` (`from` not before
/// `to`, or `to` in the future), `range_too_old` (`from` older than
/// `REPLAY_RETENTION_HOURS`), `range_not_settled` (`to` later than `now -
/// SETTLE_SECONDS`), `range_expired` (`from` before the oldest record the
/// delivery log still holds), `invalid_selection` (`event_types`,
/// `event_ids` or `only` out of bounds; the message names the field),
/// `invalid_cursor` (a failure list cursor this job did not give) or
/// `limit_above_ceiling` (`max_in_flight` or `max_events_per_second` above
/// the deployment's ceiling for a job).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "invalid_range", "message": "`from` must be earlier than `to`"}}))]
#[allow(dead_code)]
struct BadRequest(ErrorBody);

/// The `Authorization: Bearer <api key>` header is missing, malformed,
/// revoked or unknown (`unauthorized`).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "unauthorized", "message": "a valid API key is required"}}))]
#[allow(dead_code)]
struct Unauthorized(ErrorBody);

/// A read-only key on an operation that writes (`forbidden`): only the
/// `GET` operations are open to it.
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "forbidden", "message": "this API key may only read"}}))]
#[allow(dead_code)]
struct Forbidden(ErrorBody);

/// No such resource for this key's tenant (`not_found`); another tenant's
/// ids answer 404 too.
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "not_found", "message": "no such resource"}}))]
#[allow(dead_code)]
struct NotFound(ErrorBody);

/// A conflict with the job's state: the webhook already has an active job
/// (`job_already_running`, named in `error.job_id`); a change or delete of a
/// webhook with an active job (`webhook_busy`, the job in `error.job_id`:
/// cancel it or wait for its end); a retry of a job that has not ended
/// (`job_not_ended`) or had no failures (`nothing_to_retry`); a pause or
/// resume of a job that has ended (`job_ended`).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "job_already_running",
    "message": "replay job job_7c1e5a9d2b4f4e8a9c3d6b0f1e2a5c7d is still running for this webhook",
    "job_id": "job_7c1e5a9d2b4f4e8a9c3d6b0f1e2a5c7d"}}))]
#[allow(dead_code)]
struct Conflict(ErrorBody);

/// The request body is larger than 64 KiB (`payload_too_large`).
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "payload_too_large", "message": "the request body is too large"}}))]
#[allow(dead_code)]
struct PayloadTooLarge(ErrorBody);

/// Too many requests: the tenant's API requests per minute
/// (`tenant_rate_limited`), its active jobs (`too_many_active_jobs`) or a
/// webhook's replay requests (`rate_limited`); retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying.")),
    example = json!({"error": {"code": "rate_limited", "message": "too many replay requests for this webhook; retry later"}}),
)]
#[allow(dead_code)]
struct TooManyRequests(ErrorBody);

/// A dependency (database, Kafka, queue) is briefly unavailable
/// (`unavailable`); retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying.")),
    example = json!({"error": {"code": "unavailable", "message": "the service is temporarily unavailable; retry later"}}),
)]
#[allow(dead_code)]
struct Unavailable(ErrorBody);

/// An unexpected error (`internal_error`); no details are given.
#[derive(ToResponse)]
#[response(example = json!({"error": {"code": "internal_error", "message": "internal error"}}))]
#[allow(dead_code)]
struct InternalError(ErrorBody);

/// Register a webhook, with the platform's own id and secret if it brings
/// them. The answer carries a secret the service made, this once; one the
/// platform brought is never shown back. 409 `webhook_id_taken` for an id the
/// deployment already holds (any tenant's, deleted webhooks' too).
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created; `secret` (one the service made) is shown only now.", body = WebhookCreated),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn create_webhook() {}

/// The webhooks of this key's tenant (without their secrets), in id order,
/// a page at a time.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    params(
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "Webhooks per page, 1-1,000 (default 100).", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "A page of webhooks.", body = WebhookList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn list_webhooks() {}

/// A webhook of this key's tenant (without its secret).
#[utoipa::path(
    get, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "get_webhook",
    params(("webhook_id" = WebhookId, Path, description = "A webhook id; any other value answers 404.")),
    responses(
        (status = 200, description = "The webhook.", body = Webhook),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn get_webhook() {}

/// Point a webhook at a new URL, checked as at creation, give it the
/// platform's new secret (the current one signs beside it for the grace
/// period), or both. A new URL is refused with 409 `webhook_busy` while one
/// of its jobs is active: a job delivers to the URL it started with; cancel
/// it or wait for its end.
#[utoipa::path(
    patch, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "update_webhook",
    params(("webhook_id" = WebhookId, Path, description = "A webhook id; any other value answers 404.")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The webhook as it now is.", body = Webhook),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn update_webhook() {}

/// Delete a webhook: 404 for it from now on, its secret wiped; its jobs stay
/// readable at `/v1/replays/{job_id}` until they age out. Refused with 409
/// `webhook_busy` while one of its jobs is active.
#[utoipa::path(
    delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", operation_id = "delete_webhook",
    params(("webhook_id" = WebhookId, Path, description = "A webhook id; any other value answers 404.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn delete_webhook() {}

/// Start a replay of `[from, to)` for a webhook. The window rules are in
/// docs/api.md ("Replay windows"); one job per webhook is active at a time.
#[utoipa::path(
    post, path = "/v1/webhooks/{webhook_id}/replays", tag = "replays", operation_id = "start_replay",
    params(
        ("webhook_id" = WebhookId, Path, description = "A webhook id; any other value answers 404."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the create safe to retry (1-255 \
         characters, scoped to the webhook): the same key with the same window answers 202 with the job the \
         first request created, whatever its state; with another window, 400 `invalid_request`."),
    ),
    request_body = CreateReplayRequest,
    responses(
        (status = 202, description = "Accepted: the job is recorded and its first slices are queued.", body = ReplayAccepted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn start_replay() {}

/// A page of a webhook's jobs, newest first.
#[utoipa::path(
    get, path = "/v1/webhooks/{webhook_id}/replays", tag = "replays", operation_id = "list_replays",
    params(
        ("webhook_id" = WebhookId, Path, description = "A webhook id; any other value answers 404."),
        ("state" = Option<Vec<JobState>>, Query, style = Form, explode = false, description = "Only jobs in \
         these states, separated by commas (`ONGOING,OPEN`); every state when absent or empty."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "Jobs per page, 1-100 (default 100).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "A page of jobs.", body = ReplayList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn list_replays() {}

/// A page of the tenant's jobs, every webhook's, newest first.
#[utoipa::path(
    get, path = "/v1/replays", tag = "replays", operation_id = "list_tenant_replays",
    params(
        ("state" = Option<Vec<JobState>>, Query, style = Form, explode = false, description = "Only jobs in \
         these states, separated by commas (`ONGOING,OPEN`); every state when absent or empty."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "Jobs per page, 1-100 (default 100).", minimum = 1, maximum = 100),
    ),
    responses(
        (status = 200, description = "A page of jobs.", body = ReplayList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn list_tenant_replays() {}

/// A job, with its progress (final once the state is).
#[utoipa::path(
    get, path = "/v1/replays/{job_id}", tag = "replays", operation_id = "get_replay",
    params(("job_id" = JobId, Path, description = "A job id; any other value answers 404.")),
    responses(
        (status = 200, description = "The job.", body = Job),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn get_replay() {}

/// Cancel a job: `CANCELLED` at once; running slices stop within a
/// heartbeat, then the `Cancelled` status event goes out. Cancelling an
/// ended job answers it unchanged.
#[utoipa::path(
    delete, path = "/v1/replays/{job_id}", tag = "replays", operation_id = "cancel_replay",
    params(("job_id" = JobId, Path, description = "A job id; any other value answers 404.")),
    responses(
        (status = 202, description = "The job, as it is now.", body = Job),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn cancel_replay() {}

/// Pause a job: `PAUSED` at once; running slices stop at their next commit
/// and checkpoint, slices waiting to start wait for the resume. The job
/// keeps its webhook (one active job per webhook) and its tenant's
/// active-job slot, but no worker. Not resumed by `pause.expires_at`, the
/// job ends `INCOMPLETE`. Pausing a paused job answers it unchanged; an
/// ended job answers 409 `job_ended`.
#[utoipa::path(
    post, path = "/v1/replays/{job_id}/pause", tag = "replays", operation_id = "pause_replay",
    params(("job_id" = JobId, Path, description = "A job id; any other value answers 404.")),
    request_body(content = Option<PauseRequest>, description = "Optional: a reason and a shorter expiry."),
    responses(
        (status = 200, description = "The job, as it is now.", body = Job),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn pause_replay() {}

/// Resume a paused job: it continues from its slices' checkpoints, nothing
/// lost or delivered twice. Resuming a job that runs answers it unchanged;
/// an ended job (its pause expired, or cancelled) answers 409 `job_ended`.
#[utoipa::path(
    post, path = "/v1/replays/{job_id}/resume", tag = "replays", operation_id = "resume_replay",
    params(("job_id" = JobId, Path, description = "A job id; any other value answers 404.")),
    responses(
        (status = 200, description = "The job, as it is now.", body = Job),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn resume_replay() {}

/// The events the job could not deliver, in event id order, paged by
/// `cursor`; with `Accept: application/x-ndjson`, one JSON object per line,
/// at most 4 MiB of lines an answer: the header `X-Next-Cursor`, when
/// present, is the `cursor` of the rest.
#[utoipa::path(
    get, path = "/v1/replays/{job_id}/failures", tag = "replays", operation_id = "list_failures",
    params(
        ("job_id" = JobId, Path, description = "A job id; any other value answers 404."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "Failures per page, 1-1,000 (default 100).", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "A page of failures (or, as NDJSON, up to 4 MiB of them).",
            content((FailurePage = "application/json"), (Failure = "application/x-ndjson")),
            headers(("X-Next-Cursor" = String, description = "NDJSON only: the `cursor` of the rest of the list; absent on its last answer."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 404, response = NotFound),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn list_failures() {}

/// A new job that delivers exactly the failed events of an ended job (same
/// webhook and window). 409 while the job runs or when it had no failures.
#[utoipa::path(
    post, path = "/v1/replays/{job_id}/retry", tag = "replays", operation_id = "retry_failures",
    params(
        ("job_id" = JobId, Path, description = "The ended job whose failures to deliver again."),
        ("Idempotency-Key" = Option<String>, Header, description = "As for `start_replay`."),
    ),
    responses(
        (status = 202, description = "Accepted: the retry job.", body = ReplayAccepted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn retry_failures() {}

/// The same request in the form of Twitter's Account Activity Replay API:
/// the window in the query string as `YYYYMMDDHHmm` in UTC, no body.
#[utoipa::path(
    post, path = "/1.1/account_activity/replay/webhooks/{webhook_id}/subscriptions/all.json", tag = "replays",
    operation_id = "start_replay_twitter",
    params(
        ("webhook_id" = WebhookId, Path, description = "A webhook id; any other value answers 404."),
        ("from_date" = String, Query, description = "Window start, `YYYYMMDDHHmm` in UTC, inclusive.", pattern = "^[0-9]{12}$", example = "202611230000"),
        ("to_date" = String, Query, description = "Window end, `YYYYMMDDHHmm` in UTC, exclusive.", pattern = "^[0-9]{12}$", example = "202611230600"),
        ("Idempotency-Key" = Option<String>, Header, description = "As for `start_replay`; the two forms share keys."),
    ),
    responses(
        (status = 202, description = "Accepted.", body = TwitterReplayAccepted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
#[allow(dead_code)]
fn start_replay_twitter() {}

/// This document. No key needed.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "meta", operation_id = "openapi", security(()),
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object)),
)]
#[allow(dead_code)]
fn openapi_document() {}

/// Whether the API answers, for load balancers and uptime checks. No key
/// needed; it calls no dependency and says nothing else.
#[utoipa::path(
    get, path = "/v1/health", tag = "meta", operation_id = "health", security(()),
    responses((status = 200, description = "The API answers.", content_type = "application/json", body = Object,
               example = json!({"status": "ok"}))),
)]
#[allow(dead_code)]
fn health() {}

/// The document, as built from the types.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as `docs/openapi.json` holds it: pretty JSON and a newline.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
