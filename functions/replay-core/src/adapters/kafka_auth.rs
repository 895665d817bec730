//! How the Kafka clients authenticate (`KAFKA_AUTH`), and the SASL/OAUTHBEARER
//! tokens librdkafka asks for through its refresh callback
//! ([`super::kafka::ReplayContext`]).
//!
//! - `none`: no SASL; plaintext or TLS, as `KAFKA_PROPERTIES` says.
//! - `scram`: SASL with `KAFKA_SASL_USERNAME` / `KAFKA_SASL_PASSWORD`; the
//!   mechanism (SCRAM-SHA-512, ...) and protocol come from `KAFKA_PROPERTIES`.
//! - `msk_iam`: SASL/OAUTHBEARER over TLS with Amazon MSK IAM tokens signed
//!   with the function's own role (MSK's port 9098).
//! - `oauthbearer_unsecured`: SASL/OAUTHBEARER with unsigned JWTs, as Kafka's
//!   built-in unsecured validator accepts them: the local broker's OAUTH
//!   listener (infra/local/up.sh) and the tests of this callback path only.
//!
//! # The MSK IAM token
//! What AWS's signers (aws-msk-iam-sasl-signer-python, -go, -js) send: a SigV4
//! presigned URL `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect`
//! (service `kafka-cluster`, GET, signed header `host` only, payload hash of
//! an empty body, `X-Amz-Expires=900`, the session token signed in), then a
//! `User-Agent` query parameter added after signing, the whole URL
//! base64url-encoded without padding. The token expires when the URL does:
//! signing time + 900 s.
//!
//! Built here with AWS's own `aws-sigv4` (already in the build through the AWS
//! SDKs) rather than the third-party `aws-msk-iam-sasl-signer` crate (one
//! maintainer; 1.0.0 in May 2024, 1.0.1 in February 2026): it only offers
//! async functions that load the whole SDK config and read the clock on every
//! call, so neither usable from librdkafka's synchronous callback as they are
//! nor testable with a fixed clock, and it adds `aws-sdk-sts`, `chrono`,
//! `futures` and `thiserror` 1. The signing itself is [`msk_iam_token`].
//!
//! # Threads and refresh
//! librdkafka asks for a token when a client starts and again at 80% of the
//! current token's lifetime; a re-authentication (KIP-368) or a reconnect uses
//! the newest token. rdkafka runs the callback inside `poll()` of the client
//! whose token is due (the refresh is an event on its queue), which for this
//! crate is always a thread outside the async runtime: the scan and
//! oldest-record consumers are polled on `spawn_blocking` threads, the shared
//! look-up consumer, whose calls do not poll, by a thread of its own (see
//! `KafkaLog::new`). A scan consumer blocked on a full channel does not poll;
//! it lives for one invocation (at most 900 s on Lambda), which its first MSK
//! token outlives. The callback never waits on the runtime:
//! AWS credentials are resolved by aws-config's default provider chain on a
//! short-lived thread with its own runtime, and cached until they get close to
//! their expiry (Lambda's role credentials come from the environment and do
//! not expire within the execution environment's life).

use crate::error::{Error, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rdkafka::client::OAuthToken;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{debug, warn};

/// The values `KAFKA_AUTH` accepts (docs/configuration.md; the template's
/// `KafkaAuth` parameter offers the same, checked by infra/sam/check_template_matches_code.py).
pub const KAFKA_AUTH_MODES: &[&str] = &["none", "scram", "msk_iam", "oauthbearer_unsecured"];

/// Lifetime of an MSK IAM token: the presigned URL's `X-Amz-Expires`, as AWS's signers use.
pub const MSK_IAM_TOKEN_SECONDS: u64 = 900;

/// Lifetime of an unsecured token when `KAFKA_AUTH=oauthbearer_unsecured` comes from the environment.
const UNSECURED_TOKEN_LIFETIME: Duration = Duration::from_secs(900);
const UNSECURED_PRINCIPAL: &str = "activity-replay";

/// Sent as the presigned URL's `User-Agent` parameter (MSK logs it).
const USER_AGENT: &str = concat!("activity-replay/", env!("CARGO_PKG_VERSION"));

/// How the functions' Kafka clients authenticate (`KAFKA_AUTH`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KafkaAuth {
    /// No SASL: plaintext or TLS, as `KAFKA_PROPERTIES` says.
    #[default]
    None,
    /// SASL with `KAFKA_SASL_USERNAME` / `KAFKA_SASL_PASSWORD`; mechanism and
    /// protocol from `KAFKA_PROPERTIES` (e.g. `security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512`).
    Scram,
    /// SASL/OAUTHBEARER over TLS, tokens signed for `kafka-cluster:Connect`
    /// in `region` with the process's AWS credentials (the function's role).
    MskIam { region: String },
    /// SASL/OAUTHBEARER with unsigned JWTs (`alg: none`, `sub` = `principal`)
    /// valid for `lifetime`: Kafka's built-in unsecured validator, tests only.
    OAuthBearerUnsecured { principal: String, lifetime: Duration },
}

impl KafkaAuth {
    /// Unsecured tokens for `principal`, each valid for `lifetime` (tests use seconds).
    pub fn unsecured(principal: impl Into<String>, lifetime: Duration) -> Self {
        Self::OAuthBearerUnsecured { principal: principal.into(), lifetime }
    }

    /// The `KAFKA_AUTH` name of this mode.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Scram => "scram",
            Self::MskIam { .. } => "msk_iam",
            Self::OAuthBearerUnsecured { .. } => "oauthbearer_unsecured",
        }
    }

    /// Reads `KAFKA_AUTH` (`value`) and checks it against the other Kafka
    /// settings: whether SASL credentials are set (`has_credentials`), the
    /// `KAFKA_PROPERTIES` entries (`extra`) and `AWS_REGION` (`region`).
    /// Unset means `scram` when credentials are set and `none` otherwise,
    /// which is what the settings meant before `KAFKA_AUTH` existed.
    pub fn from_settings(
        value: Option<&str>,
        region: Option<String>,
        has_credentials: bool,
        extra: &[(String, String)],
    ) -> Result<Self> {
        let auth = match value.map(str::trim) {
            None | Some("") if has_credentials => Self::Scram,
            None | Some("") => Self::None,
            Some("none") => Self::None,
            Some("scram") => Self::Scram,
            Some("msk_iam") => Self::MskIam {
                region: region.filter(|r| !r.trim().is_empty()).ok_or_else(|| {
                    Error::Config("KAFKA_AUTH=msk_iam signs tokens for a region: AWS_REGION is not set".into())
                })?,
            },
            Some("oauthbearer_unsecured") => Self::unsecured(UNSECURED_PRINCIPAL, UNSECURED_TOKEN_LIFETIME),
            Some(other) => {
                return Err(Error::Config(format!(
                    "KAFKA_AUTH has an invalid value `{other}`; expected one of {}",
                    KAFKA_AUTH_MODES.join(", ")
                )))
            }
        };
        auth.check(has_credentials, extra)?;
        Ok(auth)
    }

    /// Settings that contradict this mode.
    fn check(&self, has_credentials: bool, extra: &[(String, String)]) -> Result<()> {
        let name = self.name();
        let property = |key: &str| extra.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.to_ascii_uppercase());
        let protocol = property("security.protocol");
        let mechanism = property("sasl.mechanism").or_else(|| property("sasl.mechanisms"));
        let contradiction = |what: String| Err(Error::Config(format!("KAFKA_AUTH={name} contradicts {what}")));
        match self {
            Self::None => {
                if has_credentials {
                    return contradiction("KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD (use KAFKA_AUTH=scram)".into());
                }
                if let Some(p) = protocol.filter(|p| p.starts_with("SASL")) {
                    return contradiction(format!("security.protocol={p} in KAFKA_PROPERTIES"));
                }
            }
            Self::Scram => {
                if !has_credentials {
                    return Err(Error::Config(
                        "KAFKA_AUTH=scram needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (the template's \
                         KafkaSecretArn); use KAFKA_AUTH=none for TLS-only or plaintext brokers"
                            .into(),
                    ));
                }
                if let Some(p) = protocol.filter(|p| !p.starts_with("SASL")) {
                    return contradiction(format!("security.protocol={p} in KAFKA_PROPERTIES"));
                }
                if let Some(m) = mechanism.filter(|m| m == "OAUTHBEARER") {
                    return contradiction(format!("sasl.mechanism={m} in KAFKA_PROPERTIES"));
                }
            }
            Self::MskIam { .. } | Self::OAuthBearerUnsecured { .. } => {
                if has_credentials {
                    return contradiction(
                        "KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD: tokens replace them (leave KafkaSecretArn empty)"
                            .into(),
                    );
                }
                let protocol_ok = |p: &str| match self {
                    Self::MskIam { .. } => p == "SASL_SSL",
                    _ => p == "SASL_SSL" || p == "SASL_PLAINTEXT",
                };
                if let Some(p) = protocol.filter(|p| !protocol_ok(p)) {
                    return contradiction(format!("security.protocol={p} in KAFKA_PROPERTIES"));
                }
                if let Some(m) = mechanism.filter(|m| m != "OAUTHBEARER") {
                    return contradiction(format!("sasl.mechanism={m} in KAFKA_PROPERTIES"));
                }
                // librdkafka's own token sources would bypass the callback.
                if let Some(m) = property("sasl.oauthbearer.method").filter(|m| m != "DEFAULT") {
                    return contradiction(format!("sasl.oauthbearer.method={m} in KAFKA_PROPERTIES"));
                }
                if let Some(v) = property("enable.sasl.oauthbearer.unsecure.jwt").filter(|v| v == "TRUE") {
                    return contradiction(format!("enable.sasl.oauthbearer.unsecure.jwt={v} in KAFKA_PROPERTIES"));
                }
            }
        }
        Ok(())
    }

    /// The librdkafka properties this mode implies. `KAFKA_PROPERTIES` may
    /// restate them (checked to agree) and then wins.
    pub fn properties(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::None | Self::Scram => &[],
            Self::MskIam { .. } => &[("security.protocol", "SASL_SSL"), ("sasl.mechanism", "OAUTHBEARER")],
            Self::OAuthBearerUnsecured { .. } => {
                &[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "OAUTHBEARER")]
            }
        }
    }
}

/// Issues the tokens of one `KafkaLog`'s clients (every client asks for its
/// own, through [`super::kafka::ReplayContext`]) and counts them.
pub struct TokenSource {
    kind: Kind,
    issued: AtomicU64,
}

enum Kind {
    MskIam { region: String, credentials: CredentialsCache },
    Unsecured { principal: String, lifetime: Duration },
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::MskIam { region, .. } => format!("msk_iam ({region})"),
            Kind::Unsecured { principal, lifetime } => format!("oauthbearer_unsecured ({principal}, {lifetime:?})"),
        };
        f.debug_struct("TokenSource").field("kind", &kind).field("issued", &self.issued()).finish()
    }
}

impl TokenSource {
    /// The token source of `auth`, None when it does not use OAUTHBEARER.
    pub fn for_auth(auth: &KafkaAuth) -> Option<Arc<Self>> {
        let kind = match auth {
            KafkaAuth::None | KafkaAuth::Scram => return None,
            KafkaAuth::MskIam { region } => {
                Kind::MskIam { region: region.clone(), credentials: CredentialsCache::default_chain() }
            }
            KafkaAuth::OAuthBearerUnsecured { principal, lifetime } => {
                Kind::Unsecured { principal: principal.clone(), lifetime: *lifetime }
            }
        };
        Some(Arc::new(Self { kind, issued: AtomicU64::new(0) }))
    }

    /// MSK IAM tokens signed with fixed credentials (tests, tools).
    pub fn msk_iam_with(region: impl Into<String>, credentials: Credentials) -> Arc<Self> {
        let credentials = CredentialsCache { fixed: Some(credentials), cached: Mutex::new(None) };
        Arc::new(Self { kind: Kind::MskIam { region: region.into(), credentials }, issued: AtomicU64::new(0) })
    }

    /// Tokens issued so far (each is one call of librdkafka's refresh callback).
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// A new token for librdkafka; called from its refresh callback.
    pub fn token(&self) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
        let now = SystemTime::now();
        let result = match &self.kind {
            Kind::MskIam { region, credentials } => credentials.get(now).and_then(|creds| {
                let mut token = msk_iam_token(region, &creds, now)?;
                // A token cannot outlive the credentials that signed it.
                if let Some(expiry) = creds.expiry() {
                    token.lifetime_ms = token.lifetime_ms.min(unix_ms(expiry));
                }
                Ok(token)
            }),
            Kind::Unsecured { principal, lifetime } => Ok(unsecured_token(principal, *lifetime, now)),
        };
        match result {
            Ok(token) => {
                let n = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
                let valid_ms = token.lifetime_ms - unix_ms(now);
                debug!(source = self.kind_name(), issued = n, valid_ms, "kafka: OAUTHBEARER token issued");
                Ok(token)
            }
            Err(e) => {
                warn!(source = self.kind_name(), error = %e, "kafka: no OAUTHBEARER token; librdkafka retries in 10 s");
                Err(e.to_string().into())
            }
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::MskIam { .. } => "msk_iam",
            Kind::Unsecured { .. } => "oauthbearer_unsecured",
        }
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The MSK IAM token for `credentials` at `now` (see the module's comment):
/// the base64url (unpadded) presigned URL, and its expiry as librdkafka wants
/// it (`lifetime_ms`: milliseconds since the Unix epoch). The principal name
/// is not sent to the broker (MSK takes the identity from the signature).
pub fn msk_iam_token(region: &str, credentials: &Credentials, now: SystemTime) -> Result<OAuthToken> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
    use aws_sigv4::sign::v4;

    let signing_error = |e: &dyn std::fmt::Display| Error::Internal(format!("signing the MSK IAM token: {e}"));
    let mut url = url::Url::parse(&format!("https://kafka.{region}.amazonaws.com/"))
        .map_err(|e| Error::Config(format!("AWS_REGION `{region}` makes no MSK host: {e}")))?;
    url.query_pairs_mut().append_pair("Action", "kafka-cluster:Connect");

    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(MSK_IAM_TOKEN_SECONDS));
    // SigV4 times have whole seconds: the URL and the expiry agree on them.
    let signed_at = UNIX_EPOCH + Duration::from_secs(now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| signing_error(&e))?
        .into();
    // No headers: SigV4 signs `host`, taken from the URL.
    let request = SignableRequest::new("GET", url.as_str(), std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| signing_error(&e))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| signing_error(&e))?.into_parts();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
        // Not signed, as in AWS's signers.
        query.append_pair("User-Agent", USER_AGENT);
    }
    let expires_at = signed_at + Duration::from_secs(MSK_IAM_TOKEN_SECONDS);
    Ok(OAuthToken {
        token: URL_SAFE_NO_PAD.encode(url.as_str()),
        principal_name: "msk-iam".into(),
        lifetime_ms: unix_ms(expires_at),
    })
}

/// An unsecured JWT as Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler`
/// accepts it: header `{"alg":"none"}`, claims `sub`, `iat`, `exp` (seconds),
/// an empty signature.
pub fn unsecured_token(principal: &str, lifetime: Duration, now: SystemTime) -> OAuthToken {
    let now_ms = unix_ms(now);
    let iat = now_ms / 1000;
    // `exp` has whole seconds; at least one second ahead.
    let exp = ((now_ms + lifetime.as_millis() as i64) / 1000).max(iat + 1);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::json!({ "sub": principal, "iat": iat, "exp": exp }).to_string());
    OAuthToken { token: format!("{header}.{claims}."), principal_name: principal.to_owned(), lifetime_ms: exp * 1000 }
}

/// Credentials are fetched again once they expire within this margin: a
/// token signed with them lives this long.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(MSK_IAM_TOKEN_SECONDS + 60);
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(30);

/// AWS credentials for signing, from aws-config's default provider chain
/// (environment, profile, web identity, ECS, IMDS), cached while fresh.
struct CredentialsCache {
    fixed: Option<Credentials>,
    cached: Mutex<Option<Credentials>>,
}

impl CredentialsCache {
    fn default_chain() -> Self {
        Self { fixed: None, cached: Mutex::new(None) }
    }

    fn get(&self, now: SystemTime) -> Result<Credentials> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let fresh = |c: &Credentials| c.expiry().is_none_or(|e| e > now + CREDENTIALS_MARGIN);
        if let Some(c) = self.cached.lock().unwrap_or_else(|p| p.into_inner()).as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let creds = resolve_credentials()?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(creds.clone());
        Ok(creds)
    }
}

/// Runs the provider chain on a thread of its own with its own runtime: the
/// caller (librdkafka's callback, inside `poll()`) may be any thread, and
/// never waits for the application's runtime, which could be the one blocked.
fn resolve_credentials() -> Result<Credentials> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("aws-credentials".into())
        .spawn(move || {
            let _ = tx.send(provide_credentials());
        })
        .map_err(|e| Error::Internal(format!("starting the credentials thread: {e}")))?;
    match rx.recv_timeout(CREDENTIALS_TIMEOUT) {
        Ok(Ok(creds)) => Ok(creds),
        Ok(Err(e)) => Err(Error::Internal(format!("AWS credentials for MSK IAM: {e}"))),
        Err(_) => Err(Error::Internal(format!("AWS credentials for MSK IAM: none within {CREDENTIALS_TIMEOUT:?}"))),
    }
}

fn provide_credentials() -> std::result::Result<Credentials, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let chain = aws_config::default_provider::credentials::default_provider().await;
        chain.provide_credentials().await.map_err(|e| format!("{e:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(entries: &[(&str, &str)]) -> Vec<(String, String)> {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn query(token: &str) -> (url::Url, Vec<(String, String)>) {
        let url = url::Url::parse(std::str::from_utf8(&URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap()).unwrap();
        let pairs = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        (url, pairs)
    }

    fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
        pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}"))
    }

    // 2026-11-23T10:00:00Z
    const SIGNED_AT: u64 = 1_795_428_000;

    /// The same request signed independently, by botocore 1.42.34 the way
    /// aws-msk-iam-sasl-signer-python signs it (LocalStack's venv has botocore:
    /// `.local/venvs/localstack/bin/python`), with the same clock and keys:
    ///
    /// ```python
    /// import datetime; from unittest import mock; from urllib.parse import urlparse, parse_qs
    /// from botocore.auth import SigV4QueryAuth; from botocore.awsrequest import AWSRequest
    /// from botocore.credentials import Credentials
    /// for token in ("IQoJb3JpZ2luX2VjEXAMPLE+/=", None):
    ///     creds = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token)
    ///     auth = SigV4QueryAuth(creds, "kafka-cluster", "us-east-1", expires=900)
    ///     req = AWSRequest(method="GET", url="https://kafka.us-east-1.amazonaws.com/",
    ///                      params={"Action": "kafka-cluster:Connect"})
    ///     with mock.patch("botocore.auth.get_current_datetime",
    ///                     return_value=datetime.datetime(2026, 11, 23, 10, 0, 0)):
    ///         auth.add_auth(req)
    ///     print(parse_qs(urlparse(req.prepare().url).query)["X-Amz-Signature"][0])
    /// ```
    const BOTOCORE_SIGNATURE: &str = "4c4ed9c50c829a343e788124a36b8204254196fcc37c68a95304d99bdc227342";
    const BOTOCORE_SIGNATURE_NO_SESSION: &str = "0461440a90c8b87e78a381bff06534018e2136f868b6a7a0b13e4331836e6087";

    fn credentials(session: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session.map(str::to_owned),
            None,
            "test",
        )
    }

    #[test]
    fn msk_iam_token_is_a_presigned_connect_url() {
        let now = UNIX_EPOCH + Duration::from_millis(SIGNED_AT * 1000 + 999);
        let token = msk_iam_token("us-east-1", &credentials(Some("IQoJb3JpZ2luX2VjEXAMPLE+/=")), now).unwrap();
        assert!(!token.token.contains(['=', '+', '/']), "base64url without padding: {}", token.token);
        assert_eq!(token.lifetime_ms, (SIGNED_AT as i64 + 900) * 1000, "expiry = signing time (whole seconds) + 900 s");
        let (url, pairs) = query(&token.token);
        assert_eq!(url.scheme(), "https");
        assert_eq!(url.host_str(), Some("kafka.us-east-1.amazonaws.com"));
        assert_eq!(url.path(), "/");
        assert_eq!(param(&pairs, "Action"), "kafka-cluster:Connect");
        assert_eq!(param(&pairs, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
        assert_eq!(
            param(&pairs, "X-Amz-Credential"),
            "AKIAIOSFODNN7EXAMPLE/20261123/us-east-1/kafka-cluster/aws4_request"
        );
        assert_eq!(param(&pairs, "X-Amz-Date"), "20261123T100000Z");
        assert_eq!(param(&pairs, "X-Amz-Expires"), "900");
        assert_eq!(param(&pairs, "X-Amz-SignedHeaders"), "host");
        assert_eq!(param(&pairs, "X-Amz-Security-Token"), "IQoJb3JpZ2luX2VjEXAMPLE+/=");
        assert_eq!(param(&pairs, "User-Agent"), USER_AGENT);
        assert_eq!(param(&pairs, "X-Amz-Signature"), BOTOCORE_SIGNATURE);
        // The query is percent-encoded (the token carries `/`, `+` and `=`).
        assert!(url.query().unwrap().contains("X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2B%2F%3D"));
    }

    #[test]
    fn msk_iam_token_without_session_token() {
        let now = UNIX_EPOCH + Duration::from_secs(SIGNED_AT);
        let token = msk_iam_token("us-east-1", &credentials(None), now).unwrap();
        let (_, pairs) = query(&token.token);
        assert!(!pairs.iter().any(|(k, _)| k == "X-Amz-Security-Token"));
        assert_eq!(param(&pairs, "X-Amz-Signature"), BOTOCORE_SIGNATURE_NO_SESSION);
    }

    #[test]
    fn msk_iam_token_source_counts_and_caps_at_credential_expiry() {
        let expiry = SystemTime::now() + Duration::from_secs(120);
        let creds = Credentials::new("AKID", "SECRET", Some("TOKEN".into()), Some(expiry), "test");
        let source = TokenSource::msk_iam_with("eu-west-1", creds);
        let token = source.token().unwrap();
        assert_eq!(source.issued(), 1);
        assert_eq!(token.lifetime_ms, unix_ms(expiry), "no longer than the credentials");
        let (url, _) = query(&token.token);
        assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
    }

    #[test]
    fn unsecured_token_is_an_unsigned_jwt() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let token = unsecured_token("admin", Duration::from_secs(5), now);
        let parts: Vec<&str> = token.token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "", "no signature");
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), br#"{"alg":"none"}"#);
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "admin");
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["exp"], 1_700_000_005);
        assert_eq!(token.lifetime_ms, 1_700_000_005_000);
        assert_eq!(token.principal_name, "admin");
    }

    #[test]
    fn kafka_auth_defaults_and_names() {
        assert_eq!(KafkaAuth::from_settings(None, None, false, &[]).unwrap(), KafkaAuth::None);
        assert_eq!(KafkaAuth::from_settings(None, None, true, &[]).unwrap(), KafkaAuth::Scram);
        let iam = KafkaAuth::from_settings(Some("msk_iam"), Some("us-east-1".into()), false, &[]).unwrap();
        assert_eq!(iam, KafkaAuth::MskIam { region: "us-east-1".into() });
        assert_eq!(iam.properties(), &[("security.protocol", "SASL_SSL"), ("sasl.mechanism", "OAUTHBEARER")]);
        for name in KAFKA_AUTH_MODES {
            let auth = KafkaAuth::from_settings(Some(name), Some("us-east-1".into()), *name == "scram", &[]).unwrap();
            assert_eq!(auth.name(), *name);
        }
    }

    #[test]
    fn kafka_auth_refuses_contradictions() {
        let region = || Some("us-east-1".to_string());
        // (KAFKA_AUTH, credentials set, KAFKA_PROPERTIES)
        type Case<'a> = (&'a str, bool, &'a [(&'a str, &'a str)]);
        let bad: &[Case] = &[
            ("kerberos", false, &[]),
            ("msk_iam", false, &[("sasl.mechanism", "SCRAM-SHA-512")]),
            ("msk_iam", false, &[("security.protocol", "SASL_PLAINTEXT")]),
            ("msk_iam", false, &[("security.protocol", "SSL")]),
            ("msk_iam", false, &[("sasl.oauthbearer.method", "oidc")]),
            ("msk_iam", true, &[]),
            ("oauthbearer_unsecured", false, &[("security.protocol", "PLAINTEXT")]),
            ("oauthbearer_unsecured", false, &[("enable.sasl.oauthbearer.unsecure.jwt", "true")]),
            ("scram", false, &[]),
            ("scram", true, &[("security.protocol", "SSL")]),
            ("scram", true, &[("sasl.mechanism", "OAUTHBEARER")]),
            ("none", true, &[]),
            ("none", false, &[("security.protocol", "SASL_SSL")]),
        ];
        for (mode, creds, extra) in bad {
            let result = KafkaAuth::from_settings(Some(mode), region(), *creds, &props(extra));
            assert!(result.is_err(), "{mode} {creds} {extra:?} was accepted");
        }
        let err = KafkaAuth::from_settings(Some("msk_iam"), None, false, &[]).unwrap_err().to_string();
        assert!(err.contains("AWS_REGION"), "{err}");
        // Properties that agree are fine.
        let ok = props(&[
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("ssl.ca.location", "probe"),
        ]);
        assert!(KafkaAuth::from_settings(Some("msk_iam"), region(), false, &ok).is_ok());
        let scram = props(&[("security.protocol", "SASL_SSL"), ("sasl.mechanism", "SCRAM-SHA-512")]);
        assert!(KafkaAuth::from_settings(Some("scram"), None, true, &scram).is_ok());
        assert!(KafkaAuth::from_settings(Some("none"), None, false, &props(&[("security.protocol", "SSL")])).is_ok());
    }
}
