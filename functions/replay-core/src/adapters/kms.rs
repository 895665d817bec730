//! The master key of webhook secrets on KMS (LocalStack's KMS locally):
//! GenerateDataKey and Decrypt with the tenant and webhook as encryption
//! context (docs/security.md, "Secrets at rest").

use crate::domain::sealed::{DataKey, SecretContext};
use crate::error::{Error, Result};
use crate::ports::KeyService;
use async_trait::async_trait;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use std::collections::HashMap;

pub struct KmsKeys {
    client: Client,
    key_id: String,
}

impl KmsKeys {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }
}

fn context_map(context: SecretContext<'_>) -> HashMap<String, String> {
    context.pairs().into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Throttling and outages are worth a retry; a wrong context or a disabled
/// key is not. The message is KMS's code and text: it never holds key material.
fn kms_error<E: ProvideErrorMetadata + std::fmt::Debug>(err: SdkError<E>) -> Error {
    let (code, message) = match err.as_service_error() {
        Some(e) => (e.code().unwrap_or("unknown").to_owned(), e.message().unwrap_or("").to_owned()),
        None => ("transport".to_owned(), format!("{err:?}")),
    };
    let retryable = matches!(
        code.as_str(),
        "transport" | "ThrottlingException" | "KMSInternalException" | "DependencyTimeoutException" | "unknown"
    );
    Error::Kms { message: format!("{code}: {message}"), retryable }
}

fn plaintext_key(bytes: Option<&Blob>) -> Result<DataKey> {
    let bytes = bytes.map(Blob::as_ref).unwrap_or_default();
    let key: [u8; 32] = bytes.try_into().map_err(|_| Error::Kms {
        message: format!("a data key of {} bytes, not 32", bytes.len()),
        retryable: false,
    })?;
    Ok(DataKey(key))
}

#[async_trait]
impl KeyService for KmsKeys {
    async fn data_key(&self, context: SecretContext<'_>) -> Result<(DataKey, Vec<u8>)> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(kms_error)?;
        let encrypted = out.ciphertext_blob().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        Ok((plaintext_key(out.plaintext())?, encrypted))
    }

    async fn decrypt_key(&self, encrypted: &[u8], context: SecretContext<'_>) -> Result<DataKey> {
        // Pinning the key id refuses a blob made under any other key.
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(encrypted))
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(kms_error)?;
        plaintext_key(out.plaintext())
    }
}
