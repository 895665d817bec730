//! API keys: `rk_<key id>_<secret>`. Only a keyed hash (HMAC-SHA256 with the
//! server's pepper) is stored; lookups go by key id, comparison in constant time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What a key may do (docs/security.md, "Keys").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every endpoint.
    Full,
    /// Only reads: a webhook, job status and lists, failure reports.
    Read,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Read => "read",
        }
    }

    /// The stored value; anything unknown is read-only (a newer scope must
    /// never grant an older reader more than reading).
    pub fn parse(s: &str) -> Self {
        if s == "full" {
            Self::Full
        } else {
            Self::Read
        }
    }
}

/// The actor of operator actions (replayctl) in the audit trail, where API
/// calls name their key's id.
pub const OPERATOR: &str = "operator";

/// Who is calling: the tenant a key belongs to, the key and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: crate::domain::ids::TenantId,
    pub key_id: String,
    pub scope: Scope,
}

impl Caller {
    /// An operator's in-process call (the benchmark, tools): full rights,
    /// recorded in the audit trail as `operator`.
    pub fn operator(tenant: crate::domain::ids::TenantId) -> Self {
        Self { tenant, key_id: OPERATOR.into(), scope: Scope::Full }
    }
}

pub struct NewKey {
    pub key_id: String,
    /// Shown once to the operator, never stored.
    pub api_key: String,
    pub hash: [u8; 32],
}

pub fn hash_key(pepper: &str, api_key: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(api_key.as_bytes());
    mac.finalize().into_bytes().into()
}

pub fn generate(pepper: &str) -> NewKey {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut secret);
    let key_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let api_key = format!("rk_{key_id}_{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash_key(pepper, &api_key);
    NewKey { key_id, api_key, hash }
}

/// The key id of a well-formed key.
pub fn key_id(api_key: &str) -> Option<&str> {
    let rest = api_key.strip_prefix("rk_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty()).then_some(id)
}

pub fn matches(pepper: &str, api_key: &str, stored_hash: &[u8]) -> bool {
    hash_key(pepper, api_key).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_verify_and_others_do_not() {
        let k = generate("pepper");
        assert_eq!(key_id(&k.api_key), Some(k.key_id.as_str()));
        assert!(matches("pepper", &k.api_key, &k.hash));
        assert!(!matches("other pepper", &k.api_key, &k.hash));
        let mut tampered = k.api_key.clone();
        tampered.push('x');
        assert!(!matches("pepper", &tampered, &k.hash));
        assert_eq!(key_id("Bearer nonsense"), None);
        assert_eq!(key_id("rk_zz_abc"), None);
    }

    #[test]
    fn only_full_is_full() {
        assert_eq!(Scope::parse("full"), Scope::Full);
        assert_eq!(Scope::parse(Scope::Read.as_str()), Scope::Read);
        assert_eq!(Scope::parse("admin"), Scope::Read, "unknown scopes only read");
    }
}
