//! Standard Webhooks signatures (docs/api.md, "Signed deliveries").

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::sync::{Arc, RwLock};

const SECRET_PREFIX: &str = "whsec_";

/// A webhook's signing key, decoded once from its `whsec_...` form.
#[derive(Clone)]
pub struct SigningKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// A new `whsec_` + base64(32 random bytes) secret.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

impl SigningKey {
    pub fn from_secret(secret: &str) -> Option<Self> {
        let encoded = secret.strip_prefix(SECRET_PREFIX)?;
        let bytes = STANDARD.decode(encoded).ok()?;
        if bytes.is_empty() {
            return None;
        }
        Some(Self { bytes })
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.bytes).unwrap_or_else(|_| unreachable!());
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value: `v1,<base64 HMAC-SHA256>`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Verifies a `webhook-signature` header (space-separated `v1,<sig>` list)
    /// in constant time.
    pub fn verify(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        header.split(' ').any(|candidate| {
            let Some(encoded) = candidate.strip_prefix("v1,") else {
                return false;
            };
            let Ok(tag) = STANDARD.decode(encoded) else {
                return false;
            };
            self.mac(msg_id, timestamp, body).verify_slice(&tag).is_ok()
        })
    }
}

/// What a delivery is signed with: the webhook's current key, and during a
/// rotation's grace period the previous one too. The header then carries
/// both signatures, current first (`v1,<new> v1,<old>`), which Standard
/// Webhooks verifiers accept when either matches (docs/security.md,
/// "Rotating a secret").
///
/// Clones share their keys: a running slice's keeper replaces them when a
/// rotation happens ([`Signer::replace_with`]), and every delivery of the
/// slice, queued or being retried, signs with the new keys from its next
/// attempt on.
#[derive(Clone, Debug)]
pub struct Signer {
    keys: Arc<RwLock<Arc<[SigningKey]>>>,
}

impl Signer {
    pub fn new(current: SigningKey, previous: Option<SigningKey>) -> Self {
        Self { keys: Arc::new(RwLock::new(std::iter::once(current).chain(previous).collect())) }
    }

    fn keys(&self) -> Arc<[SigningKey]> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The `webhook-signature` header value: one `v1,<sig>` per key, space-separated.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let signatures: Vec<String> = self.keys().iter().map(|k| k.sign(msg_id, timestamp, body)).collect();
        signatures.join(" ")
    }

    /// Keys it signs with (2 during a rotation's grace period).
    pub fn key_count(&self) -> usize {
        self.keys().len()
    }

    /// From now on this signer and its clones sign with `newer`'s keys.
    pub fn replace_with(&self, newer: &Signer) {
        let keys = newer.keys();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }
}

impl From<SigningKey> for Signer {
    fn from(key: SigningKey) -> Self {
        Self::new(key, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification.
    #[test]
    fn matches_standard_webhooks_reference_vector() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(key.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body, &sig));
        assert!(!key.verify("msg_other", 1_614_265_330, body, &sig));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies_the_header() {
        let (old, new, other) = (generate_secret(), generate_secret(), generate_secret());
        let key = |s: &str| SigningKey::from_secret(s).unwrap();
        let signer = Signer::new(key(&new), Some(key(&old)));
        let header = signer.sign("msg_1", 1_700_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.starts_with(&key(&new).sign("msg_1", 1_700_000_000, b"{}")), "current first");
        assert!(key(&old).verify("msg_1", 1_700_000_000, b"{}", &header));
        assert!(key(&new).verify("msg_1", 1_700_000_000, b"{}", &header));
        assert!(!key(&other).verify("msg_1", 1_700_000_000, b"{}", &header));
        let single = Signer::from(key(&new)).sign("msg_1", 1_700_000_000, b"{}");
        assert!(!single.contains(' ') && !key(&old).verify("msg_1", 1_700_000_000, b"{}", &single));
    }

    #[test]
    fn generated_secrets_have_the_contract_form() {
        let secret = generate_secret();
        assert!(secret.starts_with("whsec_"));
        let key = SigningKey::from_secret(&secret).unwrap();
        assert_eq!(key.bytes.len(), 32);
        assert!(SigningKey::from_secret("nope").is_none());
    }
}
