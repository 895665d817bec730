//! Webhook secrets at rest: envelope encryption (docs/security.md, "Secrets
//! at rest"). Each secret is encrypted with AES-256-GCM under a data key of
//! its own; the data key is stored encrypted by the master key (KMS), bound
//! to an encryption context naming the tenant and the webhook. The same
//! context is the GCM associated data, so a sealed value copied to another
//! webhook's row opens nowhere.
//!
//! Stored form: `env1.<encrypted data key>.<nonce>.<ciphertext and tag>`,
//! each part base64 (standard alphabet, padded).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;

const FORMAT: &str = "env1";

/// Whose secret it is: KMS's encryption context and GCM's associated data.
#[derive(Debug, Clone, Copy)]
pub struct SecretContext<'a> {
    pub tenant: &'a str,
    pub webhook: &'a str,
}

impl SecretContext<'_> {
    /// The KMS encryption context (logged by CloudTrail with every use of the key).
    pub fn pairs(&self) -> [(&'static str, &str); 2] {
        [("tenant", self.tenant), ("webhook", self.webhook)]
    }

    fn associated_data(&self) -> Vec<u8> {
        format!("{FORMAT}|tenant={}|webhook={}", self.tenant, self.webhook).into_bytes()
    }
}

/// A plaintext data key (32 bytes, AES-256), as KMS hands it out.
pub struct DataKey(pub [u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A sealed secret, parsed from its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The data key, encrypted by the master key (opaque; KMS's blob).
    pub encrypted_key: Vec<u8>,
    nonce: [u8; 12],
    ciphertext: Vec<u8>,
}

/// Why a sealed value does not open: never carries the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed secret of format {FORMAT}")]
    Malformed,
    #[error("the sealed secret does not open with this key and context")]
    WrongKeyOrContext,
}

impl Envelope {
    pub fn seal(data_key: &DataKey, encrypted_key: Vec<u8>, context: SecretContext<'_>, plaintext: &str) -> Self {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = context.associated_data();
        let ciphertext = Aes256Gcm::new(&data_key.0.into())
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: &aad })
            // Encryption fails only for inputs of gigabytes.
            .unwrap_or_else(|_| unreachable!("AES-GCM encrypts a secret"));
        Self { encrypted_key, nonce, ciphertext }
    }

    pub fn open(&self, data_key: &DataKey, context: SecretContext<'_>) -> Result<String, SealError> {
        let aad = context.associated_data();
        let plain = Aes256Gcm::new(&data_key.0.into())
            .decrypt(Nonce::from_slice(&self.nonce), Payload { msg: &self.ciphertext, aad: &aad })
            .map_err(|_| SealError::WrongKeyOrContext)?;
        String::from_utf8(plain).map_err(|_| SealError::Malformed)
    }

    pub fn encode(&self) -> String {
        format!(
            "{FORMAT}.{}.{}.{}",
            STANDARD.encode(&self.encrypted_key),
            STANDARD.encode(self.nonce),
            STANDARD.encode(&self.ciphertext)
        )
    }

    pub fn decode(stored: &str) -> Result<Self, SealError> {
        let mut parts = stored.split('.');
        let (Some(FORMAT), Some(key), Some(nonce), Some(ciphertext), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let decode = |part: &str| STANDARD.decode(part).map_err(|_| SealError::Malformed);
        Ok(Self {
            encrypted_key: decode(key)?,
            nonce: decode(nonce)?.try_into().map_err(|_| SealError::Malformed)?,
            ciphertext: decode(ciphertext)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: SecretContext<'static> = SecretContext { tenant: "t1", webhook: "wh_1" };

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_context_only() {
        let key = DataKey([7; 32]);
        let sealed = Envelope::seal(&key, b"kms-blob".to_vec(), CTX, "whsec_abc").encode();
        assert!(!sealed.contains("whsec_abc") && sealed.starts_with("env1."));
        let envelope = Envelope::decode(&sealed).unwrap();
        assert_eq!(envelope.encrypted_key, b"kms-blob");
        assert_eq!(envelope.open(&key, CTX).unwrap(), "whsec_abc");
        let elsewhere = SecretContext { tenant: "t1", webhook: "wh_2" };
        assert_eq!(envelope.open(&key, elsewhere), Err(SealError::WrongKeyOrContext));
        assert_eq!(envelope.open(&DataKey([8; 32]), CTX), Err(SealError::WrongKeyOrContext));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce_and_tampering_is_detected() {
        let key = DataKey([7; 32]);
        let a = Envelope::seal(&key, vec![1], CTX, "whsec_abc").encode();
        let b = Envelope::seal(&key, vec![1], CTX, "whsec_abc").encode();
        assert_ne!(a, b);
        let mut tampered = Envelope::decode(&a).unwrap();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(tampered.open(&key, CTX), Err(SealError::WrongKeyOrContext));
        for bad in
            ["", "env1", "env2.AA==.AA==.AA==", "env1.AA==.AA==.AA==.AA==", "env1.!.AA==.AA==", "env1.AA==.AA==.AA=="]
        {
            assert_eq!(Envelope::decode(bad), Err(SealError::Malformed), "{bad}");
        }
    }
}
