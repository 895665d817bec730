//! Webhook secrets: sealed when made, opened once per invocation by the
//! worker to build a slice's (or a status event's) signer, rotated with a
//! grace period, and sealed in bulk by the migration (docs/security.md,
//! "Secrets at rest" and "Rotating a secret").

use crate::domain::ids::WebhookId;
use crate::domain::sealed::{Envelope, SecretContext};
use crate::domain::signing::{generate_secret, Signer, SigningKey};
use crate::error::{Error, Result};
use crate::ports::directory::{Directory, PlaintextSecret, StoredSecrets};
use crate::ports::KeyService;
use std::time::Duration;
use tracing::{info, instrument};

/// The stored form of `plaintext`, under a data key of its own.
pub async fn seal(keys: &dyn KeyService, context: SecretContext<'_>, plaintext: &str) -> Result<String> {
    let (data_key, encrypted_key) = keys.data_key(context).await?;
    Ok(Envelope::seal(&data_key, encrypted_key, context, plaintext).encode())
}

/// The plaintext of a stored secret; an error names the webhook, never a value.
pub async fn open(keys: &dyn KeyService, context: SecretContext<'_>, sealed: &str) -> Result<String> {
    let unreadable =
        |why: String| Error::Internal(format!("the secret of webhook {} does not open: {why}", context.webhook));
    let envelope = Envelope::decode(sealed).map_err(|e| unreadable(e.to_string()))?;
    let data_key = keys.decrypt_key(&envelope.encrypted_key, context).await?;
    envelope.open(&data_key, context).map_err(|e| unreadable(e.to_string()))
}

fn signing_key(secret: &str, webhook: &str) -> Result<SigningKey> {
    SigningKey::from_secret(secret).ok_or_else(|| Error::Internal(format!("webhook {webhook} has an invalid secret")))
}

/// What deliveries of a webhook are signed with: its current secret, and
/// the previous one during a rotation's grace period. One KMS call per
/// secret, made once per message: never per event.
#[instrument(skip_all, fields(webhook_id = %stored.webhook_id))]
pub async fn signer(keys: &dyn KeyService, stored: &StoredSecrets) -> Result<Signer> {
    let context = SecretContext { tenant: &stored.tenant_id, webhook: &stored.webhook_id };
    let current = match (&stored.secret_sealed, &stored.legacy_plaintext) {
        (Some(sealed), _) => open(keys, context, sealed).await?,
        // Until `replayctl migrate` has sealed it (docs/operations.md).
        (None, Some(plain)) => plain.clone(),
        (None, None) => return Err(Error::Internal(format!("webhook {} has no secret", stored.webhook_id))),
    };
    let previous = match &stored.previous_sealed {
        Some(sealed) => Some(signing_key(&open(keys, context, sealed).await?, &stored.webhook_id)?),
        None => None,
    };
    Ok(Signer::new(signing_key(&current, &stored.webhook_id)?, previous))
}

/// A webhook's signer read from the store and opened with the key service.
pub struct StoreSigners {
    pub store: Box<dyn Directory>,
    pub keys: Box<dyn KeyService>,
}

#[async_trait::async_trait]
impl crate::ports::WebhookSigners for StoreSigners {
    async fn signer(&self, webhook: &WebhookId) -> Result<(Signer, String)> {
        let stored = self.store.webhook_secrets(webhook).await?;
        Ok((signer(self.keys.as_ref(), &stored).await?, stored.version))
    }
}

/// A webhook's secret, sealed: the one the platform brought (its stored form,
/// [`crate::domain::signing::imported_secret`]), or a new one. Returns
/// (the plaintext if it is new, to be shown once; the stored form).
pub async fn new_secret(
    keys: &dyn KeyService,
    context: SecretContext<'_>,
    brought: Option<String>,
) -> Result<(Option<String>, String)> {
    let made = brought.is_none();
    let secret = brought.unwrap_or_else(generate_secret);
    let sealed = seal(keys, context, &secret).await?;
    Ok((made.then_some(secret), sealed))
}

/// A new secret for a webhook (the one the platform brought, or a new one,
/// returned once); the old one signs beside it for `grace`. Operator action
/// (`replayctl rotate-secret`) and `PATCH /v1/webhooks/{id}`.
#[instrument(skip(store, keys, brought))]
pub async fn rotate_secret(
    store: &dyn Directory,
    keys: &dyn KeyService,
    webhook: &WebhookId,
    brought: Option<String>,
    grace: Duration,
) -> Result<Option<String>> {
    let stored = store.webhook_secrets(webhook).await?;
    // A row of an earlier release is sealed first, so its secret can be the
    // previous one (this row only: the migration's pass seals the rest).
    if let (None, Some(secret)) = (&stored.secret_sealed, &stored.legacy_plaintext) {
        let plain = PlaintextSecret {
            webhook_id: stored.webhook_id.clone(),
            tenant_id: stored.tenant_id.clone(),
            secret: secret.clone(),
        };
        let context = SecretContext { tenant: &plain.tenant_id, webhook: &plain.webhook_id };
        store.store_sealed(&plain, &seal(keys, context, &plain.secret).await?).await?;
    }
    let context = SecretContext { tenant: &stored.tenant_id, webhook: webhook.as_str() };
    let (secret, sealed) = new_secret(keys, context, brought).await?;
    if !store.rotate_webhook_secret(webhook, &sealed, grace.as_secs()).await? {
        return Err(Error::NotFound);
    }
    info!(grace_s = grace.as_secs(), "webhook secret rotated");
    Ok(secret)
}

/// The migration's pass: seals every plaintext secret an earlier release
/// stored, in batches; returns how many. Safe to run again and beside the
/// API (a row changed meanwhile is sealed by the next pass).
#[instrument(skip_all)]
pub async fn seal_plaintext_secrets(store: &dyn Directory, keys: &dyn KeyService) -> Result<u32> {
    let mut sealed = 0;
    loop {
        let batch = store.plaintext_secrets(100).await?;
        if batch.is_empty() {
            break;
        }
        let mut progressed = false;
        for plain in &batch {
            let context = SecretContext { tenant: &plain.tenant_id, webhook: &plain.webhook_id };
            let stored = seal(keys, context, &plain.secret).await?;
            if store.store_sealed(plain, &stored).await? {
                sealed += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    if sealed > 0 {
        info!(sealed, "plaintext webhook secrets sealed");
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryKeys;
    use std::sync::atomic::Ordering;

    fn stored(current: Option<String>, previous: Option<String>) -> StoredSecrets {
        StoredSecrets {
            version: String::new(),
            webhook_id: "wh_1".into(),
            tenant_id: "t1".into(),
            secret_sealed: current,
            legacy_plaintext: None,
            previous_sealed: previous,
        }
    }

    const CTX: SecretContext<'static> = SecretContext { tenant: "t1", webhook: "wh_1" };

    #[tokio::test]
    async fn a_signer_opens_each_secret_once_and_signs_with_both_during_a_rotation() {
        let keys = MemoryKeys::default();
        let (old, old_sealed) = new_secret(&keys, CTX, None).await.unwrap();
        let old = old.expect("a made secret is shown once");
        // The new one brought by the platform: sealed, not shown back.
        let new = generate_secret();
        let (shown, new_sealed) = new_secret(&keys, CTX, Some(new.clone())).await.unwrap();
        assert_eq!(shown, None, "a brought secret is not shown back");
        assert!(!old_sealed.contains(&old) && !old_sealed.contains(old.trim_start_matches("whsec_")));
        let signer = signer(&keys, &stored(Some(new_sealed.clone()), Some(old_sealed))).await.unwrap();
        assert_eq!((signer.key_count(), keys.decrypts.load(Ordering::Relaxed)), (2, 2));
        let header = signer.sign("m", 1, b"x");
        for secret in [&old, &new] {
            assert!(SigningKey::from_secret(secret).unwrap().verify("m", 1, b"x", &header));
        }
        let after_grace = super::signer(&keys, &stored(Some(new_sealed), None)).await.unwrap();
        assert_eq!(after_grace.key_count(), 1);
        assert!(!SigningKey::from_secret(&old).unwrap().verify("m", 1, b"x", &after_grace.sign("m", 1, b"x")));
    }

    #[tokio::test]
    async fn a_sealed_secret_moved_to_another_webhook_does_not_open() {
        let keys = MemoryKeys::default();
        let (_, sealed) = new_secret(&keys, CTX, None).await.unwrap();
        let mut moved = stored(Some(sealed), None);
        moved.webhook_id = "wh_2".into();
        let err = signer(&keys, &moved).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        let legacy = StoredSecrets { legacy_plaintext: Some(generate_secret()), ..stored(None, None) };
        assert_eq!(signer(&keys, &legacy).await.unwrap().key_count(), 1, "an unsealed row still signs");
        assert!(signer(&keys, &stored(None, None)).await.is_err(), "a wiped secret signs nothing");
    }
}
