//! Signed webhook deliveries over HTTP (docs/api.md, "Signed deliveries").

use super::dns::HostResolver;
use crate::config::DeliveryConfig;
use crate::domain::retry::{ABORT_VALUE, CONTROL_HEADER, PAUSE_VALUE, REASON_HEADER};
use crate::domain::webhook_url::{literal_ip, port_of, UrlPolicy};
use crate::ports::{Attempt, Deliverer, Delivery};
use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct HttpDeliverer {
    /// One client per destination port: each one's resolver checks the
    /// addresses it connects to for that port (reqwest's resolver hook is
    /// told the name, not the port).
    clients: Mutex<HashMap<u16, reqwest::Client>>,
    resolver: HostResolver,
    cfg: DeliveryConfig,
}

/// Classifies a response per the contract: `webhook-delivery: pause` pauses
/// the job (whatever the status); 2xx success; a failing answer with
/// `webhook-delivery: abort-message` fails the event at once; 429/503
/// honour `Retry-After`; 408 and other 5xx retry; other 4xx fail at once.
pub fn classify_response(status: StatusCode, headers: &HeaderMap) -> Attempt {
    let code = status.as_u16();
    let control = |value: &str| {
        let values = headers.get_all(CONTROL_HEADER).into_iter().filter_map(|v| v.to_str().ok());
        values.flat_map(|v| v.split(',')).any(|v| v.trim().eq_ignore_ascii_case(value))
    };
    let reason = || receiver_reason(headers);
    if control(PAUSE_VALUE) {
        return Attempt::PauseJob { delivered: status.is_success(), status: code, reason: reason() };
    }
    if status.is_success() {
        return Attempt::Success;
    }
    if control(ABORT_VALUE) {
        return Attempt::Abort { status: code, reason: reason() };
    }
    if code == 429 || code == 503 {
        let after = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        return Attempt::Retry { status: Some(code), after, error: format!("HTTP {code}") };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Attempt::Retry { status: Some(code), after: None, error: format!("HTTP {code}") };
    }
    Attempt::Fail { status: code }
}

/// The receiver's `webhook-delivery-reason`: printable, at most 200
/// characters (it reaches the failure list and the job's view).
fn receiver_reason(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(REASON_HEADER)?.to_str().ok()?;
    let clean: String = raw.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(delta.max(0) as u64))
}

/// Resolves webhook hosts and keeps only the addresses the outbound policy
/// permits on `port`, for every new connection: a host that was public at
/// registration cannot be pointed inside later (DNS rebinding).
struct PolicyResolver {
    resolver: HostResolver,
    policy: UrlPolicy,
    port: u16,
}

/// Marks a connection refused by the policy in reqwest's error chain.
const REFUSED: &str = "refused by the outbound policy";

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (resolver, policy, port) = (self.resolver.clone(), self.policy.clone(), self.port);
        Box::pin(async move {
            let addrs = resolver.resolve(name.as_str()).await?;
            let mut refusals = Vec::new();
            let permitted: Vec<std::net::SocketAddr> = addrs
                .into_iter()
                .filter(|ip| match policy.permits(*ip, port) {
                    Ok(()) => true,
                    Err(why) => {
                        refusals.push(why);
                        false
                    }
                })
                .map(|ip| std::net::SocketAddr::new(ip, port))
                .collect();
            // Any address inside refuses the host, as at registration. The
            // addresses stay in the server's log; the error (which reaches
            // the failure list) names their class only.
            if permitted.is_empty() || !refusals.is_empty() {
                let addresses: Vec<String> = refusals.iter().map(ToString::to_string).collect();
                tracing::warn!(host = name.as_str(), ?addresses, "{REFUSED}");
                let why: Vec<String> = refusals.iter().map(|r| r.without_address()).collect();
                return Err(format!("{REFUSED}: {} resolves to {}", name.as_str(), why.join("; ")).into());
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// The `User-Agent` of every delivery, so a receiver (and its firewall) can
/// tell replays from live traffic (docs/api.md, "Signed deliveries").
pub const DELIVERY_USER_AGENT: &str = concat!("activity-replay/", env!("CARGO_PKG_VERSION"), " (webhook replay)");

impl HttpDeliverer {
    pub fn new(cfg: DeliveryConfig) -> crate::Result<Self> {
        let resolver = HostResolver::new(cfg.dns_server)?;
        let deliverer = Self { clients: Mutex::new(HashMap::new()), resolver, cfg };
        deliverer.client(443)?;
        Ok(deliverer)
    }

    fn client(&self, port: u16) -> crate::Result<reqwest::Client> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&port) {
            return Ok(c.clone());
        }
        let resolver = PolicyResolver { resolver: self.resolver.clone(), policy: self.cfg.url_policy.clone(), port };
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver))
            // HTTP(S)_PROXY would route deliveries around the address checks.
            .no_proxy()
            .timeout(self.cfg.request_timeout)
            .pool_max_idle_per_host(self.cfg.concurrency.max(1))
            .tcp_nodelay(true)
            .user_agent(DELIVERY_USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| crate::Error::Http(e.to_string()))?;
        clients.insert(port, client.clone());
        Ok(client)
    }

    async fn send(&self, d: &Delivery, timeout: Duration) -> Attempt {
        let Ok(url) = url::Url::parse(&d.url) else { return Attempt::Refused("the webhook URL does not parse".into()) };
        let port = port_of(&url);
        // IP-literal hosts skip the resolver: checked here.
        if let Some(ip) = literal_ip(&url) {
            if let Err(why) = self.cfg.url_policy.permits(ip, port) {
                return Attempt::Refused(format!("{REFUSED}: {why}"));
            }
        }
        let client = match self.client(port) {
            Ok(c) => c,
            Err(e) => return Attempt::Retry { status: None, after: None, error: e.to_string() },
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = d.key.sign(&d.message_id, timestamp, &d.body);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let pairs = [
            ("webhook-id", d.message_id.as_str()),
            ("webhook-signature", signature.as_str()),
            ("x-replay-job-id", d.job_id.as_str()),
        ];
        for (name, value) in pairs {
            match HeaderValue::from_str(value) {
                Ok(v) => {
                    headers.insert(name, v);
                }
                Err(_) => return Attempt::Refused(format!("{name} is not a valid header value")),
            }
        }
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        if let Some(source) = &d.source_webhook_id {
            match HeaderValue::from_str(source.as_str()) {
                Ok(v) => {
                    headers.insert("x-replay-source-webhook-id", v);
                }
                Err(_) => return Attempt::Refused("x-replay-source-webhook-id is not a valid header value".into()),
            }
        }
        match client.post(url).headers(headers).body(d.body.clone()).timeout(timeout).send().await {
            Ok(resp) => classify_response(resp.status(), resp.headers()),
            Err(e) => {
                // reqwest names the URL in its errors; its path and query may
                // carry the receiver's token, and this text reaches the logs
                // and the failure list (docs/security.md, "What errors say").
                let error = error_chain(&e.without_url());
                if error.contains(REFUSED) {
                    Attempt::Refused(error)
                } else {
                    Attempt::Retry { status: None, after: None, error }
                }
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[async_trait]
impl Deliverer for HttpDeliverer {
    /// One signed POST, classified per the contract; the retry rule
    /// (domain/retry.rs) decides what comes next.
    async fn attempt(&self, d: &Delivery, timeout: Duration) -> Attempt {
        self.send(d, timeout).await
    }

    async fn challenge(&self, url: &str, crc_token: &str, timeout: Duration) -> Result<String, String> {
        let mut url = url::Url::parse(url).map_err(|_| "the webhook URL does not parse".to_owned())?;
        let port = port_of(&url);
        if let Some(ip) = literal_ip(&url) {
            self.cfg.url_policy.permits(ip, port).map_err(|why| format!("{REFUSED}: {why}"))?;
        }
        url.query_pairs_mut().append_pair("crc_token", crc_token);
        let client = self.client(port).map_err(|e| e.to_string())?;
        let resp = client.get(url).timeout(timeout).send().await.map_err(|e| error_chain(&e.without_url()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("it answered HTTP {}", status.as_u16()));
        }
        // A response token is short: a larger body is no answer.
        let body = resp.bytes().await.map_err(|e| error_chain(&e.without_url()))?;
        if body.len() > 4_096 {
            return Err("its answer is larger than 4 KiB".into());
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            response_token: String,
        }
        serde_json::from_slice::<Answer>(&body)
            .map(|a| a.response_token)
            .map_err(|_| "its answer is not JSON with a `response_token`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_per_contract() {
        let empty = HeaderMap::new();
        assert_eq!(classify_response(StatusCode::NO_CONTENT, &empty), Attempt::Success);
        assert_eq!(classify_response(StatusCode::GONE, &empty), Attempt::Fail { status: 410 });
        assert!(matches!(
            classify_response(StatusCode::REQUEST_TIMEOUT, &empty),
            Attempt::Retry { status: Some(408), .. }
        ));
        assert!(matches!(
            classify_response(StatusCode::BAD_GATEWAY, &empty),
            Attempt::Retry { status: Some(502), after: None, .. }
        ));
        let mut abort = HeaderMap::new();
        abort.insert(CONTROL_HEADER, HeaderValue::from_static("Abort-Message"));
        assert_eq!(
            classify_response(StatusCode::SERVICE_UNAVAILABLE, &abort),
            Attempt::Abort { status: 503, reason: None }
        );
        assert_eq!(classify_response(StatusCode::OK, &abort), Attempt::Success, "no effect on a success");
        abort.insert(CONTROL_HEADER, HeaderValue::from_static("disable"));
        assert!(matches!(classify_response(StatusCode::SERVICE_UNAVAILABLE, &abort), Attempt::Retry { .. }));
        let mut pause = HeaderMap::new();
        pause.insert(CONTROL_HEADER, HeaderValue::from_static("disable, pause"));
        pause.insert(REASON_HEADER, HeaderValue::from_static("deploying\tv2 "));
        let reason = Some("deployingv2".to_owned());
        assert_eq!(
            classify_response(StatusCode::OK, &pause),
            Attempt::PauseJob { delivered: true, status: 200, reason: reason.clone() }
        );
        assert_eq!(
            classify_response(StatusCode::SERVICE_UNAVAILABLE, &pause),
            Attempt::PauseJob { delivered: false, status: 503, reason }
        );
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert!(matches!(
            classify_response(StatusCode::TOO_MANY_REQUESTS, &h),
            Attempt::Retry { status: Some(429), after: Some(d), .. } if d == Duration::from_secs(3)
        ));
    }

    /// One attempt per event under `url_policy`.
    fn one_attempt(url_policy: UrlPolicy) -> DeliveryConfig {
        DeliveryConfig { concurrency: 1, request_timeout: Duration::from_secs(2), url_policy, dns_server: None }
    }

    /// One signed attempt to `url`.
    async fn deliver_once(deliverer: &HttpDeliverer, url: &str) -> Attempt {
        use crate::domain::signing::{generate_secret, SigningKey};
        let d = Delivery {
            url: url.into(),
            message_id: "ev".into(),
            event_type: "t".into(),
            body: bytes::Bytes::from_static(b"{}"),
            job_id: "job_1".into(),
            key: SigningKey::from_secret(&generate_secret()).unwrap().into(),
            source_webhook_id: None,
        };
        deliverer.attempt(&d, Duration::from_secs(2)).await
    }

    #[tokio::test]
    async fn an_error_never_carries_the_urls_path_or_query() {
        // A port nothing listens on, admitted by the allow-list: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let deliverer = HttpDeliverer::new(one_attempt(UrlPolicy::parse("127.0.0.1/32:*").unwrap())).unwrap();
        let url = format!("http://127.0.0.1:{port}/hooks/tok_path_secret?token=tok_query_secret");
        let outcome = deliver_once(&deliverer, &url).await;
        let Attempt::Retry { error, .. } = outcome else { panic!("{outcome:?}") };
        assert!(!error.contains("tok_path_secret") && !error.contains("tok_query_secret"), "{error}");
        assert!(!error.is_empty());
    }

    #[tokio::test]
    async fn a_delivery_says_it_is_a_replay_in_its_user_agent() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let head = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut read = Vec::new();
            let mut buf = [0u8; 4096];
            while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                read.extend_from_slice(&buf[..n]);
            }
            socket.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
            String::from_utf8_lossy(&read).to_lowercase()
        });
        let deliverer = HttpDeliverer::new(one_attempt(UrlPolicy::parse("127.0.0.1/32:*").unwrap())).unwrap();
        let outcome = deliver_once(&deliverer, &format!("http://127.0.0.1:{port}/hook")).await;
        assert!(matches!(outcome, Attempt::Success), "{outcome:?}");
        let head = head.await.unwrap();
        let expected = format!("user-agent: {}", DELIVERY_USER_AGENT.to_lowercase());
        assert!(head.contains(&expected), "{head}");
        assert!(DELIVERY_USER_AGENT.starts_with("activity-replay/"));
    }

    #[tokio::test]
    async fn refuses_private_addresses_at_delivery_time() {
        let deliverer = HttpDeliverer::new(one_attempt(UrlPolicy::default())).unwrap();
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]:9/hook",
            "http://169.254.169.254/latest",
            "http://localhost:9/hook",
        ] {
            let outcome = deliver_once(&deliverer, url).await;
            assert!(matches!(outcome, Attempt::Refused(_)), "{url}: {outcome:?}");
            if let Attempt::Refused(error) = outcome {
                assert!(error.contains(REFUSED), "{url}: {error}");
            }
        }
    }
}
