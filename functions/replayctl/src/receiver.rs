//! A local webhook receiver: verifies Standard Webhooks signatures, counts
//! deliveries per `webhook-id`, and can inject faults for tests.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use replay_core::domain::signing::SigningKey;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Fault injection, as shares of requests (0.0 - 1.0).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub status_500: f64,
    pub status_429: f64,
    pub retry_after_s: u64,
    /// Connections closed without an answer.
    pub drop_connection: f64,
    /// Every request fails with 503 (receiver down).
    pub down: bool,
    pub delay: Duration,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct HookStats {
    /// Successful (2xx) deliveries per `webhook-id`.
    pub accepted: HashMap<String, u32>,
    pub signature_failures: u64,
    pub requests: u64,
    pub faults_injected: u64,
    /// Status events (`webhook-id: replay-job-...`), bodies as received.
    pub status_events: Vec<serde_json::Value>,
    pub replay_job_ids: HashMap<String, u64>,
    /// When each job's event deliveries arrived (accepted ones; not the status event).
    #[serde(skip)]
    pub arrivals: HashMap<String, Arrivals>,
}

#[derive(Debug, Clone, Copy)]
pub struct Arrivals {
    pub count: u64,
    pub first: Instant,
    pub last: Instant,
}

impl HookStats {
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
}

#[derive(Default)]
struct Shared {
    secrets: HashMap<String, SigningKey>,
    stats: HashMap<String, HookStats>,
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

impl Receiver {
    /// Starts on 127.0.0.1:`port` (0 for any free port) in the background.
    pub async fn start(port: u16) -> anyhow::Result<Receiver> {
        let mut receiver = Receiver::default();
        let app = Router::new()
            .route("/hooks/{name}", post(receive))
            .route("/stats/{name}", get(stats))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        receiver.addr = Some(listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(receiver)
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://{}/hooks/{name}", self.addr.map(|a| a.to_string()).unwrap_or_default())
    }

    /// Registers the secret used to verify `name`'s deliveries.
    pub fn register(&self, name: &str, secret: &str) {
        if let Some(key) = SigningKey::from_secret(secret) {
            lock(&self.shared).secrets.insert(name.to_owned(), key);
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.shared).faults = faults;
    }

    /// When `job_id`'s deliveries to `name` arrived, without copying the stats.
    pub fn arrivals(&self, name: &str, job_id: &str) -> Option<Arrivals> {
        lock(&self.shared).stats.get(name).and_then(|s| s.arrivals.get(job_id).copied())
    }

    /// Requests and signature failures so far, without copying the stats.
    pub fn request_counts(&self, name: &str) -> (u64, u64) {
        lock(&self.shared).stats.get(name).map(|s| (s.requests, s.signature_failures)).unwrap_or_default()
    }

    pub fn stats(&self, name: &str) -> HookStats {
        lock(&self.shared).stats.get(name).cloned().unwrap_or_default()
    }
}

async fn stats(State(r): State<Receiver>, Path(name): Path<String>) -> Json<HookStats> {
    Json(r.stats(&name))
}

async fn receive(State(r): State<Receiver>, Path(name): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (msg_id, ts, sig, job) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"), header("x-replay-job-id"));
    let (faults, key) = {
        let shared = lock(&r.shared);
        (shared.faults.clone(), shared.secrets.get(&name).cloned())
    };
    if !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    // Verified before taking the lock, so concurrent requests verify in parallel.
    let valid = key.is_some_and(|k| ts.parse().is_ok_and(|ts| k.verify(&msg_id, ts, &body, &sig)));
    let now = Instant::now();
    let mut shared = lock(&r.shared);
    let stats = shared.stats.entry(name).or_default();
    stats.requests += 1;
    if !valid {
        stats.signature_failures += 1;
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    if faults.down {
        stats.faults_injected += 1;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let roll: f64 = rand::thread_rng().gen();
    if roll < faults.status_500 {
        stats.faults_injected += 1;
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if roll < faults.status_500 + faults.status_429 {
        stats.faults_injected += 1;
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", faults.retry_after_s.to_string())]).into_response();
    }
    if msg_id.starts_with("replay-job-") {
        if let Ok(v) = serde_json::from_slice(&body) {
            stats.status_events.push(v);
        }
    }
    if !msg_id.starts_with("replay-job-") {
        let arrivals = stats.arrivals.entry(job.clone()).or_insert(Arrivals { count: 0, first: now, last: now });
        arrivals.count += 1;
        arrivals.last = now;
    }
    *stats.accepted.entry(msg_id).or_default() += 1;
    *stats.replay_job_ids.entry(job).or_default() += 1;
    StatusCode::NO_CONTENT.into_response()
}
