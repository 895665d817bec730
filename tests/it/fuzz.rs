//! Schema-driven fuzzing of the HTTP API (issue 4): random requests built
//! from docs/openapi.json, the generated document (valid, mutated and garbage), sent to the API
//! function binary. Every answer must be documented for its operation, never
//! a 5xx, and its body must match the documented schema. Bounded: a fixed
//! number of examples; the seed is printed so a failure can be replayed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use replay_core::services::api::create_tenant;
use replay_integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const EXAMPLES: usize = 300;

fn is_type(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// Validates `value` against an OpenAPI 3.1 schema (the subset the generated
/// document uses: `$ref`, `allOf`/`oneOf`, `type` names and lists, `enum`,
/// `required`, `properties`, `items`, `minimum`).
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r.trim_start_matches("#/").split('/').fold(doc, |node, key| &node[key]);
        return validate(doc, target, value, at);
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        validate(doc, part, value, at)?;
    }
    if let Some(options) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        if !options.iter().any(|o| validate(doc, o, value, at).is_ok()) {
            return Err(format!("{at}: {value} matches none of {options:?}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!("{at}: {value} not in {options:?}"));
        }
    }
    let ok = match schema.get("type") {
        Some(Value::String(name)) => is_type(name, value),
        Some(Value::Array(names)) => names.iter().any(|n| is_type(n.as_str().unwrap_or_default(), value)),
        _ => true,
    };
    if !ok {
        return Err(format!("{at}: {value} is not {}", schema["type"]));
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_i64) {
        if value.as_i64().is_some_and(|v| v < min) {
            return Err(format!("{at}: {value} < {min}"));
        }
    }
    if let (Some(pattern), Some(s)) = (schema.get("pattern").and_then(Value::as_str), value.as_str()) {
        // The document's patterns are anchored character classes; check the
        // ones it uses with a tiny matcher for the common forms.
        if pattern.starts_with("^whsec_") && !s.starts_with("whsec_") {
            return Err(format!("{at}: {s} does not match {pattern}"));
        }
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !obj.contains_key(name) {
                return Err(format!("{at}: missing `{name}`"));
            }
        }
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => validate(doc, sub, v, &format!("{at}.{k}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: undocumented field `{k}`"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            validate(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn random_string(rng: &mut StdRng) -> String {
    let samples = ["", "x", "wh_", "../../etc", "%00", "ünïcode", "' OR 1=1 --", "a b", "9999999999999"];
    let mut s = pick(rng, &samples).to_string();
    if rng.gen_bool(0.3) {
        s.push_str(&"z".repeat(rng.gen_range(1..300)));
    }
    s
}

/// Header values stay visible ASCII (RFC 9110): the local emulator cannot
/// even encode other bytes into a Lambda event, so they never reach the function.
fn random_header(rng: &mut StdRng) -> String {
    random_string(rng).chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect()
}

fn random_date(rng: &mut StdRng, now: i64) -> Value {
    match rng.gen_range(0..6) {
        0 => json!(rfc3339(now - rng.gen_range(0..200) * HOUR)),
        1 => json!(rfc3339(now + rng.gen_range(1..50) * HOUR)),
        2 => json!(random_string(rng)),
        3 => json!(rng.gen::<i32>()),
        4 => Value::Null,
        _ => json!("2026-02-30T25:61:00Z"),
    }
}

fn random_twelve(rng: &mut StdRng, now: i64) -> String {
    match rng.gen_range(0..4) {
        0 => chrono::DateTime::from_timestamp_millis(now - rng.gen_range(1..150) * HOUR)
            .unwrap_or_default()
            .format("%Y%m%d%H%M")
            .to_string(),
        1 => format!("{:012}", rng.gen::<u64>() % 1_000_000_000_000),
        2 => random_string(rng),
        _ => "202611011299".into(),
    }
}

#[tokio::test]
async fn random_requests_get_documented_answers() -> anyhow::Result<()> {
    let doc: Value = serde_json::from_str(include_str!("../../docs/openapi.json"))?;
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("fuzz seed {seed} (FUZZ_SEED={seed} to replay)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stack = TestStack::new(1).await?;
    // No slice is worked on: the job stays active for the whole run.
    stack.set("RATE_LIMIT_REPLAYS", "3").parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "fuzz").await?;
    let api = stack.api(&tenant.api_key).with_timeout(Duration::from_secs(30));
    let webhook_id = api.create_webhook("http://127.0.0.1:38999/hook").await?.id.to_string();
    let now = now_ms();
    let job_id = start(&api, &webhook_id.as_str().into(), now - 3 * HOUR, now - 2 * HOUR).await?.to_string();

    let mut operations = Vec::new();
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in ops.as_object().into_iter().flatten() {
            if ["get", "post", "delete", "put", "patch"].contains(&method.as_str()) {
                operations.push((path.clone(), method.to_uppercase(), op.clone()));
            }
        }
    }
    let mut by_status = std::collections::BTreeMap::new();
    for i in 0..EXAMPLES {
        let (template, method, op) = pick(&mut rng, &operations).clone();
        let path = template
            .replace(
                "{webhook_id}",
                &if rng.gen_bool(0.7) { webhook_id.clone() } else { urlencode(&random_string(&mut rng)) },
            )
            .replace("{job_id}", &if rng.gen_bool(0.7) { job_id.clone() } else { urlencode(&random_string(&mut rng)) });
        let mut query = Vec::new();
        if template.contains("account_activity") {
            for name in ["from_date", "to_date"] {
                if rng.gen_bool(0.85) {
                    query.push(format!("{name}={}", urlencode(&random_twelve(&mut rng, now))));
                }
            }
        }
        let url = if query.is_empty() { path.clone() } else { format!("{path}?{}", query.join("&")) };
        let body = op.get("requestBody").map(|_| {
            let mut b = if template == "/v1/webhooks" || method == "PATCH" {
                json!({"url": pick(&mut rng, &["http://127.0.0.1:38999/x", "https://10.0.0.1/", "ftp://x", "not a url", "http://u:p@127.0.0.1/"]).to_string()})
            } else {
                json!({"from": random_date(&mut rng, now), "to": random_date(&mut rng, now)})
            };
            match rng.gen_range(0..6) {
                0 => b["unexpected"] = json!(true),
                1 => b = json!([1, 2, 3]),
                2 => b = json!(random_string(&mut rng)),
                _ => {}
            }
            b
        });
        let key = if rng.gen_bool(0.9) { api.clone() } else { api.with_key(random_header(&mut rng)) };
        let idem = random_header(&mut rng);
        let headers: Vec<(&str, &str)> =
            if rng.gen_bool(0.3) { vec![("Idempotency-Key", idem.as_str())] } else { vec![] };
        let method = Method::from_bytes(method.as_bytes())?;
        let reply = key.raw(method.clone(), &url, body.as_ref(), &headers).await?;
        let status = reply.status;
        *by_status.entry(status).or_insert(0) += 1;
        let context =
            format!("example {i} (seed {seed}): {method} {url} {body:?} {headers:?} -> {status} {}", reply.body);
        assert!(status < 500, "{context}");
        if status == 405 {
            // Documented once for the whole API (info.description), with the error schema.
            let schema = json!({"$ref": "#/components/schemas/ErrorBody"});
            validate(&doc, &schema, &reply.body, "$").map_err(|e| anyhow::anyhow!("{e}\n{context}"))?;
            continue;
        }
        let documented = &op["responses"][status.to_string()];
        assert!(!documented.is_null(), "undocumented status: {context}");
        let response = match documented.get("$ref").and_then(Value::as_str) {
            Some(r) => r.trim_start_matches("#/").split('/').fold(&doc, |node, key| &node[key]),
            None => documented,
        };
        let schema = &response["content"]["application/json"]["schema"];
        if !schema.is_null() {
            if let Err(e) = validate(&doc, schema, &reply.body, "$") {
                panic!("body does not match the document: {e}\n{context}");
            }
        }
    }
    eprintln!("fuzz: {EXAMPLES} examples, statuses {by_status:?}");
    assert!(
        by_status.keys().any(|s| *s < 300) && by_status.keys().any(|s| *s >= 400),
        "both successes and errors were exercised"
    );
    stack.cleanup().await;
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
