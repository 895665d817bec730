//! A tenant's webhooks: created with a sealed secret, their URLs checked
//! against the outbound policy (docs/api.md, "Register a webhook").

use super::{host_of, writer, ApiContext};
use crate::domain::apikey::Caller;
use crate::domain::ids::{platform_webhook_id, WebhookId};
use crate::domain::sealed::SecretContext;
use crate::domain::signing::imported_secret;
use crate::domain::webhook_url::UrlProblem;
use crate::error::{Error, Result};
use crate::services::secrets::{new_secret, rotate_secret};
use replay_types::{CreateWebhookRequest, UpdateWebhookRequest, Webhook, WebhookCreated, WebhookList};
use std::time::Duration;
use tracing::{info, instrument};

/// How long a replaced secret keeps signing beside the new one, by default
/// and at most (docs/api.md, "Change or delete a webhook").
const DEFAULT_SECRET_GRACE: Duration = Duration::from_secs(86_400);
const MAX_SECRET_GRACE: Duration = Duration::from_secs(7 * 86_400);

/// Largest page of `GET /v1/webhooks`.
pub const MAX_LIST_PAGE: u32 = 1_000;

fn invalid(message: &str) -> Error {
    Error::InvalidRequest(message.to_owned())
}

impl ApiContext {
    /// A new webhook: the platform's own id and secret when it brings them
    /// (a secret it brought is never shown back), or new ones.
    #[instrument(skip_all)]
    pub async fn create_webhook(&self, caller: &Caller, req: CreateWebhookRequest) -> Result<WebhookCreated> {
        let tenant = writer(caller)?;
        let id = match req.id.as_deref() {
            Some(raw) => platform_webhook_id(raw).map_err(Error::InvalidRequest)?,
            None => WebhookId::generate(),
        };
        let brought =
            imported_secret(req.secret.as_deref(), req.secret_raw.as_deref()).map_err(Error::InvalidRequest)?;
        let url = self.checked_url(req.url.trim()).await?;
        let context = SecretContext { tenant: tenant.as_str(), webhook: id.as_str() };
        let (secret, sealed) = new_secret(self.keys.as_ref(), context, brought).await?;
        let webhook = self.store.insert_webhook(tenant, &id, url.as_str(), &sealed).await?;
        info!(webhook_id = %id, own_id = req.id.is_some(), own_secret = secret.is_none(), "webhook created");
        self.audit(caller, "webhook.create", id.as_str(), Some(&host_of(&webhook.url))).await?;
        // A secret made here is shown this once; only the sealed form is stored.
        Ok(WebhookCreated { id: webhook.id, url: webhook.url, secret, created_at: webhook.created_at })
    }

    pub async fn get_webhook(&self, caller: &Caller, id: &WebhookId) -> Result<Webhook> {
        self.store.webhook(&caller.tenant, id).await?.ok_or(Error::NotFound)
    }

    /// A page of the tenant's webhooks in id order, from `cursor` on.
    pub async fn list_webhooks(&self, caller: &Caller, cursor: Option<&str>, limit: u32) -> Result<WebhookList> {
        let is_id = |id: &str| platform_webhook_id(id).is_ok();
        let after = cursor.map(|c| super::cursor::decode(c, is_id)).transpose()?;
        let limit = limit.clamp(1, MAX_LIST_PAGE);
        let mut webhooks = self.store.list_webhooks(&caller.tenant, after.as_deref(), limit + 1).await?;
        let next_cursor = if webhooks.len() > limit as usize {
            webhooks.truncate(limit as usize);
            webhooks.last().map(|w| super::cursor::encode(w.id.as_str()))
        } else {
            None
        };
        Ok(WebhookList { webhooks, next_cursor })
    }

    /// A new URL, checked as at creation (409 while a job of the webhook is
    /// active), a new secret the platform brings (the current one signs
    /// beside it for the grace period), or both; everything is checked
    /// before anything changes.
    #[instrument(skip(self, caller, req))]
    pub async fn update_webhook(&self, caller: &Caller, id: &WebhookId, req: UpdateWebhookRequest) -> Result<Webhook> {
        let tenant = writer(caller)?;
        let current = self.store.webhook(tenant, id).await?.ok_or(Error::NotFound)?;
        let brought =
            imported_secret(req.secret.as_deref(), req.secret_raw.as_deref()).map_err(Error::InvalidRequest)?;
        let grace = match (&brought, req.secret_grace_seconds) {
            (None, Some(_)) => return Err(invalid("`secret_grace_seconds` goes with a new `secret` or `secret_raw`")),
            (_, Some(s)) if s > MAX_SECRET_GRACE.as_secs() => {
                return Err(invalid(&format!("`secret_grace_seconds` is at most {}", MAX_SECRET_GRACE.as_secs())))
            }
            (_, seconds) => seconds.map_or(DEFAULT_SECRET_GRACE, Duration::from_secs),
        };
        let url = match req.url.as_deref() {
            Some(raw) => Some(self.checked_url(raw.trim()).await?),
            None if brought.is_none() => {
                return Err(invalid("send a new `url`, a new `secret` or `secret_raw`, or both"))
            }
            None => None,
        };
        let mut webhook = None;
        if let Some(url) = url {
            let changed = self.store.update_webhook_url(tenant, id, url.as_str()).await?;
            info!(webhook_id = %id, "webhook URL changed");
            self.audit(caller, "webhook.update", id.as_str(), Some(&host_of(&changed.url))).await?;
            webhook = Some(changed);
        }
        if let Some(secret) = brought {
            rotate_secret(self.store.as_ref(), self.keys.as_ref(), id, Some(secret), grace).await?;
            let detail = format!("grace {} s", grace.as_secs());
            self.audit(caller, "webhook.rotate_secret", id.as_str(), Some(&detail)).await?;
        }
        // A new secret changes nothing the webhook's view shows.
        Ok(webhook.unwrap_or(current))
    }

    /// Gone for the API, its secret wiped, its jobs still readable; 409
    /// while one of them is active.
    #[instrument(skip(self, caller))]
    pub async fn delete_webhook(&self, caller: &Caller, id: &WebhookId) -> Result<()> {
        let tenant = writer(caller)?;
        self.store.delete_webhook(tenant, id).await?;
        info!(webhook_id = %id, "webhook deleted");
        self.audit(caller, "webhook.delete", id.as_str(), None).await
    }

    /// A webhook URL checked against the outbound policy: its form, and
    /// every address its host resolves to now (again at each delivery).
    pub(super) async fn checked_url(&self, raw: &str) -> Result<url::Url> {
        let policy = &self.settings.url_policy;
        let url = policy.check_form(raw).map_err(url_error)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let addrs =
            self.resolver.resolve(&host).await.map_err(|e| Error::InvalidRequest(format!("`url` host: {e}")))?;
        policy.check_addresses(&url, &addrs).map_err(url_error)?;
        Ok(url)
    }
}

fn url_error(p: UrlProblem) -> Error {
    Error::InvalidRequest(p.message().to_owned())
}
