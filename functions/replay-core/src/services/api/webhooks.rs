//! A tenant's webhooks: created with a sealed secret, their URLs checked
//! against the outbound policy (docs/api.md, "Register a webhook").

use super::{host_of, writer, ApiContext};
use crate::domain::apikey::Caller;
use crate::domain::ids::WebhookId;
use crate::domain::sealed::SecretContext;
use crate::domain::webhook_url::UrlProblem;
use crate::error::{Error, Result};
use replay_types::{CreateWebhookRequest, UpdateWebhookRequest, Webhook, WebhookCreated};
use tracing::{info, instrument};

impl ApiContext {
    #[instrument(skip_all)]
    pub async fn create_webhook(&self, caller: &Caller, req: CreateWebhookRequest) -> Result<WebhookCreated> {
        let tenant = writer(caller)?;
        let url = self.checked_url(req.url.trim()).await?;
        let id = WebhookId::generate();
        let context = SecretContext { tenant: tenant.as_str(), webhook: id.as_str() };
        let (secret, sealed) = crate::services::secrets::new_secret(self.keys.as_ref(), context).await?;
        let webhook = self.store.insert_webhook(tenant, &id, url.as_str(), &sealed).await?;
        info!(webhook_id = %id, "webhook created");
        self.audit(caller, "webhook.create", id.as_str(), Some(&host_of(&webhook.url))).await?;
        // The secret is shown this once; only the sealed form is stored.
        Ok(WebhookCreated { id: webhook.id, url: webhook.url, secret, created_at: webhook.created_at })
    }

    pub async fn get_webhook(&self, caller: &Caller, id: &WebhookId) -> Result<Webhook> {
        self.store.webhook(&caller.tenant, id).await?.ok_or(Error::NotFound)
    }

    /// A new URL, checked as at creation; 409 while a job of the webhook is active.
    #[instrument(skip(self, caller, req))]
    pub async fn update_webhook(&self, caller: &Caller, id: &WebhookId, req: UpdateWebhookRequest) -> Result<Webhook> {
        let tenant = writer(caller)?;
        self.store.webhook(tenant, id).await?.ok_or(Error::NotFound)?;
        let url = self.checked_url(req.url.trim()).await?;
        let webhook = self.store.update_webhook_url(tenant, id, url.as_str()).await?;
        info!(webhook_id = %id, "webhook URL changed");
        self.audit(caller, "webhook.update", id.as_str(), Some(&host_of(&webhook.url))).await?;
        Ok(webhook)
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
