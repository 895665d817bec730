//! The client's retry rules against a stand-in server (a fake: the real API
//! is exercised by the integration tests, tests/it/client.rs).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use replay_client::{Client, ClientError, CreateReplayRequest, ErrorCode, JobId, JobState, RetryPolicy, WebhookId};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Seen {
    calls: u32,
    idempotency_keys: Vec<String>,
    user_agents: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn error(status: StatusCode, code: &str, retry_after: &str) -> axum::response::Response {
    let body = Json(json!({"error": {"code": code, "message": "try later"}}));
    (status, [("retry-after", retry_after.to_owned())], body).into_response()
}

async fn flaky_create(State(seen): State<Shared>, headers: HeaderMap) -> axum::response::Response {
    let mut seen = seen.lock().unwrap();
    seen.calls += 1;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    seen.idempotency_keys.push(key);
    match seen.calls {
        1 => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "1"),
        2 => error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "1"),
        _ => (
            StatusCode::ACCEPTED,
            Json(json!({"job_id": "job_1", "webhook_id": "wh_1", "from": "a", "to": "b", "state": "OPEN",
                        "created_at": "c", "a_field_added_later": true})),
        )
            .into_response(),
    }
}

/// A gateway in trouble: 502, then 504, then the job.
async fn behind_a_flaky_gateway(State(seen): State<Shared>, headers: HeaderMap) -> axum::response::Response {
    let calls = {
        let mut seen = seen.lock().unwrap();
        seen.calls += 1;
        let agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        seen.user_agents.push(agent);
        seen.calls
    };
    match calls {
        1 => error(StatusCode::BAD_GATEWAY, "internal_error", ""),
        2 => error(StatusCode::GATEWAY_TIMEOUT, "internal_error", ""),
        _ => newer_job().await,
    }
}

/// A create that may have been done: the gateway timed out.
async fn create_behind_a_gateway_timeout(State(seen): State<Shared>) -> axum::response::Response {
    seen.lock().unwrap().calls += 1;
    error(StatusCode::GATEWAY_TIMEOUT, "internal_error", "")
}

async fn long_wait() -> axum::response::Response {
    error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "600")
}

async fn newer_job() -> axum::response::Response {
    Json(json!({"job_id": "job_1", "webhook_id": "wh_1", "from": "a", "to": "b", "state": "ARCHIVED",
                "created_at": "c", "updated_at": "d",
                "progress": {"slices_total": 1, "slices_done": 1, "events_scanned": 1, "events_matched": 1,
                             "events_delivered": 1, "duplicates_skipped": 0, "delivery_failures": 0,
                             "malformed": 0, "events_rerouted": 4}}))
    .into_response()
}

async fn serve(seen: Shared) -> String {
    let app = Router::new()
        .route("/v1/webhooks/wh_1/replays", post(flaky_create))
        .route("/v1/webhooks/wh_2/replays", post(long_wait))
        .route("/v1/replays/job_1", get(newer_job))
        .route("/v1/replays/job_gw", get(behind_a_flaky_gateway))
        .route("/v1/webhooks", post(create_behind_a_gateway_timeout))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn retries_after_retry_after_with_the_same_idempotency_key() {
    let seen = Shared::default();
    let api = Client::new(serve(seen.clone()).await, "rk_test");
    let started = Instant::now();
    let job = api.start_replay(&WebhookId::from("wh_1"), &CreateReplayRequest::window("a", "b")).await.unwrap();
    assert_eq!(job.state, JobState::Open);
    assert!(started.elapsed() >= Duration::from_secs(2), "waited out both Retry-Afters: {:?}", started.elapsed());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.calls, 3);
    assert!(!seen.idempotency_keys[0].is_empty());
    assert!(seen.idempotency_keys.iter().all(|k| *k == seen.idempotency_keys[0]), "{:?}", seen.idempotency_keys);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_policy_allows_is_returned() {
    let api = Client::new(serve(Shared::default()).await, "rk_test");
    let started = Instant::now();
    let err = api.start_replay(&WebhookId::from("wh_2"), &CreateReplayRequest::window("a", "b")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.code(), Some(ErrorCode::RateLimited));
    assert!(err.is_retryable());
    match err {
        ClientError::Api { retry_after, .. } => assert_eq!(retry_after, Some(Duration::from_secs(600))),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_retries_when_the_policy_says_one_attempt() {
    let seen = Shared::default();
    let api = Client::new(serve(seen.clone()).await, "rk_test")
        .with_retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() });
    let err = api.start_replay(&WebhookId::from("wh_1"), &CreateReplayRequest::window("a", "b")).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(seen.lock().unwrap().calls, 1);
}

#[tokio::test]
async fn unknown_states_and_fields_from_a_newer_service_are_tolerated() {
    let api = Client::new(serve(Shared::default()).await, "rk_test");
    let job = api.job(&JobId::from("job_1")).await.unwrap();
    assert_eq!(job.state, JobState::Unknown);
    assert!(!job.state.is_terminal());
    assert_eq!(job.progress.counters.events_delivered, 1);
}

#[tokio::test]
async fn connection_refused_is_a_retryable_transport_error() {
    let api = Client::new("http://127.0.0.1:9", "rk_test").with_retry(RetryPolicy {
        max_attempts: 2,
        backoff: Duration::from_millis(10),
        ..RetryPolicy::default()
    });
    let err = api.job(&JobId::from("job_1")).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_read_goes_again_after_a_gateways_502_and_504_a_create_does_not() {
    let fast = RetryPolicy { backoff: Duration::from_millis(10), ..RetryPolicy::default() };
    let seen = Shared::default();
    let api = Client::new(serve(seen.clone()).await, "rk_test").with_retry(fast);
    api.job(&JobId::from("job_gw")).await.unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.calls, 3);
        assert!(seen.user_agents.iter().all(|a| a == replay_client::USER_AGENT), "{:?}", seen.user_agents);
        assert!(replay_client::USER_AGENT.starts_with("activity-replay-client/"));
    }

    // The create may have been done behind the 504: it is returned, not repeated.
    let seen = Shared::default();
    let api = Client::new(serve(seen.clone()).await, "rk_test").with_retry(fast);
    let err = api.create_webhook("https://hooks.example.com/x").await.unwrap_err();
    assert_eq!((err.status(), seen.lock().unwrap().calls), (Some(504), 1));
}

#[tokio::test]
async fn a_callers_own_http_client_is_used() {
    let seen = Shared::default();
    let http = reqwest::Client::builder().user_agent("platform-admin/7").build().unwrap();
    let fast = RetryPolicy { backoff: Duration::from_millis(10), ..RetryPolicy::default() };
    let api = Client::with_http_client(serve(seen.clone()).await, "rk_test", http).with_retry(fast);
    api.job(&JobId::from("job_gw")).await.unwrap();
    assert_eq!(seen.lock().unwrap().user_agents, ["platform-admin/7"; 3]);
}
