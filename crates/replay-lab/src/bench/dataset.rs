//! Seeding: the whole log, its last-hour copy, the webhooks and their manifest.

use super::*;

/// Where seeding writes: the bench's settings and clients, the receiver the
/// webhooks point at, the whole log and its last-hour copy.
pub(super) struct SeedTargets<'a> {
    pub(super) base: &'a VecEnv,
    pub(super) aws: &'a aws_config::SdkConfig,
    pub(super) store: &'a MySqlStore,
    pub(super) pepper: &'a str,
    pub(super) receiver: &'a Receiver,
    pub(super) big: &'a KafkaConfig,
    pub(super) hour: &'a KafkaConfig,
}

pub(super) async fn seed(opts: &BenchOptions, targets: SeedTargets<'_>) -> Result<Dataset> {
    let SeedTargets { base, aws, store, pepper, receiver, big, hour } = targets;
    let api = ApiContext::connect(base.settings()?, aws).await?;
    let tenant = create_tenant(store, pepper, "bench").await?;
    let operator = Caller::operator(tenant.tenant_id.clone());
    let register = async |name: &str| -> Result<(WebhookId, String)> {
        let hook = api.create_webhook(&operator, CreateWebhookRequest::new(receiver.url(name))).await?;
        let secret = hook.secret.context("the service made no secret")?;
        receiver.register(name, &secret);
        Ok((hook.id, secret))
    };
    let (hot, hot_secret) = register("hot").await?;
    let (rare, _) = register("rare").await?;

    // Webhook ranks set the Zipf-like volume: `hot` first, `rare` last.
    let mut webhooks = vec![hot.as_str().to_owned()];
    webhooks.extend((2..opts.webhooks).map(|_| format!("wh_{}", uuid::Uuid::new_v4().simple())));
    webhooks.push(rare.as_str().to_owned());
    let now = chrono::Utc::now().timestamp_millis();
    let log_to = now - 60_000;
    let log_from = log_to - opts.days * 24 * HOUR;
    let hour_to = log_to / HOUR * HOUR;
    let hour_from = hour_to - HOUR;
    let plan = SeedPlan {
        events: opts.records,
        webhooks: webhooks.clone(),
        start_ms: log_from,
        end_ms: log_to,
        duplicate_rate: 0.01,
        malformed_rate: 0.001,
        payload_bytes: opts.payload_bytes,
        seed: 2026,
    };
    let manifest = plan_records(&plan)?;
    produce(big, &manifest.records).await?;
    let last_hour: Vec<_> =
        manifest.records.iter().filter(|r| r.timestamp >= hour_from && r.timestamp < hour_to).cloned().collect();
    produce(hour, &last_hour).await?;
    let bytes: usize = manifest.records.iter().map(|r| r.value.len() + r.webhook_id.len()).sum();
    let hot_id = hot.as_str();
    let sample_bodies = manifest
        .records
        .iter()
        .filter(|r| r.webhook_id == hot_id && r.kind == SeedKind::Event)
        .take(2_000)
        .map(|r| r.value.clone())
        .collect();
    let mut first_seen: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for r in manifest.records.iter().filter(|r| r.webhook_id == hot_id && r.kind != SeedKind::Malformed) {
        first_seen.entry(r.event_id.as_str()).or_insert(r.timestamp);
    }
    let mut hot_first_seen: Vec<(i64, String)> = first_seen.into_iter().map(|(id, ts)| (ts, id.to_owned())).collect();
    hot_first_seen.sort();
    Ok(Dataset {
        tenant: tenant.tenant_id,
        api_key: tenant.api_key,
        records: manifest.records.len(),
        hour_records: last_hour.len(),
        mean_record_bytes: bytes as f64 / manifest.records.len().max(1) as f64,
        hot_in_log: manifest.expected(hot_id, log_from, log_to + 1).len(),
        rare_in_log: manifest.expected(rare.as_str(), log_from, log_to + 1).len(),
        hot_in_day: manifest.expected(hot_id, hour_to - 24 * HOUR, hour_to).len(),
        hot_in_hour: manifest.expected(hot_id, hour_from, hour_to).len(),
        hot_in_hour_log: last_hour
            .iter()
            .filter(|r| r.webhook_id == hot_id && r.kind != SeedKind::Malformed)
            .map(|r| r.event_id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len(),
        sample_bodies,
        hot_first_seen,
        webhooks,
        hot,
        hot_secret,
        rare,
        log_from,
        log_to,
        hour_from,
        hour_to,
    })
}
