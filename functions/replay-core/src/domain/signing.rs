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

/// A fresh `crc_token` for a receiver check: 128 random bits, in hex.
pub fn crc_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Standard Webhooks' bounds on a secret's key, in bytes.
const STANDARD_KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// A raw key's bounds, in bytes: Twitter's consumer secrets are 50, Stripe's 38.
const RAW_KEY_BYTES: std::ops::RangeInclusive<usize> = 16..=256;

/// A secret a platform brings, in the stored form (`whsec_` and the base64
/// of the key): from Standard Webhooks' form (`standard`, whose key is the
/// base64 after `whsec_`), or from a raw key (`raw`, whose UTF-8 bytes are
/// the key as they are). `None` when neither is given; an error names the
/// field, never the value (docs/api.md, "Register a webhook").
pub fn imported_secret(standard: Option<&str>, raw: Option<&str>) -> Result<Option<String>, String> {
    let key = match (standard, raw) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Err("send at most one of `secret` and `secret_raw`".into()),
        (Some(standard), None) => {
            let key = standard
                .strip_prefix(SECRET_PREFIX)
                .and_then(|encoded| STANDARD.decode(encoded).ok())
                .ok_or("`secret` must be `whsec_` and base64 (send a key in another form as `secret_raw`)")?;
            if !STANDARD_KEY_BYTES.contains(&key.len()) {
                return Err(format!(
                    "`secret` must hold {} to {} bytes after `whsec_`",
                    STANDARD_KEY_BYTES.start(),
                    STANDARD_KEY_BYTES.end()
                ));
            }
            key
        }
        (None, Some(raw)) => {
            if !RAW_KEY_BYTES.contains(&raw.len()) {
                return Err(format!("`secret_raw` must be {} to {} bytes", RAW_KEY_BYTES.start(), RAW_KEY_BYTES.end()));
            }
            raw.as_bytes().to_vec()
        }
    };
    Ok(Some(format!("{SECRET_PREFIX}{}", STANDARD.encode(key))))
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

    /// Twitter's CRC answer to `crc_token`: `sha256=` and the base64 of
    /// HMAC-SHA256(key, crc_token) (docs/api.md, "A receiver check").
    pub fn crc_response(&self, crc_token: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.bytes).unwrap_or_else(|_| unreachable!());
        mac.update(crc_token.as_bytes());
        format!("sha256={}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// Whether `answer` is the CRC answer to `crc_token`, in constant time.
    fn answers_crc(&self, crc_token: &str, answer: &str) -> bool {
        let Some(tag) = answer.strip_prefix("sha256=").and_then(|t| STANDARD.decode(t).ok()) else { return false };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.bytes).unwrap_or_else(|_| unreachable!());
        mac.update(crc_token.as_bytes());
        mac.verify_slice(&tag).is_ok()
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

    /// Whether `answer` is the CRC answer to `crc_token` under one of its
    /// keys (a receiver may still hold the previous one during a rotation).
    pub fn answers_crc(&self, crc_token: &str, answer: &str) -> bool {
        self.keys().iter().any(|k| k.answers_crc(crc_token, answer))
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

    #[test]
    fn a_brought_secret_signs_as_its_own_scheme_would() {
        // Standard form: the key is the base64 after `whsec_`; stored as given.
        let standard = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(imported_secret(Some(standard), None).unwrap().as_deref(), Some(standard));
        // Raw: the string's bytes are the key, as Stripe uses its `whsec_...` whole.
        let raw = "whsec_stripe_style_secret_used_whole";
        let stored = imported_secret(None, Some(raw)).unwrap().unwrap();
        let key = SigningKey::from_secret(&stored).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(raw.as_bytes()).unwrap();
        mac.update(b"msg_1.1614265330.{}");
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(key.sign("msg_1", 1_614_265_330, b"{}"), expected);
        assert_eq!(imported_secret(None, None), Ok(None));
    }

    #[test]
    fn a_brought_secret_out_of_bounds_is_refused_without_echoing_it() {
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        for (standard, raw) in [
            (Some("whsec_not base64!"), None),
            (Some("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None),
            (Some(short.as_str()), None),
            (Some(long.as_str()), None),
            (None, Some("fifteen bytes!!")),
            (None, Some(&*"k".repeat(257))),
            (Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Some("sixteen bytes!!!")),
        ] {
            let err = imported_secret(standard, raw).unwrap_err();
            for value in [standard, raw].into_iter().flatten() {
                assert!(!err.contains(value), "{err} echoes the secret");
            }
        }
        assert!(imported_secret(None, Some("sixteen bytes!!!")).is_ok());
    }

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
    fn a_crc_answer_is_the_hmac_of_the_token_under_any_held_key() {
        let (old, new) = (
            SigningKey::from_secret(&generate_secret()).unwrap(),
            SigningKey::from_secret(&generate_secret()).unwrap(),
        );
        let token = crc_token();
        assert_eq!(token.len(), 32);
        let answer = new.crc_response(&token);
        assert!(answer.starts_with("sha256=") && STANDARD.decode(&answer[7..]).unwrap().len() == 32, "{answer}");
        let rotating = Signer::new(new.clone(), Some(old.clone()));
        assert!(rotating.answers_crc(&token, &answer));
        assert!(rotating.answers_crc(&token, &old.crc_response(&token)), "the previous key during a rotation");
        let only_new = Signer::from(new);
        assert!(!only_new.answers_crc(&token, &old.crc_response(&token)), "another key's answer");
        assert!(!only_new.answers_crc(&crc_token(), &answer), "another token's answer");
        assert!(!only_new.answers_crc(&token, answer.trim_start_matches("sha256=")), "the prefix is part of it");
        // Twitter's form: the raw key's bytes are the HMAC key (a platform's
        // consumer secret imported as `secret_raw`).
        let raw = imported_secret(None, Some("consumer-secret-of-fifty-bytes-0123456789abcdefghi")).unwrap().unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"consumer-secret-of-fifty-bytes-0123456789abcdefghi").unwrap();
        mac.update(b"challenge");
        let want = format!("sha256={}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(SigningKey::from_secret(&raw).unwrap().crc_response("challenge"), want);
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
