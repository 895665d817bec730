//! The HTTP API's use cases (docs/api.md), independent of Lambda types.

use super::lifecycle::Lifecycle;
use crate::adapters::dns::HostResolver;
use crate::adapters::mysql::{format_time, AuditEntry, MySqlStore, WebhookRow, OPERATOR};
use crate::config::Settings;
use crate::domain::apikey::{self, Caller, Scope};
use crate::domain::filter::{retry_selection, RETRY_IDS_INLINE};
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::estimated_seconds;
use crate::domain::job::Job;
use crate::domain::partitioner::partitions_over;
use crate::domain::sealed::SecretContext;
use crate::domain::webhook_url::UrlProblem;
use crate::domain::window::parse_rfc3339;
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::ledger::{Created, NewJob, NewSlice};
use crate::ports::{DeliveryLog, KeyService, SliceQueue};
use futures::stream::{self, StreamExt, TryStreamExt};
use replay_types::{CreateWebhookRequest, FailurePage, Selection, UpdateWebhookRequest, Webhook, WebhookCreated};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};

/// Clients built once per cold start (`crate::wiring`).
pub struct ApiContext {
    pub store: MySqlStore,
    pub queue: Box<dyn SliceQueue>,
    pub log: Box<dyn DeliveryLog>,
    pub resolver: HostResolver,
    /// Seals new webhooks' secrets.
    pub keys: Box<dyn KeyService>,
    pub settings: Settings,
}

/// A replay to create: the webhook, the window and what to select; a retry
/// names the job whose failures it delivers.
#[derive(Debug, Clone, Copy)]
pub struct NewReplay<'a> {
    pub webhook_id: &'a WebhookId,
    pub from: EventTime,
    pub to: EventTime,
    pub selection: &'a Selection,
    pub retry_of: Option<&'a JobId>,
    pub idempotency_key: Option<&'a str>,
}

impl<'a> NewReplay<'a> {
    /// A replay of the window, as a caller asks for it.
    pub fn window(webhook_id: &'a WebhookId, from: EventTime, to: EventTime, selection: &'a Selection) -> Self {
        Self { webhook_id, from, to, selection, retry_of: None, idempotency_key: None }
    }
}

fn webhook_of(row: WebhookRow) -> Webhook {
    Webhook { id: WebhookId(row.id), url: row.url, created_at: format_time(row.created_at) }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TenantCreated {
    pub tenant_id: TenantId,
    pub api_key: String,
}

/// Operator action (`replayctl tenant create`): a tenant and its first key.
pub async fn create_tenant(store: &MySqlStore, pepper: &str, name: &str) -> Result<TenantCreated> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidRequest("tenant name must be 1-200 characters".into()));
    }
    let tenant_id = TenantId::generate();
    store.insert_tenant(&tenant_id, name).await?;
    operator_audit(store, &tenant_id, "tenant.create", tenant_id.as_str(), Some(name)).await?;
    let api_key = create_api_key(store, pepper, &tenant_id, Scope::Full).await?;
    Ok(TenantCreated { tenant_id, api_key })
}

/// Operator action (`replayctl key create`): a key of the tenant with this scope.
pub async fn create_api_key(store: &MySqlStore, pepper: &str, tenant: &TenantId, scope: Scope) -> Result<String> {
    let key = apikey::generate(pepper);
    store.insert_api_key(&key.key_id, tenant, &key.hash, scope).await?;
    operator_audit(store, tenant, "key.create", &key.key_id, Some(scope.as_str())).await?;
    Ok(key.api_key)
}

/// Operator action (`replayctl key revoke`); false if no such unrevoked key.
pub async fn revoke_api_key(store: &MySqlStore, key_id: &str) -> Result<bool> {
    let Some(tenant) = store.revoke_api_key(key_id).await? else { return Ok(false) };
    operator_audit(store, &tenant, "key.revoke", key_id, None).await?;
    Ok(true)
}

/// An audit row for an operator action (replayctl).
pub async fn operator_audit(
    store: &MySqlStore,
    tenant: &TenantId,
    action: &str,
    target: &str,
    detail: Option<&str>,
) -> Result<()> {
    store.audit(&AuditEntry { tenant: Some(tenant), actor: OPERATOR, action, target: Some(target), detail }).await
}

/// Writes need a full key; a read-only one gets 403 (docs/security.md, "Keys").
fn writer(caller: &Caller) -> Result<&TenantId> {
    match caller.scope {
        Scope::Full => Ok(&caller.tenant),
        Scope::Read => Err(Error::Forbidden),
    }
}

/// The host of a webhook URL: what the audit trail records of it (a path or
/// query may carry the receiver's own token).
fn host_of(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// A limit: the tenant's override, else the default; 0 = none.
fn effective(override_: Option<u32>, default: u32) -> Option<u32> {
    Some(override_.unwrap_or(default)).filter(|&n| n > 0)
}

impl ApiContext {
    /// Counts the request against its tenant's requests per minute, shared by
    /// all the tenant's keys and every API instance (docs/security.md, "Fair
    /// shares"); 429 `tenant_rate_limited` beyond, until the minute ends.
    pub async fn admit(&self, caller: &Caller) -> Result<()> {
        let overrides = self.store.tenant_limits(&caller.tenant).await?;
        let Some(limit) = effective(overrides.requests_per_minute, self.settings.fair_share.requests_per_minute) else {
            return Ok(());
        };
        let now_s = chrono::Utc::now().timestamp();
        let count = self.store.count_request(&caller.tenant, now_s / 60).await?;
        if count > u64::from(limit) {
            let retry_after_s = (60 - now_s % 60) as u64;
            warn!(tenant = %caller.tenant, limit, "tenant over its API requests per minute");
            crate::telemetry::emit_metrics(
                &[("RequestsThrottled", "Count", 1.0)],
                serde_json::json!({"TenantId": caller.tenant}),
            );
            return Err(Error::TenantRateLimited { limit, retry_after_s });
        }
        Ok(())
    }

    /// Resolves `Authorization: Bearer <key>` to its tenant and scope.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller> {
        let key = authorization
            .and_then(|h| h.get(..7).filter(|scheme| scheme.eq_ignore_ascii_case("bearer ")).map(|_| h[7..].trim()))
            .ok_or(Error::Unauthorized)?;
        let key_id = apikey::key_id(key).ok_or(Error::Unauthorized)?;
        let (tenant, hash, scope) = self.store.api_key(key_id).await?.ok_or(Error::Unauthorized)?;
        if apikey::matches(self.settings.api_key_pepper.expose(), key, &hash) {
            Ok(Caller { tenant, key_id: key_id.to_owned(), scope })
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// An audit row for a write of this caller (after it succeeded).
    async fn audit(&self, caller: &Caller, action: &str, target: &str, detail: Option<&str>) -> Result<()> {
        self.store
            .audit(&AuditEntry {
                tenant: Some(&caller.tenant),
                actor: &caller.key_id,
                action,
                target: Some(target),
                detail,
            })
            .await
    }

    #[instrument(skip_all)]
    pub async fn create_webhook(&self, caller: &Caller, req: CreateWebhookRequest) -> Result<WebhookCreated> {
        let tenant = writer(caller)?;
        let url = self.checked_url(req.url.trim()).await?;
        let id = WebhookId::generate();
        let context = SecretContext { tenant: tenant.as_str(), webhook: id.as_str() };
        let (secret, sealed) = super::secrets::new_secret(self.keys.as_ref(), context).await?;
        let row = self.store.insert_webhook(tenant, &id, url.as_str(), &sealed).await?;
        info!(webhook_id = %id, "webhook created");
        self.audit(caller, "webhook.create", id.as_str(), Some(&host_of(&row.url))).await?;
        Ok(WebhookCreated {
            id: WebhookId(row.id),
            url: row.url,
            // Shown this once; only the sealed form is stored.
            secret,
            created_at: format_time(row.created_at),
        })
    }

    pub async fn get_webhook(&self, caller: &Caller, id: &WebhookId) -> Result<Webhook> {
        let row = self.store.webhook(&caller.tenant, id).await?.ok_or(Error::NotFound)?;
        Ok(webhook_of(row))
    }

    /// A new URL, checked as at creation; 409 while a job of the webhook is active.
    #[instrument(skip(self, caller, req))]
    pub async fn update_webhook(&self, caller: &Caller, id: &WebhookId, req: UpdateWebhookRequest) -> Result<Webhook> {
        let tenant = writer(caller)?;
        self.store.webhook(tenant, id).await?.ok_or(Error::NotFound)?;
        let url = self.checked_url(req.url.trim()).await?;
        let row = self.store.update_webhook_url(tenant, id, url.as_str()).await?;
        info!(webhook_id = %id, "webhook URL changed");
        self.audit(caller, "webhook.update", id.as_str(), Some(&host_of(&row.url))).await?;
        Ok(webhook_of(row))
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

    /// `POST /v1/webhooks/{id}/replays` (and the Twitter-compatible route):
    /// authorised and audited around `create_replay`.
    pub async fn start_replay(&self, caller: &Caller, ask: NewReplay<'_>) -> Result<Job> {
        let tenant = writer(caller)?;
        let (webhook_id, selection) = (ask.webhook_id, ask.selection);
        let job = self.create_replay(tenant, ask).await?;
        let detail = format!(
            "webhook {webhook_id}, {} to {}{}",
            job.from,
            job.to,
            if selection.dry_run { ", dry run" } else { "" }
        );
        self.audit(caller, "replay.create", job.job_id.as_str(), Some(&detail)).await?;
        Ok(job)
    }

    /// Validates the window, records the job and its slices in one
    /// transaction, then enqueues one message per slice. If the enqueue
    /// fails the job stays recorded and the sweeper enqueues it (outbox).
    #[instrument(skip(self, ask), fields(webhook_id = %ask.webhook_id))]
    pub async fn create_replay(&self, tenant: &TenantId, ask: NewReplay<'_>) -> Result<Job> {
        let NewReplay { webhook_id, from, to, selection, retry_of, idempotency_key } = ask;
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > 255 {
                return Err(Error::InvalidRequest("Idempotency-Key must be 1-255 characters".into()));
            }
        }
        self.store.webhook(tenant, webhook_id).await?.ok_or(Error::NotFound)?;
        // The same key may only repeat the same request: window and selection.
        let selection_json = if selection.is_everything() {
            String::new()
        } else {
            serde_json::to_string(selection).map_err(|e| Error::Internal(e.to_string()))?
        };
        let request_hash: [u8; 32] =
            Sha256::digest(format!("{}|{}|{}|{selection_json}", webhook_id, from.0, to.0)).into();
        // A retried request gets its job back, even after the window rules would now refuse it.
        if let Some(key) = idempotency_key {
            if let Some((id, hash)) = self.store.job_by_idempotency_key(tenant, webhook_id, key).await? {
                if hash.as_deref() != Some(&request_hash[..]) {
                    return Err(Error::InvalidRequest(
                        "Idempotency-Key was already used with a different request".into(),
                    ));
                }
                let job = self.store.job_view(Some(tenant), &id).await?.ok_or(Error::NotFound)?;
                return Ok(self.with_estimate(job));
            }
        }
        let window =
            Window::validate(from, to, EventTime::now(), self.settings.retention_hours, self.settings.settle_ms)?;
        let limit = self.settings.rate_limit_replays;
        if limit > 0 {
            let (recent, wait_s) = self.store.recent_jobs(webhook_id, self.settings.rate_limit_window_s).await?;
            if recent >= limit {
                return Err(Error::RateLimited { retry_after_s: wait_s });
            }
        }
        let partitions = self.partitions_for(webhook_id, &window).await?;
        self.check_retained(&partitions, window.from).await?;
        let slices = self.plan_slices(&partitions, &window).await?;
        let job_id = JobId::generate();
        let created = self
            .lifecycle()
            .create_job(NewJob {
                id: &job_id,
                tenant_id: tenant,
                webhook_id,
                from: window.from,
                to: window.to,
                partitions: &partitions,
                slices: &slices,
                idempotency_key,
                request_hash,
                selection: Some(selection),
                retry_of,
                max_active_jobs: effective(
                    self.store.tenant_limits(tenant).await?.max_active_jobs,
                    self.settings.fair_share.max_active_jobs,
                ),
            })
            .await?;
        let view = match created {
            Created::Existing(view) => return Ok(self.with_estimate(view)),
            Created::New(view) => view,
        };
        // The first slices start now; each one that ends starts the next. If
        // the enqueue fails the job stays recorded and the sweeper enqueues it.
        if let Err(e) = self.lifecycle().start_job(&job_id).await {
            warn!(error = %e, "enqueue failed; the sweeper will enqueue the job");
        }
        info!(%job_id, ?partitions, slices = slices.len(), "replay job created");
        crate::telemetry::emit_metrics(
            &[("JobsCreated", "Count", 1.0), ("SlicesPlanned", "Count", slices.len() as f64)],
            serde_json::json!({"TenantId": tenant}),
        );
        Ok(view)
    }

    fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            ledger: &self.store,
            queue: self.queue.as_ref(),
            max_parallel_slices: self.settings.max_parallel_slices,
        }
    }

    /// Every partition the webhook's key lived in during the window (and its
    /// look-back and skew margins): more than one when the topic gained
    /// partitions meanwhile.
    async fn partitions_for(&self, webhook_id: &WebhookId, window: &Window) -> Result<Vec<u32>> {
        let topic = &self.settings.kafka.topic;
        let current = self.log.partition_count().await?;
        self.store.record_partition_count(topic, current).await?;
        let history = self.store.partition_history(topic).await?;
        let w = &self.settings.worker;
        let from = window.from.0 - w.dedup_lookback_ms - w.skew_ms;
        let to = window.to.0 + w.skew_ms;
        let margin = self.settings.partition_change_margin_ms;
        Ok(partitions_over(webhook_id.as_str().as_bytes(), &history, current, from, to, margin))
    }

    /// Refuses a window that starts before the oldest record retention left
    /// on a partition: its events would be silently missing.
    async fn check_retained(&self, partitions: &[u32], from: EventTime) -> Result<()> {
        for &p in partitions {
            let (low, _) = self.log.watermarks(p).await?;
            if low == 0 {
                continue; // nothing was ever deleted
            }
            match self.log.oldest_timestamp(p).await? {
                Some(oldest) if from.0 >= oldest => {}
                Some(oldest) => {
                    return Err(Error::RangeExpired(format!(
                        "`from` is before the oldest record the delivery log still retains ({}): events before it \
                         were deleted by retention",
                        EventTime(oldest)
                    )))
                }
                None => {
                    return Err(Error::RangeExpired(
                        "the delivery log retains no record of this webhook's partition any more".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The window's slices, each with the offsets of its start and end on
    /// every partition now: every boundary is looked up once and shared by the
    /// two slices it separates.
    async fn plan_slices(&self, partitions: &[u32], window: &Window) -> Result<Vec<NewSlice>> {
        let windows = window.slices(self.settings.slice_ms);
        let mut boundaries: Vec<i64> = windows.iter().map(|w| w.from.0).collect();
        boundaries.push(window.to.0);
        let lookups: Vec<(u32, i64)> =
            partitions.iter().flat_map(|&p| boundaries.iter().map(move |&b| (p, b))).collect();
        let log = self.log.as_ref();
        let offsets: Vec<i64> = stream::iter(lookups.into_iter().map(move |(p, b)| log.offset_for_time(p, b)))
            .buffered(8)
            .try_collect()
            .await?;
        let at = |pi: usize, bi: usize| offsets[pi * boundaries.len() + bi];
        Ok(windows
            .iter()
            .enumerate()
            .map(|(i, w)| NewSlice {
                from: w.from,
                to: w.to,
                planned: partitions.iter().enumerate().map(|(pi, &p)| (p, at(pi, i), at(pi, i + 1))).collect(),
            })
            .collect())
    }

    pub async fn get_job(&self, caller: &Caller, job_id: &JobId) -> Result<Job> {
        Ok(self.with_estimate(self.store.job_view(Some(&caller.tenant), job_id).await?.ok_or(Error::NotFound)?))
    }

    pub async fn list_jobs(&self, caller: &Caller, webhook_id: &WebhookId) -> Result<Vec<Job>> {
        let tenant = &caller.tenant;
        self.store.webhook(tenant, webhook_id).await?.ok_or(Error::NotFound)?;
        Ok(self.store.list_jobs(tenant, webhook_id, 100).await?.into_iter().map(|j| self.with_estimate(j)).collect())
    }

    pub async fn cancel_job(&self, caller: &Caller, job_id: &JobId) -> Result<Job> {
        let job = self.with_estimate(self.lifecycle().cancel(writer(caller)?, job_id).await?);
        self.audit(caller, "replay.cancel", job_id.as_str(), Some(job.state.as_str())).await?;
        Ok(job)
    }

    /// A dry run's duration estimate, at this deployment's caps.
    fn with_estimate(&self, job: Job) -> Job {
        with_estimate(job, &self.settings)
    }

    /// A new job delivering exactly the failed events of an ended job, over
    /// the same webhook and window.
    #[instrument(skip(self))]
    pub async fn retry_failures(&self, caller: &Caller, job_id: &JobId, idempotency_key: Option<&str>) -> Result<Job> {
        let tenant = writer(caller)?;
        let job = self.store.job_view(Some(tenant), job_id).await?.ok_or(Error::NotFound)?;
        if !job.state.is_terminal() {
            return Err(Error::JobNotEnded(job_id.to_string()));
        }
        let failures = self.store.failure_count(job_id).await?;
        if failures == 0 {
            return Err(Error::NothingToRetry(job_id.to_string()));
        }
        let inline =
            if failures <= RETRY_IDS_INLINE as u64 { Some(self.store.failed_event_ids(job_id).await?) } else { None };
        let from = parse_rfc3339("from", &job.from)?;
        let to = parse_rfc3339("to", &job.to)?;
        let selection = retry_selection(job_id, inline);
        let ask = NewReplay {
            webhook_id: &job.webhook_id,
            from,
            to,
            selection: &selection,
            retry_of: Some(job_id),
            idempotency_key,
        };
        let retry = self.create_replay(tenant, ask).await?;
        self.audit(caller, "replay.retry", retry.job_id.as_str(), Some(&format!("the failures of {job_id}"))).await?;
        Ok(retry)
    }

    /// A page of a job's failure list, in event id order.
    pub async fn failures(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<FailurePage> {
        self.store.job_view(Some(tenant), job_id).await?.ok_or(Error::NotFound)?;
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, MAX_FAILURES_PER_PAGE);
        let mut failures = self.store.failure_page(job_id, after.as_deref(), limit + 1).await?;
        let next_cursor = if failures.len() > limit as usize {
            failures.truncate(limit as usize);
            failures.last().map(|f| encode_cursor(&f.event_id))
        } else {
            None
        };
        Ok(FailurePage { failures, next_cursor })
    }
}

/// Largest page of `GET /v1/replays/{id}/failures`.
pub const MAX_FAILURES_PER_PAGE: u32 = 1_000;

/// Bytes of lines one NDJSON answer of the failure list carries at most,
/// counted as escaped into Lambda's JSON envelope (a quote takes two bytes
/// there, more inside a string the line already escaped): Lambda refuses a
/// response over 6 MB, so a third stays free.
pub const MAX_FAILURES_NDJSON_BYTES: usize = 4 * 1024 * 1024;

/// One NDJSON answer of the failure list, and where the next one starts.
#[derive(Debug)]
pub struct FailureLines {
    pub text: String,
    /// Set when the list goes on past this answer's bytes.
    pub next_cursor: Option<String>,
}

/// Appends `failures` as JSON lines while `text`, escaped into a JSON
/// string, stays within `max_bytes` (the first line of an answer always goes
/// in); how many went in.
pub fn append_lines(text: &mut String, failures: &[replay_types::Failure], max_bytes: usize) -> Result<usize> {
    let escaped_len = |s: &str| serde_json::to_string(s).map(|j| j.len() - 2).unwrap_or(usize::MAX);
    let mut size = escaped_len(text);
    for (n, failure) in failures.iter().enumerate() {
        let line = serde_json::to_string(failure).map_err(|e| Error::Internal(e.to_string()))?;
        // The line, and its newline as `\n`.
        let line_size = escaped_len(&line) + 2;
        if !text.is_empty() && size + line_size > max_bytes {
            return Ok(n);
        }
        text.push_str(&line);
        text.push('\n');
        size += line_size;
    }
    Ok(failures.len())
}

impl ApiContext {
    /// The failure list as NDJSON from `cursor` on, as much as one answer
    /// may carry ([`MAX_FAILURES_NDJSON_BYTES`]); `next_cursor` goes on.
    pub async fn failure_lines(&self, tenant: &TenantId, job_id: &JobId, cursor: Option<&str>) -> Result<FailureLines> {
        self.store.job_view(Some(tenant), job_id).await?.ok_or(Error::NotFound)?;
        let mut after = cursor.map(decode_cursor).transpose()?;
        let mut text = String::new();
        loop {
            let page = self.store.failure_page(job_id, after.as_deref(), MAX_FAILURES_PER_PAGE).await?;
            let appended = append_lines(&mut text, &page, MAX_FAILURES_NDJSON_BYTES)?;
            if let Some(last) = page[..appended].last() {
                after = Some(last.event_id.clone());
            }
            if appended < page.len() {
                return Ok(FailureLines { text, next_cursor: after.as_deref().map(encode_cursor) });
            }
            if page.len() < MAX_FAILURES_PER_PAGE as usize {
                return Ok(FailureLines { text, next_cursor: None });
            }
        }
    }
}

/// Cursors are opaque to clients: base64url of the last event id of a page.
fn encode_cursor(event_id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(event_id)
}

fn decode_cursor(cursor: &str) -> Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|id| crate::domain::record::is_valid_event_id(id))
        .ok_or(Error::InvalidCursor)
}

/// Fills a dry run's duration estimate from the deployment's caps.
pub fn with_estimate(mut job: Job, settings: &Settings) -> Job {
    if let Some(dry) = job.result.as_mut().and_then(|r| r.dry_run.as_mut()) {
        dry.estimated_seconds = estimated_seconds(
            job.progress.counters.events_selected,
            settings.max_parallel_slices,
            settings.worker.delivery_rate_per_second,
            settings.delivery.concurrency,
        );
    }
    job
}

impl ApiContext {
    /// A webhook URL checked against the outbound policy: its form, and
    /// every address its host resolves to now (again at each delivery).
    async fn checked_url(&self, raw: &str) -> Result<url::Url> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(i: usize) -> replay_types::Failure {
        replay_types::Failure {
            event_id: format!("ev_{i:05}"),
            event_type: Some("tweet_create_events".into()),
            attempts: 5,
            last_status: Some(503),
            last_error: "HTTP 503".repeat(10),
            at: "2026-11-24T09:16:02.114Z".into(),
        }
    }

    #[test]
    fn an_ndjson_answer_stays_within_its_bytes_and_says_where_it_stopped() {
        let failures: Vec<_> = (0..100).map(failure).collect();
        let escaped = |s: &str| serde_json::to_string(s).unwrap().len() - 2;
        let line = escaped(&serde_json::to_string(&failures[0]).unwrap()) + 2;
        let mut text = String::new();
        let n = append_lines(&mut text, &failures, 10 * line + line / 2).unwrap();
        assert_eq!(n, 10, "as many whole lines as fit");
        assert!(escaped(&text) <= 10 * line + line / 2, "bounded as escaped into the envelope");
        assert_eq!(text.lines().count(), 10);
        // Quotes count twice over: the bound is on the escaped size.
        let quoted: Vec<_> =
            (0..100).map(|i| replay_types::Failure { event_type: Some("\"".repeat(200)), ..failure(i) }).collect();
        let mut text = String::new();
        append_lines(&mut text, &quoted, 20_000).unwrap();
        assert!(escaped(&text) <= 20_000, "{} escaped bytes", escaped(&text));
        let first: replay_types::Failure = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first.event_id, "ev_00000");
        // The first line of an answer always goes in, however small the bound.
        let mut text = String::new();
        assert_eq!(append_lines(&mut text, &failures, 1).unwrap(), 1);
        assert_eq!(append_lines(&mut text, &failures[1..], 1).unwrap(), 0);
    }
}
