//! A counting HTTP proxy in front of an AWS endpoint (DynamoDB Local,
//! LocalStack SQS): requests are counted by API action as they pass, so the
//! benchmark's cost figures are counted on the wire, not estimated.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct CountingProxy {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    pub url: String,
}

/// The action of an AWS JSON-protocol request (`X-Amz-Target: AmazonSQS.SendMessage`),
/// or of a query-protocol one (`Action=SendMessage` in the form body).
fn action(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_owned)
        .unwrap_or_else(|| "unknown".into())
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards everything to `upstream`.
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let proxy = CountingProxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            counts: Arc::default(),
            url: format!("http://{}", listener.local_addr()?),
        };
        let app = Router::new().fallback(forward).with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(proxy)
    }

    /// Requests per action since the last reset.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

async fn forward(State(proxy): State<CountingProxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 64 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    *proxy.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(action(&parts.headers, &body)).or_default() += 1;
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut upstream = proxy.http.request(parts.method, format!("{}{path}", proxy.upstream)).body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(reply) => {
            let status = reply.status();
            let headers = reply.headers().clone();
            let bytes = reply.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_of_both_aws_protocols() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-target", "DynamoDB_20120810.UpdateItem".parse().unwrap());
        assert_eq!(action(&h, b"{}"), "UpdateItem");
        assert_eq!(action(&HeaderMap::new(), b"Action=SendMessage&QueueUrl=x"), "SendMessage");
        assert_eq!(action(&HeaderMap::new(), b""), "unknown");
    }
}
