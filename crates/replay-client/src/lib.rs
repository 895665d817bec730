//! A typed client of activity-replay's HTTP API (docs/api.md), built on the
//! API's own wire types (`activity-replay-types`).
//!
//! ```no_run
//! # async fn run() -> Result<(), replay_client::ClientError> {
//! use replay_client::{Client, CreateReplayRequest};
//! use std::time::Duration;
//!
//! let api = Client::new("https://replay.example.com/v1-stage", "rk_...");
//! let hook = api.create_webhook("https://hooks.example.com/twitter").await?;
//! println!("secret (shown once): {}", hook.secret.unwrap_or_default());
//! let job = api
//!     .start_replay(&hook.id, &CreateReplayRequest::window("2026-11-23T00:00:00Z", "2026-11-23T06:00:00Z"))
//!     .await?;
//! let done = api.wait_for_end(&job.job_id, Duration::from_secs(3600), |j| println!("{:?}", j.progress)).await?;
//! println!("{}: {}", done.state, done.state_reason.unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! Retries: 429 and 503 are retried after their `Retry-After` (up to
//! [`RetryPolicy::max_wait`]); connection failures and a gateway's 502 and
//! 504 after a short backoff, for requests that are safe to repeat (reads,
//! deletes, replay requests); at most [`RetryPolicy::max_attempts`] times in
//! all. Requests carry `User-Agent: activity-replay-client/<version>` unless
//! the caller brings its own `reqwest::Client` ([`Client::with_http_client`]). A replay request always
//! carries an `Idempotency-Key` (one is generated when the caller gives none),
//! so a retry can never create a second job. Creating a webhook is retried
//! only on answers that say nothing was written (429, 503).

pub use replay_types::*;

#[cfg(feature = "progress")]
pub mod progress;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How calls are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    /// The longest `Retry-After` honoured; a longer one is returned as the error.
    pub max_wait: Duration,
    /// The wait before retrying a connection failure, doubled each time.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, max_wait: Duration::from_secs(30), backoff: Duration::from_millis(250) }
    }
}

/// What a call can fail with; [`ClientError::is_retryable`] says whether
/// trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error body.
    #[error("HTTP {status} {code}: {message}")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        /// The active job (`job_already_running`).
        job_id: Option<JobId>,
        /// The answer's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// No answer (connection refused or reset, timeout, TLS).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// An answer that is not what the API documents.
    #[error("HTTP {status}: unexpected body ({error}): {body}")]
    Decode { status: u16, body: String, error: String },
    /// [`Client::wait_for_end`] ran out of time; the job as last seen.
    #[error("job {} still {} after {waited:?}", job.job_id, job.state)]
    Timeout { job: Box<Job>, waited: Duration },
}

impl ClientError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Api { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            ClientError::Transport(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            ClientError::Decode { status, .. } => *status >= 500,
            ClientError::Timeout { .. } => true,
        }
    }

    /// The error code, for an API error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The job an API error names (`job_already_running`, `webhook_busy`).
    pub fn job_id(&self) -> Option<&JobId> {
        match self {
            ClientError::Api { job_id, .. } => job_id.as_ref(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// An answer as it came, for callers that test the API itself.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl RawReply {
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// A client of one deployment, with one API key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    retry: RetryPolicy,
}

/// Every item of a paged list: `page(cursor)` answers a page and the next
/// page's cursor, `None` after the last.
async fn all_pages<T>(mut page: impl AsyncFnMut(Option<&str>) -> Result<(Vec<T>, Option<String>)>) -> Result<Vec<T>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (items, next) = page(cursor.as_deref()).await?;
        all.extend(items);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}
/// Whether a call may be sent again after no answer at all.
/// A list's path with its `cursor` (opaque base64url) and `limit`.
fn page_path(path: &str, cursor: Option<&str>, limit: Option<u32>) -> String {
    list_path(path, &[("cursor", cursor.map(str::to_owned)), ("limit", limit.map(|l| l.to_string()))])
}

/// `path` with the parameters that have a value (cursors are base64url and
/// states capital letters: nothing to escape).
fn list_path(path: &str, params: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> =
        params.iter().filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}"))).collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Which jobs [`Client::replays`] lists.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// One webhook's jobs, or (`None`) every webhook's of the tenant.
    pub webhook: Option<WebhookId>,
    /// Jobs in one of these states; every state when empty.
    pub states: Vec<JobState>,
}

/// What the client sends as `User-Agent` unless the caller brings its own client.
pub const USER_AGENT: &str = concat!("activity-replay-client/", env!("CARGO_PKG_VERSION"));

fn default_http(timeout: Duration) -> reqwest::Client {
    // Builder errors only come from TLS backends failing to load; the default client then.
    reqwest::Client::builder().timeout(timeout).user_agent(USER_AGENT).build().unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// GET, DELETE, and creates that carry an Idempotency-Key.
    Safe,
    /// Only after an answer saying nothing was done (429, 503).
    OnRefusal,
}

impl Client {
    /// `base` is the stage URL (e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/v1`).
    pub fn new(base: impl Into<String>, key: impl Into<String>) -> Self {
        Self::with_http_client(base, key, default_http(Duration::from_secs(60)))
    }

    /// A client on the caller's own `reqwest::Client` (its pool, proxy,
    /// TLS roots, timeouts and `User-Agent` are the caller's).
    pub fn with_http_client(base: impl Into<String>, key: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            key: key.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// The same client with another per-request timeout (on a client of its own).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self { http: default_http(timeout), ..self.clone() }
    }

    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self { key: key.into(), ..self.clone() }
    }

    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        Self { retry, ..self.clone() }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /v1/webhooks`: the webhook and its secret (shown this once).
    pub async fn create_webhook(&self, url: &str) -> Result<WebhookCreated> {
        self.register_webhook(&CreateWebhookRequest::new(url)).await
    }

    /// `POST /v1/webhooks` with every field: the platform's own `id` and
    /// secret. Not replayed on a lost answer: a second create of the same id
    /// is `webhook_id_taken` (409); `GET` it instead.
    pub async fn register_webhook(&self, req: &CreateWebhookRequest) -> Result<WebhookCreated> {
        let body = serde_json::to_value(req).unwrap_or_default();
        self.send(Method::POST, "/v1/webhooks", Some(&body), None, Replay::OnRefusal, 201).await
    }

    /// `GET /v1/webhooks/{id}`.
    pub async fn webhook(&self, id: &WebhookId) -> Result<Webhook> {
        self.send(Method::GET, &format!("/v1/webhooks/{id}"), None, None, Replay::Safe, 200).await
    }

    /// `PATCH /v1/webhooks/{id}`: a new URL; `webhook_busy` (409, with the
    /// job) while a job of the webhook is active.
    pub async fn update_webhook(&self, id: &WebhookId, url: &str) -> Result<Webhook> {
        self.change_webhook(id, &UpdateWebhookRequest::url(url)).await
    }

    /// `PATCH /v1/webhooks/{id}` with every field: a new URL, a new secret
    /// with its grace period, or both. A repeat is harmless: the same URL,
    /// and the same secret again (the grace period starts over).
    pub async fn change_webhook(&self, id: &WebhookId, req: &UpdateWebhookRequest) -> Result<Webhook> {
        let body = serde_json::to_value(req).unwrap_or_default();
        self.send(Method::PATCH, &format!("/v1/webhooks/{id}"), Some(&body), None, Replay::Safe, 200).await
    }

    /// `DELETE /v1/webhooks/{id}`; `webhook_busy` (409) while a job of it is
    /// active. Not replayed on a lost answer: a second delete would be 404.
    pub async fn delete_webhook(&self, id: &WebhookId) -> Result<()> {
        self.send(Method::DELETE, &format!("/v1/webhooks/{id}"), None, None, Replay::OnRefusal, 204).await
    }

    /// `POST /v1/webhooks/{id}/replays` with a generated `Idempotency-Key`.
    pub async fn start_replay(&self, webhook: &WebhookId, req: &CreateReplayRequest) -> Result<ReplayAccepted> {
        self.start_replay_with_key(webhook, req, &uuid::Uuid::new_v4().to_string()).await
    }

    /// `POST /v1/webhooks/{id}/replays` with the caller's `Idempotency-Key`
    /// (the same key and window return the same job, whenever retried).
    pub async fn start_replay_with_key(
        &self,
        webhook: &WebhookId,
        req: &CreateReplayRequest,
        idempotency_key: &str,
    ) -> Result<ReplayAccepted> {
        let body = serde_json::to_value(req).unwrap_or_default();
        let path = format!("/v1/webhooks/{webhook}/replays");
        self.send(Method::POST, &path, Some(&body), Some(idempotency_key), Replay::Safe, 202).await
    }

    /// The Twitter form: `from_date`/`to_date` as `YYYYMMDDHHmm` (UTC).
    pub async fn start_replay_twitter(
        &self,
        webhook: &WebhookId,
        from_date: &str,
        to_date: &str,
    ) -> Result<TwitterReplayAccepted> {
        let path = format!(
            "/1.1/account_activity/replay/webhooks/{webhook}/subscriptions/all.json?from_date={from_date}&to_date={to_date}"
        );
        let key = uuid::Uuid::new_v4().to_string();
        self.send(Method::POST, &path, None, Some(&key), Replay::Safe, 202).await
    }

    /// `GET /v1/replays/{id}`.
    pub async fn job(&self, id: &JobId) -> Result<Job> {
        self.send(Method::GET, &format!("/v1/replays/{id}"), None, None, Replay::Safe, 200).await
    }

    /// The webhook's latest 100 jobs, newest first (the first page of
    /// [`Client::replays`]).
    pub async fn jobs(&self, webhook: &WebhookId) -> Result<Vec<Job>> {
        let query = JobQuery { webhook: Some(webhook.clone()), states: Vec::new() };
        Ok(self.replays(&query, None, None).await?.replays)
    }

    /// `GET /v1/replays`, or `GET /v1/webhooks/{id}/replays` for one
    /// webhook: a page of jobs, newest first (`limit` 1-100);
    /// `next_cursor` names the next.
    pub async fn replays(&self, query: &JobQuery, cursor: Option<&str>, limit: Option<u32>) -> Result<ReplayList> {
        let path = match &query.webhook {
            Some(webhook) => format!("/v1/webhooks/{webhook}/replays"),
            None => "/v1/replays".to_owned(),
        };
        let states =
            (!query.states.is_empty()).then(|| query.states.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","));
        let params =
            [("state", states), ("cursor", cursor.map(str::to_owned)), ("limit", limit.map(|l| l.to_string()))];
        self.send(Method::GET, &list_path(&path, &params), None, None, Replay::Safe, 200).await
    }

    /// Every job the query finds, page after page, newest first.
    pub async fn all_replays(&self, query: &JobQuery) -> Result<Vec<Job>> {
        all_pages(async |cursor| {
            let page = self.replays(query, cursor, Some(100)).await?;
            Ok((page.replays, page.next_cursor))
        })
        .await
    }

    /// `DELETE /v1/replays/{id}`: the job as it is now.
    pub async fn cancel(&self, id: &JobId) -> Result<Job> {
        self.send(Method::DELETE, &format!("/v1/replays/{id}"), None, None, Replay::Safe, 202).await
    }

    /// `POST /v1/replays/{id}/pause`: the job as it is now (`PAUSED`).
    /// Pausing is idempotent: a paused job answers unchanged.
    pub async fn pause(&self, id: &JobId, request: &PauseRequest) -> Result<Job> {
        let body = serde_json::to_value(request).unwrap_or_default();
        self.send(Method::POST, &format!("/v1/replays/{id}/pause"), Some(&body), None, Replay::Safe, 200).await
    }

    /// `POST /v1/replays/{id}/resume`: the job as it is now. Resuming is
    /// idempotent: a running job answers unchanged.
    pub async fn resume(&self, id: &JobId) -> Result<Job> {
        self.send(Method::POST, &format!("/v1/replays/{id}/resume"), None, None, Replay::Safe, 200).await
    }

    /// `GET /v1/replays/{id}/failures`: one page (`limit` 1-1,000).
    pub async fn failures(&self, id: &JobId, cursor: Option<&str>, limit: Option<u32>) -> Result<FailurePage> {
        let path = page_path(&format!("/v1/replays/{id}/failures"), cursor, limit);
        self.send(Method::GET, &path, None, None, Replay::Safe, 200).await
    }

    /// `GET /v1/webhooks`: a page of the tenant's webhooks, in id order;
    /// `next_cursor` names the next.
    pub async fn webhooks(&self, cursor: Option<&str>, limit: Option<u32>) -> Result<WebhookList> {
        self.send(Method::GET, &page_path("/v1/webhooks", cursor, limit), None, None, Replay::Safe, 200).await
    }

    /// Every webhook of the tenant, page after page.
    pub async fn all_webhooks(&self) -> Result<Vec<Webhook>> {
        all_pages(async |cursor| {
            let page = self.webhooks(cursor, Some(1_000)).await?;
            Ok((page.webhooks, page.next_cursor))
        })
        .await
    }

    /// The whole failure list (`Accept: application/x-ndjson`), in as many
    /// answers as it takes: each carries at most a few MB and names the next
    /// one's start in `X-Next-Cursor`.
    pub async fn all_failures(&self, id: &JobId) -> Result<Vec<Failure>> {
        let mut failures = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self
                .http
                .get(format!("{}/v1/replays/{id}/failures", self.base))
                .bearer_auth(&self.key)
                .header("accept", "application/x-ndjson");
            if let Some(c) = &cursor {
                request = request.query(&[("cursor", c)]);
            }
            let resp = request.send().await?;
            let status = resp.status().as_u16();
            let next = resp.headers().get("x-next-cursor").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let text = resp.text().await?;
            if status != 200 {
                let err: ErrorBody = serde_json::from_str(&text).map_err(|e| ClientError::Decode {
                    status,
                    body: text.clone(),
                    error: e.to_string(),
                })?;
                return Err(ClientError::Api {
                    status,
                    code: err.error.code,
                    message: err.error.message,
                    job_id: err.error.job_id,
                    retry_after: None,
                });
            }
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                failures.push(serde_json::from_str(line).map_err(|e| ClientError::Decode {
                    status,
                    body: line.to_owned(),
                    error: e.to_string(),
                })?);
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(failures),
            }
        }
    }

    /// `POST /v1/replays/{id}/retry`: a job delivering exactly the failures
    /// of an ended job (with a generated `Idempotency-Key`).
    pub async fn retry(&self, id: &JobId) -> Result<ReplayAccepted> {
        let key = uuid::Uuid::new_v4().to_string();
        self.send(Method::POST, &format!("/v1/replays/{id}/retry"), None, Some(&key), Replay::Safe, 202).await
    }

    /// `GET /v1/openapi.json`.
    pub async fn openapi(&self) -> Result<Value> {
        self.send(Method::GET, "/v1/openapi.json", None, None, Replay::Safe, 200).await
    }

    /// Polls the job every `300 ms` until it has ended or `timeout` passes,
    /// calling `on_progress` with each view.
    pub async fn wait_for_end(&self, id: &JobId, timeout: Duration, mut on_progress: impl FnMut(&Job)) -> Result<Job> {
        let started = Instant::now();
        loop {
            let job = self.job(id).await?;
            on_progress(&job);
            if job.state.is_terminal() {
                return Ok(job);
            }
            if started.elapsed() > timeout {
                return Err(ClientError::Timeout { job: Box::new(job), waited: started.elapsed() });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// One request as given, no retries, the answer as it came (JSON or not).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<RawReply> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = resp.text().await?;
        // 204 has no body: null.
        let body = if text.is_empty() { Ok(Value::Null) } else { serde_json::from_str(&text) };
        let body = body.map_err(|e| ClientError::Decode { status, body: text.clone(), error: e.to_string() })?;
        Ok(RawReply { status, body, retry_after })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        replay: Replay,
        expected: u16,
    ) -> Result<T> {
        let mut attempt = 1;
        let mut backoff = self.retry.backoff;
        loop {
            let outcome = self.once(method.clone(), path, body, idempotency_key, expected).await;
            let wait = match &outcome {
                Ok(_) => None,
                Err(ClientError::Api { status: 429 | 503, retry_after, .. }) => {
                    Some(retry_after.unwrap_or(self.retry.backoff)).filter(|w| *w <= self.retry.max_wait)
                }
                // A gateway's 502 or 504 may come after the API did the work:
                // only a request that is safe to repeat goes again.
                Err(e @ (ClientError::Transport(_) | ClientError::Api { status: 502 | 504, .. }))
                    if replay == Replay::Safe && e.is_retryable() =>
                {
                    let w = backoff;
                    backoff = (backoff * 2).min(self.retry.max_wait);
                    Some(w)
                }
                Err(_) => None,
            };
            match wait {
                Some(wait) if attempt < self.retry.max_attempts => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return outcome,
            }
        }
    }

    async fn once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        expected: u16,
    ) -> Result<T> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await?;
        let decode_error = |e: serde_json::Error| ClientError::Decode {
            status: status.as_u16(),
            body: text.chars().take(2_000).collect(),
            error: e.to_string(),
        };
        if status.as_u16() == expected {
            // 204 has no body: it decodes as `()`.
            let text = if text.is_empty() && expected == 204 { "null" } else { text.as_str() };
            return serde_json::from_str(text).map_err(decode_error);
        }
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return Err(ClientError::Decode {
                status: status.as_u16(),
                body: text,
                error: format!("expected HTTP {expected}"),
            });
        }
        let err: ErrorBody = serde_json::from_str(&text).map_err(decode_error)?;
        Err(ClientError::Api {
            status: status.as_u16(),
            code: err.error.code,
            message: err.error.message,
            job_id: err.error.job_id,
            retry_after,
        })
    }
}
