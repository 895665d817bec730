//! schemathesis (PyPI), a fuzzer written by others, against the OpenAPI
//! document the deployed API serves and the API behind LocalStack's API
//! Gateway: every check it has, a bounded number of examples per operation,
//! a seed printed for replay. It must find no server error and no answer
//! that breaks the document (docs/security.md, "Independent fuzzing").

use anyhow::Context;
use replay_core::services::api::create_tenant;
use replay_integration_tests::*;

/// Examples per operation and phase: bounded, so CI time is too.
const MAX_EXAMPLES: &str = "20";

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() -> anyhow::Result<()> {
    let venv = std::env::var("SCHEMATHESIS_VENV").context("SCHEMATHESIS_VENV (infra/local/env.sh)")?;
    let binary = std::path::Path::new(&venv).join("bin/schemathesis");
    anyhow::ensure!(binary.exists(), "{} is missing: run infra/local/up.sh", binary.display());
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "schemathesis").await?;
    let api = stack.api(&tenant.api_key);
    // Something real for the ids it may reuse from the examples: a webhook and a job.
    let hook = api.create_webhook("http://127.0.0.1:38999/hook").await?.id;
    let now = now_ms();
    start(&api, &hook, now - 3 * HOUR, now - 2 * HOUR).await?;
    let base = api.base_url().to_owned();
    let seed: u64 =
        std::env::var("SCHEMATHESIS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(now as u64 % 100_000);
    eprintln!("schemathesis seed {seed} (SCHEMATHESIS_SEED={seed} to replay)");
    let config = repo_root().join("tests/schemathesis.toml");
    let out = tokio::process::Command::new(&binary)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/v1/openapi.json"), "--url", &base])
        .args(["--header", &format!("Authorization: Bearer {}", tenant.api_key)])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", &seed.to_string()])
        .args(["--phases", "examples,coverage,fuzzing", "--workers", "1", "--request-timeout", "30"])
        .args(["--no-color"])
        .output()
        .await?;
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    stack.cleanup().await;
    assert!(out.status.success(), "schemathesis failed (seed {seed}):\n{report}");
    assert!(report.contains("generated"), "schemathesis ran no test:\n{report}");
    Ok(())
}
