//! A webhook receiver for the demo, the tests and the benchmarks: verifies
//! Standard Webhooks signatures, counts deliveries per `webhook-id`, records
//! when they arrived and how many were in flight at once, and behaves like
//! real receivers do when asked to: slow (hundreds of ms), 500s, 429 with
//! `Retry-After`, connections dropped without an answer, down, or refusing
//! chosen events.
//!
//! Served with hyper directly rather than a framework: a dropped connection
//! must really be one (the service fails, hyper closes the socket without
//! writing a response).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use replay_core::domain::signing::SigningKey;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver misbehaves; shares are of requests (0.0 - 1.0).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub status_500: f64,
    pub status_429: f64,
    pub retry_after_s: u64,
    /// Connections closed without an answer.
    pub drop_connection: f64,
    /// Every request fails with 503 (receiver down).
    pub down: bool,
    /// Time to answer: uniform in [delay, delay_max] (delay alone when delay_max is zero).
    pub delay: Duration,
    pub delay_max: Duration,
    /// Events answered 422 every time (a receiver that refuses them for good).
    pub reject: HashSet<String>,
    /// Events answered 503 with `webhook-delivery: abort-message` every
    /// time (a receiver that stops their retries).
    pub abort: HashSet<String>,
    /// Events whose first request is answered 503 with `webhook-delivery:
    /// pause` (a receiver that pauses the job).
    pub pause_on: HashSet<String>,
    /// A receiver check (`GET` with `crc_token`) is answered with a token
    /// that does not match.
    pub crc_wrong: bool,
    /// Extra time before answering a status event (`replay-job-...`).
    pub status_delay: Duration,
    /// A receiver under load: with `knee` > 0 an answer takes `delay ×
    /// (1 + in_flight / knee)`, `in_flight` counting this hook's requests
    /// being answered when it arrives (this one included).
    pub knee: u64,
    /// With `capacity` > 0, a request arriving while more than `capacity`
    /// are in flight is answered 503 at once (counted in `overloaded`).
    pub capacity: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct HookStats {
    /// Successful (2xx) deliveries per `webhook-id`.
    pub accepted: HashMap<String, u32>,
    pub signature_failures: u64,
    pub requests: u64,
    pub faults_injected: u64,
    pub dropped_connections: u64,
    /// Receiver checks (`GET` with `crc_token`) answered.
    pub crc_checks: u64,
    /// Event requests answered 503 for arriving past `Faults::capacity`.
    pub overloaded: u64,
    /// Accepted requests per `x-replay-source-webhook-id` (a replay to
    /// another target names its source).
    pub source_webhook_ids: HashMap<String, u64>,
    /// Status events (`webhook-id: replay-job-...`), bodies as received.
    pub status_events: Vec<replay_types::StatusEvent>,
    pub replay_job_ids: HashMap<String, u64>,
    /// Most requests of this hook being answered at the same moment.
    pub max_in_flight: u64,
    /// Signatures in the `webhook-signature` header of each accepted request
    /// (several during a secret rotation).
    pub signatures_per_request: HashMap<usize, u64>,
    /// The first accepted requests as received, for verifiers other than
    /// this one (the Standard Webhooks library in tests/it/secrets.rs).
    pub samples: Vec<SignedRequest>,
    /// When each job's event deliveries arrived (accepted ones; not the status event).
    #[serde(skip)]
    pub arrivals: HashMap<String, Arrivals>,
    /// When each job's status event arrived.
    #[serde(skip)]
    pub status_arrived: HashMap<String, Instant>,
    /// Requests (any answer) per job that arrived after its status event.
    #[serde(skip)]
    pub after_status: HashMap<String, u64>,
    /// When the first request with a bad signature arrived (a secret
    /// rotation's switch-over), judged by arrival: answers come later.
    #[serde(skip)]
    pub first_signature_failure: Option<Instant>,
    /// When each accepted request arrived.
    #[serde(skip)]
    pub accepted_arrivals: Vec<Instant>,
}

/// One accepted request: its Standard Webhooks headers and body.
#[derive(Debug, Clone, Serialize)]
pub struct SignedRequest {
    pub webhook_id: String,
    pub webhook_timestamp: String,
    pub webhook_signature: String,
    pub body: String,
}

/// Requests kept per hook in [`HookStats::samples`].
const SAMPLES_KEPT: usize = 8;

#[derive(Debug, Clone, Copy)]
pub struct Arrivals {
    pub count: u64,
    pub first: Instant,
    pub last: Instant,
}

impl HookStats {
    /// Accepted requests that arrived after the first one with a bad signature.
    pub fn accepted_after_signature_failure(&self) -> usize {
        self.first_signature_failure.map_or(0, |first| self.accepted_arrivals.iter().filter(|&&at| at > first).count())
    }

    /// Distinct events accepted (the status event not counted).
    pub fn unique(&self) -> usize {
        self.accepted.keys().filter(|k| !k.starts_with("replay-job-")).count()
    }

    /// Deliveries beyond the first per event id.
    pub fn repeats(&self) -> u64 {
        self.accepted
            .iter()
            .filter(|(k, _)| !k.starts_with("replay-job-"))
            .map(|(_, n)| u64::from(n.saturating_sub(1)))
            .sum()
    }

    pub fn received(&self) -> HashSet<String> {
        self.accepted.keys().filter(|k| !k.starts_with("replay-job-")).cloned().collect()
    }
}

/// The loopback ports local receivers use: the local stack's
/// `WebhookAllowList` (samconfig.toml) admits exactly these.
pub const RECEIVER_PORTS: std::ops::RangeInclusive<u16> = 38000..=38999;

/// The local allow-list entry for [`RECEIVER_PORTS`].
pub const RECEIVER_ALLOW_LIST: &str = "127.0.0.1/32:38000-38999";

async fn bind_in_range() -> anyhow::Result<tokio::net::TcpListener> {
    let start = rand::thread_rng().gen_range(RECEIVER_PORTS);
    let span = RECEIVER_PORTS.end() - RECEIVER_PORTS.start() + 1;
    for i in 0..span {
        let port = RECEIVER_PORTS.start() + (start - RECEIVER_PORTS.start() + i) % span;
        if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            return Ok(listener);
        }
    }
    anyhow::bail!("no free port in {RECEIVER_PORTS:?} for a receiver")
}

#[derive(Default)]
struct Hook {
    key: Option<SigningKey>,
    stats: HookStats,
    in_flight: u64,
    /// Per job: when each accepted event delivery arrived, and its id
    /// (kept out of `HookStats`, which `stats` copies).
    timeline: HashMap<String, Vec<(Instant, String)>>,
    /// `pause_on` events already answered with a pause.
    paused_once: HashSet<String>,
    /// Every event request answered (not the status event), in the order
    /// answered: for order checks (`spans`).
    spans: Vec<Span>,
}

/// One event request: when it arrived and was answered, and whether the
/// answer settled the event (2xx, or 422 refused for good).
#[derive(Debug, Clone)]
pub struct Span {
    pub webhook_id: String,
    pub arrived: Instant,
    pub answered: Instant,
    pub settled: bool,
}

#[derive(Default)]
struct Shared {
    hooks: HashMap<String, Hook>,
    faults: Faults,
}

#[derive(Clone, Default)]
pub struct Receiver {
    shared: Arc<Mutex<Shared>>,
    pub addr: Option<SocketAddr>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A service error: hyper closes the connection without an answer.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

type Answer = Result<Response<Full<Bytes>>, DropConnection>;

fn answer(status: StatusCode, headers: &[(&str, String)], body: impl Into<Bytes>) -> Answer {
    let mut resp = Response::builder().status(status);
    for (k, v) in headers {
        resp = resp.header(*k, v);
    }
    Ok(resp.body(Full::new(body.into())).unwrap_or_default())
}

impl Receiver {
    /// Starts on 127.0.0.1:`port` (0 for any free port) in the background.
    /// Listens on 127.0.0.1:`port`; 0 picks a free port of [`RECEIVER_PORTS`],
    /// the loopback range the local stack's outbound policy allows.
    pub async fn start(port: u16) -> anyhow::Result<Receiver> {
        let mut receiver = Receiver::default();
        let listener =
            if port == 0 { bind_in_range().await? } else { tokio::net::TcpListener::bind(("127.0.0.1", port)).await? };
        receiver.addr = Some(listener.local_addr()?);
        let served = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let r = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(r.clone(), req));
                    let _ =
                        http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(receiver)
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://{}/hooks/{name}", self.addr.map(|a| a.to_string()).unwrap_or_default())
    }

    /// Registers the secret used to verify `name`'s deliveries.
    pub fn register(&self, name: &str, secret: &str) {
        if let Some(key) = SigningKey::from_secret(secret) {
            lock(&self.shared).hooks.entry(name.to_owned()).or_default().key = Some(key);
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.shared).faults = faults;
    }

    /// When `job_id`'s deliveries to `name` arrived, without copying the stats.
    pub fn arrivals(&self, name: &str, job_id: &str) -> Option<Arrivals> {
        lock(&self.shared).hooks.get(name).and_then(|h| h.stats.arrivals.get(job_id).copied())
    }

    /// When each of `job_id`'s accepted event deliveries to `name` arrived,
    /// with its `webhook-id`, in arrival order.
    pub fn timeline(&self, name: &str, job_id: &str) -> Vec<(Instant, String)> {
        lock(&self.shared).hooks.get(name).and_then(|h| h.timeline.get(job_id).cloned()).unwrap_or_default()
    }

    /// Every event request to `name` answered so far, in the order answered.
    pub fn spans(&self, name: &str) -> Vec<Span> {
        lock(&self.shared).hooks.get(name).map(|h| h.spans.clone()).unwrap_or_default()
    }

    /// Requests and signature failures so far, without copying the stats.
    pub fn request_counts(&self, name: &str) -> (u64, u64) {
        lock(&self.shared).hooks.get(name).map(|h| (h.stats.requests, h.stats.signature_failures)).unwrap_or_default()
    }

    /// Distinct events accepted so far, without copying the stats.
    pub fn unique(&self, name: &str) -> usize {
        lock(&self.shared).hooks.get(name).map(|h| h.stats.unique()).unwrap_or_default()
    }

    pub fn stats(&self, name: &str) -> HookStats {
        lock(&self.shared).hooks.get(name).map(|h| h.stats.clone()).unwrap_or_default()
    }
}

/// Counts a request in flight until it is answered or its client goes away:
/// hyper then drops the handler mid-sleep (a worker interrupting its
/// deliveries does that), and a decrement after the sleep would never run.
struct InFlightGuard {
    receiver: Receiver,
    name: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Some(hook) = lock(&self.receiver.shared).hooks.get_mut(&self.name) {
            hook.in_flight = hook.in_flight.saturating_sub(1);
        }
    }
}

/// A receiver check, answered as Twitter's CRC asks: the HMAC-SHA256 of
/// `crc_token` under the hook's secret (counted in `crc_checks`).
fn crc_answer(r: &Receiver, name: &str, query: &str) -> Answer {
    let token = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "crc_token").map(|(_, v)| v);
    let mut shared = lock(&r.shared);
    let wrong = shared.faults.crc_wrong;
    let Some(hook) = shared.hooks.get_mut(name) else { return answer(StatusCode::NOT_FOUND, &[], "no such hook") };
    hook.stats.crc_checks += 1;
    let (Some(token), Some(key)) = (token, hook.key.as_ref()) else {
        return answer(StatusCode::BAD_REQUEST, &[], "no crc_token");
    };
    let response_token = if wrong { key.crc_response("not the token") } else { key.crc_response(&token) };
    let body = serde_json::to_vec(&serde_json::json!({ "response_token": response_token })).unwrap_or_default();
    answer(StatusCode::OK, &[("content-type", "application/json".into())], body)
}

async fn handle(r: Receiver, req: Request<Incoming>) -> Answer {
    let arrived = Instant::now();
    let path = req.uri().path().to_owned();
    if req.method() == hyper::Method::GET {
        if let Some(name) = path.strip_prefix("/stats/") {
            let body = serde_json::to_vec(&r.stats(name)).unwrap_or_default();
            return answer(StatusCode::OK, &[("content-type", "application/json".into())], body);
        }
        if let Some(name) = path.strip_prefix("/hooks/") {
            return crc_answer(&r, name, req.uri().query().unwrap_or_default());
        }
        return answer(StatusCode::NOT_FOUND, &[], "not found");
    }
    let Some(name) = path.strip_prefix("/hooks/").map(str::to_owned) else {
        return answer(StatusCode::NOT_FOUND, &[], "not found");
    };
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (msg_id, ts, sig, job) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"), header("x-replay-job-id"));
    let source = header("x-replay-source-webhook-id");
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let (faults, key, in_flight) = {
        let mut shared = lock(&r.shared);
        let faults = shared.faults.clone();
        let hook = shared.hooks.entry(name.clone()).or_default();
        hook.in_flight += 1;
        hook.stats.max_in_flight = hook.stats.max_in_flight.max(hook.in_flight);
        let in_flight = hook.in_flight;
        if faults.capacity > 0 && in_flight > faults.capacity && !msg_id.starts_with("replay-job-") {
            hook.stats.requests += 1;
            hook.stats.overloaded += 1;
            hook.in_flight -= 1;
            return answer(StatusCode::SERVICE_UNAVAILABLE, &[], "over capacity");
        }
        (faults, hook.key.clone(), in_flight)
    };
    let _in_flight = InFlightGuard { receiver: r.clone(), name: name.clone() };
    let mut delay = if faults.delay_max > faults.delay {
        rand::thread_rng().gen_range(faults.delay..=faults.delay_max)
    } else {
        faults.delay
    };
    if faults.knee > 0 {
        delay = delay.mul_f64(1.0 + in_flight as f64 / faults.knee as f64);
    }
    if msg_id.starts_with("replay-job-") {
        delay += faults.status_delay;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // Verified before taking the lock, so concurrent requests verify in parallel.
    let valid = key.is_some_and(|k| ts.parse().is_ok_and(|ts| k.verify(&msg_id, ts, &body, &sig)));
    let roll: f64 = rand::thread_rng().gen();
    let now = Instant::now();
    let mut shared = lock(&r.shared);
    let hook = shared.hooks.entry(name).or_default();
    let stats = &mut hook.stats;
    stats.requests += 1;
    let is_status = msg_id.starts_with("replay-job-");
    if !is_status {
        let span = Span { webhook_id: msg_id.clone(), arrived, answered: now, settled: false };
        hook.spans.push(span);
    }
    // Judged by when the request arrived, not by when its answer is ready:
    // one that came in before the status event and slept past it was sent before it.
    if !is_status && stats.status_arrived.get(&job).is_some_and(|&at| at <= arrived) {
        *stats.after_status.entry(job.clone()).or_default() += 1;
    }
    if !valid {
        stats.signature_failures += 1;
        let first = stats.first_signature_failure.get_or_insert(arrived);
        *first = (*first).min(arrived);
        return answer(StatusCode::UNAUTHORIZED, &[], "bad signature");
    }
    if faults.down {
        stats.faults_injected += 1;
        return answer(StatusCode::SERVICE_UNAVAILABLE, &[], "down");
    }
    if !is_status && faults.reject.contains(&msg_id) {
        if let Some(span) = hook.spans.last_mut() {
            span.settled = true;
        }
        return answer(StatusCode::UNPROCESSABLE_ENTITY, &[], "refused");
    }
    let reason =
        |value: &str, why: &str| [("webhook-delivery", value.to_owned()), ("webhook-delivery-reason", why.to_owned())];
    if !is_status && faults.abort.contains(&msg_id) {
        return answer(StatusCode::SERVICE_UNAVAILABLE, &reason("abort-message", "unknown account"), "not again");
    }
    if !is_status && faults.pause_on.contains(&msg_id) && hook.paused_once.insert(msg_id.clone()) {
        return answer(StatusCode::SERVICE_UNAVAILABLE, &reason("pause", "deploying"), "later");
    }
    if roll < faults.drop_connection {
        stats.faults_injected += 1;
        stats.dropped_connections += 1;
        return Err(DropConnection);
    }
    if roll < faults.drop_connection + faults.status_500 {
        stats.faults_injected += 1;
        return answer(StatusCode::INTERNAL_SERVER_ERROR, &[], "oops");
    }
    if roll < faults.drop_connection + faults.status_500 + faults.status_429 {
        stats.faults_injected += 1;
        return answer(
            StatusCode::TOO_MANY_REQUESTS,
            &[("retry-after", faults.retry_after_s.to_string())],
            "slow down",
        );
    }
    stats.accepted_arrivals.push(arrived);
    *stats.signatures_per_request.entry(sig.split(' ').count()).or_default() += 1;
    if stats.samples.len() < SAMPLES_KEPT {
        stats.samples.push(SignedRequest {
            webhook_id: msg_id.clone(),
            webhook_timestamp: ts.clone(),
            webhook_signature: sig.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    if is_status {
        if let Ok(v) = serde_json::from_slice(&body) {
            stats.status_events.push(v);
        }
        stats.status_arrived.entry(job.clone()).or_insert(now);
    } else {
        let arrivals = stats.arrivals.entry(job.clone()).or_insert(Arrivals { count: 0, first: now, last: now });
        arrivals.count += 1;
        arrivals.last = now;
        hook.timeline.entry(job.clone()).or_default().push((arrived, msg_id.clone()));
        if let Some(span) = hook.spans.last_mut() {
            span.settled = true;
        }
    }
    if !source.is_empty() {
        *stats.source_webhook_ids.entry(source).or_default() += 1;
    }
    *stats.accepted.entry(msg_id).or_default() += 1;
    *stats.replay_job_ids.entry(job).or_default() += 1;
    answer(StatusCode::NO_CONTENT, &[], Bytes::new())
}
