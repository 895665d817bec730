//! A small client of the public HTTP API (contract section 2).

use anyhow::{anyhow, Result};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A response: status and JSON body (errors are JSON too).
#[derive(Debug, Clone)]
pub struct ApiReply {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl ApiReply {
    /// The body if the status is the expected one, else an error naming the code.
    pub fn expect(self, status: u16) -> Result<Value> {
        if self.status.as_u16() == status {
            Ok(self.body)
        } else {
            Err(anyhow!("HTTP {}: {}", self.status, self.body))
        }
    }

    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

impl ApiClient {
    pub fn new(base: impl Into<String>, key: impl Into<String>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap_or_default();
        Self { http, base: base.into().trim_end_matches('/').to_owned(), key: key.into() }
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        Self { http, ..self.clone() }
    }

    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self { key: key.into(), ..self.clone() }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<ApiReply> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path)).bearer_auth(&self.key);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).map_err(|e| anyhow!("HTTP {status}: body is not JSON ({e}): {text}"))?;
        Ok(ApiReply { status, body, retry_after })
    }

    pub async fn create_webhook(&self, url: &str) -> Result<Value> {
        self.call(Method::POST, "/v1/webhooks", Some(json!({ "url": url })), &[]).await?.expect(201)
    }

    pub async fn get_webhook(&self, id: &str) -> Result<Value> {
        self.call(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?.expect(200)
    }

    pub async fn start_replay(&self, webhook_id: &str, from: &str, to: &str) -> Result<Value> {
        self.call(
            Method::POST,
            &format!("/v1/webhooks/{webhook_id}/replays"),
            Some(json!({"from": from, "to": to})),
            &[],
        )
        .await?
        .expect(202)
    }

    pub async fn job(&self, job_id: &str) -> Result<Value> {
        self.call(Method::GET, &format!("/v1/replays/{job_id}"), None, &[]).await?.expect(200)
    }

    pub async fn list_jobs(&self, webhook_id: &str) -> Result<Value> {
        self.call(Method::GET, &format!("/v1/webhooks/{webhook_id}/replays"), None, &[]).await?.expect(200)
    }

    pub async fn cancel(&self, job_id: &str) -> Result<Value> {
        self.call(Method::DELETE, &format!("/v1/replays/{job_id}"), None, &[]).await?.expect(202)
    }

    /// Polls the job until it reaches a terminal state or `timeout` passes,
    /// calling `on_progress` with each view.
    pub async fn wait_for_end(
        &self,
        job_id: &str,
        timeout: Duration,
        mut on_progress: impl FnMut(&Value),
    ) -> Result<Value> {
        let started = std::time::Instant::now();
        loop {
            let job = self.job(job_id).await?;
            on_progress(&job);
            let state = job["state"].as_str().unwrap_or_default();
            if matches!(state, "COMPLETED" | "INCOMPLETE" | "FAILED" | "CANCELLED") {
                return Ok(job);
            }
            if started.elapsed() > timeout {
                return Err(anyhow!("job {job_id} still {state} after {timeout:?}: {job}"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
