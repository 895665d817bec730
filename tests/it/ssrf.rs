//! Where webhooks may point, with the real policy on (the local stack's
//! allow-list admits only its receivers' loopback ports): the address table
//! of domain/webhook_url.rs at registration and at delivery, ports, and a
//! host whose DNS answer changes between registration and delivery (the
//! tests' own DNS server).

use anyhow::Context;
use replay_core::domain::webhook_url::ADDRESS_TABLE;
use replay_core::services::api::create_tenant;
use replay_integration_tests::dns::DnsServer;
use replay_integration_tests::replay_client::{JobState, WebhookId};
use replay_integration_tests::replay_lab::receiver::Receiver;
use replay_integration_tests::replay_lab::seed::SeedKind;
use replay_integration_tests::*;
use reqwest::Method;
use serde_json::json;
use std::net::Ipv4Addr;
use std::time::Duration;

fn url_of(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("https://[{ip}]:{port}/hook")
    } else {
        format!("https://{ip}:{port}/hook")
    }
}

async fn point_at(stack: &TestStack, webhook: &WebhookId, url: &str) -> anyhow::Result<()> {
    // Behind the API's back, as if the name had moved: delivery must check again.
    sqlx::query("UPDATE webhooks SET url = ? WHERE id = ?")
        .bind(url)
        .bind(webhook.as_str())
        .execute(stack.store.pool())
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_address_table_at_registration_and_at_delivery() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.set("DELIVERY_MAX_ATTEMPTS", "3");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);

    // Registration: every refused address (and port) is a 400; the allowed
    // ones pass (nothing connects at registration).
    for (ip, allowed) in ADDRESS_TABLE {
        let r = api.raw(Method::POST, "/v1/webhooks", Some(&json!({"url": url_of(ip, 443)})), &[]).await?;
        let expected = if *allowed { 201 } else { 400 };
        assert_eq!(r.status, expected, "{ip}: {}", r.body);
        if !allowed {
            assert_eq!(r.error_code(), Some("invalid_request"), "{ip}");
        }
    }
    for (url, status) in [
        ("https://93.184.216.34:8443/hook", 400),
        ("http://93.184.216.34/hook", 201),
        ("https://127.0.0.1:38500/hook", 201),
        ("https://127.0.0.1:22/hook", 400),
        ("https://127.0.0.2:38500/hook", 400),
        ("https://localhost:22/hook", 400),
        ("ftp://93.184.216.34/hook", 400),
    ] {
        let r = api.raw(Method::POST, "/v1/webhooks", Some(&json!({ "url": url })), &[]).await?;
        assert_eq!(r.status, status, "{url}: {}", r.body);
    }

    // Delivery: webhooks registered on an allowed address, then pointed at
    // each refused one; one event each, all jobs at once.
    let receiver = Receiver::start(0).await?;
    let from = (now_ms() - 5 * HOUR) / HOUR * HOUR;
    let mut cases = Vec::new();
    let mut records = Vec::new();
    for (i, (ip, _)) in ADDRESS_TABLE.iter().filter(|(_, allowed)| !allowed).enumerate() {
        let hook = webhook_to(&api, &receiver, &format!("h{i}")).await?;
        records.push(record(from + i as i64 * 1_000, &hook, &format!("ev-{i}"), SeedKind::Event));
        cases.push((ip.to_string(), hook));
    }
    stack.produce(&records).await?;
    let mut jobs = Vec::new();
    for (ip, hook) in &cases {
        point_at(&stack, hook, &url_of(ip, 443)).await?;
        jobs.push((ip.clone(), start(&api, hook, from, from + HOUR).await?));
    }
    for (ip, job) in jobs {
        let done = stack.wait_for_end(&api, &job, Duration::from_secs(90)).await?;
        assert_eq!(done.state, JobState::Incomplete, "{ip}: {done:?}");
        assert_eq!(done.progress.counters.delivery_failures, 1, "{ip}");
        let failures = api.all_failures(&job).await?;
        assert_eq!(failures.len(), 1, "{ip}");
        assert_eq!(failures[0].attempts, 1, "{ip}: refused at once, not retried");
        assert!(failures[0].last_error.contains("refused by the outbound policy"), "{ip}: {}", failures[0].last_error);
    }
    assert_eq!(receiver.stats("h0").requests, 0);
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_name_that_moves_inside_after_registration_is_refused_at_delivery() -> anyhow::Result<()> {
    let dns = DnsServer::start(Ipv4Addr::LOCALHOST).await?;
    let mut stack = TestStack::new(1).await?;
    stack.set("WEBHOOK_DNS_SERVER", &dns.addr.to_string()).set("DELIVERY_MAX_ATTEMPTS", "2");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let receiver = Receiver::start(0).await?;
    let port = receiver.addr.map(|a| a.port()).unwrap_or_default();

    // A name that answers an internal address is refused, and the answer
    // names the address's class, never the address (docs/security.md).
    dns.set_answer(Ipv4Addr::new(10, 20, 30, 40));
    let refused =
        api.raw(Method::POST, "/v1/webhooks", Some(&json!({"url": "https://hooks.inside.test/x"})), &[]).await?;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let body = refused.body.to_string();
    assert!(body.contains("a private address") && !body.contains("10.20.30.40"), "{body}");
    dns.set_answer(Ipv4Addr::LOCALHOST);

    // Registration: the name resolves to the receiver's allowed loopback port.
    let url = format!("http://hooks.rebind.test:{port}/hooks/me");
    let hook = api.create_webhook(&url).await?;
    receiver.register("me", hook.secret.as_deref().context("a made secret is shown once")?);
    assert!(dns.queries() > 0, "the API asked the tests' DNS server");
    let from = (now_ms() - 5 * HOUR) / HOUR * HOUR;
    let records: Vec<_> =
        (0..20).map(|i| record(from + i * 60_000, &hook.id, &format!("ev-{i}"), SeedKind::Event)).collect();
    stack.produce(&records).await?;

    // Delivery: the same name now answers an internal address.
    dns.set_answer(Ipv4Addr::new(169, 254, 169, 254));
    let job = start(&api, &hook.id, from, from + HOUR).await?;
    let done = stack.wait_for_end(&api, &job, Duration::from_secs(90)).await?;
    assert_eq!(done.state, JobState::Incomplete, "{done:?}");
    assert_eq!(done.progress.counters.delivery_failures, 20);
    assert_eq!(receiver.stats("me").requests, 0, "nothing reached anything");
    let failures = api.all_failures(&job).await?;
    // The failure list names the host and the address's class: neither the
    // address nor the URL's path leaves the server.
    assert!(
        failures.iter().all(|f| f.last_error.contains("hooks.rebind.test resolves to a link-local address")
            && !f.last_error.contains("169.254")
            && !f.last_error.contains("/hooks/me")),
        "{failures:?}"
    );

    // The name back on the allowed address: the retry delivers them.
    dns.set_answer(Ipv4Addr::LOCALHOST);
    let retry = api.retry(&job).await?;
    let done = stack.wait_for_end(&api, &retry.job_id, Duration::from_secs(90)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(receiver.stats("me").unique(), 20);
    stack.cleanup().await;
    Ok(())
}
